//! End-to-end test of the experiment pipeline through the `ghosts` binary: a
//! tiny temperature-fingerprint config goes CLI -> Parquet run store ->
//! summary -> figures -> table -> report; a run killed midway resumes
//! without redoing stored runs and ends with the same files as an
//! uninterrupted run (computed with a different thread count, which also
//! shows the results do not depend on it); `ghosts figures` rebuilds
//! everything from the store.

mod common;

use common::{assert_same_outputs, ghosts, outputs, run_ok, stored_runs, tiny_config, TINY_ID};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const ID: &str = TINY_ID;

fn stored(root: &Path) -> usize {
    stored_runs(root, ID).len()
}

#[test]
fn tiny_config_through_store_figures_report_kill_and_resume() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = &tiny_config(cfg_dir.path());

    // 1. Uninterrupted, two threads.
    let full = tempfile::tempdir().unwrap();
    let fr = full.path().to_str().unwrap();
    let o = run_ok(ghosts(&["run", ID, "--config", cfg, "--root", fr], "2"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("[{ID}] wall time")), "{err}");
    assert_eq!(stored(full.path()), 6);
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(full.path().join(format!("results/{ID}/summary.json"))).unwrap(),
    )
    .unwrap();
    for key in ["onset_std_raw", "onset_std_scaled", "spread_reduction"] {
        let v = summary[key]["value"].as_f64().unwrap();
        let (lo, hi) = (
            summary[key]["ci_lo"].as_f64().unwrap(),
            summary[key]["ci_hi"].as_f64().unwrap(),
        );
        assert!(v > 0.0 && lo <= hi, "{key}: {v} [{lo}, {hi}]");
    }
    for stem in ["fig9_temperature_fingerprint", "onset_spread"] {
        for ext in ["png", "svg"] {
            let p = full.path().join(format!("figures/{ID}/{stem}.{ext}"));
            assert!(
                std::fs::metadata(&p).unwrap().len() > 5_000,
                "{}",
                p.display()
            );
        }
    }
    let table = std::fs::read_to_string(full.path().join(format!("paper/tables/{ID}.md"))).unwrap();
    assert!(
        table.contains("onset spread in raw τ") && table.contains("0.992"),
        "{table}"
    );
    let report = std::fs::read_to_string(full.path().join("paper/REPORT.md")).unwrap();
    assert!(
        report.contains(&format!("../figures/{ID}/fig9_temperature_fingerprint.png")),
        "{report}"
    );
    assert!(report.contains("Wall time of the last run"), "{report}");

    // 2. Killed midway (one thread, so runs finish one by one), then resumed.
    let killed = tempfile::tempdir().unwrap();
    let kr = killed.path().to_str().unwrap();
    let mut child = ghosts(&["run", ID, "--config", cfg, "--root", kr], "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while stored(killed.path()) < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed; make TINY bigger"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "no run stored");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let survived = stored(killed.path());
    assert!(
        (2..6).contains(&survived),
        "killed midway: {survived} runs stored"
    );
    assert!(!killed
        .path()
        .join(format!("results/{ID}/summary.json"))
        .exists());
    let o = run_ok(ghosts(&["run", ID, "--config", cfg, "--root", kr], "1"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{survived} of 6 runs already stored, skipped")),
        "{err}"
    );
    let timing: serde_json::Value = serde_json::from_slice(
        &std::fs::read(killed.path().join(format!("results/{ID}/timing.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(timing["runs_computed"], 6 - survived);
    assert_eq!(timing["runs_stored"], survived);
    // Same files (the killed writer's temporary file, if any, is gone).
    let (a, b) = (outputs(full.path(), ID), outputs(killed.path(), ID));
    assert_same_outputs(&a, &b, "after kill and resume");

    // 3. `ghosts figures` rebuilds figures, tables and report from the store.
    std::fs::remove_dir_all(full.path().join("figures")).unwrap();
    std::fs::remove_dir_all(full.path().join("paper")).unwrap();
    run_ok(ghosts(&["figures", "--root", fr], "2"));
    assert_eq!(outputs(full.path(), ID), a);
    assert!(full.path().join("paper/REPORT.md").exists());
}
