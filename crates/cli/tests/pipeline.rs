//! End-to-end test of the experiment pipeline through the `ghosts` binary: a
//! tiny temperature-fingerprint config goes CLI -> Parquet run store ->
//! summary -> figures -> table -> report; a run killed midway resumes
//! without redoing stored runs and ends with the same files as an
//! uninterrupted run (computed with a different thread count, which also
//! shows the results do not depend on it); `ghosts figures` rebuilds
//! everything from the store.

mod common;

use common::files;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ID: &str = "temperature-fingerprint";

/// Six runs (3 temperatures x 2 seeds), each a fraction of a second.
const TINY: &str = "\
arch: mlp
temperatures: [0.5, 2, 8]
extra_temperatures: []
seeds: [0, 1]
test_ratio: 0.2
lr: 0.01
steps: 40
batch: 256
tau_points: 16
tau_min: 1.0e-4
tau_max_floor: 2.0
tau_max_rho_factor: 4.0
onset_loss_ratio: 2.0
slope_estimator: jvp
fd_eps: 1.0e-4
bootstrap_resamples: 100
ci_level: 0.9
bootstrap_seed: 1
";

fn ghosts(args: &[&str], threads: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ghosts"));
    c.args(args).env("RAYON_NUM_THREADS", threads);
    c
}

fn run_ok(mut c: Command) -> Output {
    let o = c.output().expect("run ghosts");
    assert!(
        o.status.success(),
        "ghosts failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The files a reproduction must make identically: stored runs, summary,
/// figures, tables. (`timing.json` and the report's wall-time line differ
/// between any two runs by nature.)
fn outputs(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = files(&root.join("results"));
    all.remove(Path::new(&format!("{ID}/timing.json")));
    for sub in ["figures", "paper/tables"] {
        for (k, v) in files(&root.join(sub)) {
            all.insert(Path::new(sub).join(k), v);
        }
    }
    all
}

fn stored_runs(root: &Path) -> usize {
    std::fs::read_dir(root.join(format!("results/{ID}/runs")))
        .map(|d| {
            d.filter(|e| {
                let name = e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                name.ends_with(".parquet") && !name.starts_with('.')
            })
            .count()
        })
        .unwrap_or(0)
}

#[test]
fn tiny_config_through_store_figures_report_kill_and_resume() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("tiny.yaml");
    std::fs::write(&cfg, TINY).unwrap();
    let cfg = cfg.to_str().unwrap();

    // 1. Uninterrupted, two threads.
    let full = tempfile::tempdir().unwrap();
    let fr = full.path().to_str().unwrap();
    let o = run_ok(ghosts(&["run", ID, "--config", cfg, "--root", fr], "2"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("[{ID}] wall time")), "{err}");
    assert_eq!(stored_runs(full.path()), 6);
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
        table.contains("onset_std_raw") && table.contains("0.992"),
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
    while stored_runs(killed.path()) < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed; make TINY bigger"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "no run stored");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let survived = stored_runs(killed.path());
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
    let (a, b) = (outputs(full.path()), outputs(killed.path()));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(&b[k] == v, "{} differs after kill and resume", k.display());
    }

    // 3. `ghosts figures` rebuilds figures, tables and report from the store.
    std::fs::remove_dir_all(full.path().join("figures")).unwrap();
    std::fs::remove_dir_all(full.path().join("paper")).unwrap();
    run_ok(ghosts(&["figures", "--root", fr], "2"));
    assert_eq!(outputs(full.path()), a);
    assert!(full.path().join("paper/REPORT.md").exists());
}
