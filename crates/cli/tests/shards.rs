//! Scale-out (issue 18): `ghosts runs` lists a config's runs and their
//! shards; `ghosts run --shard i/n` computes one part; the Slurm scripts of
//! `ghosts slurm` run every part at once on one results root, and the
//! render job then finds every run stored. The rendered results equal a
//! single process's; two processes on one root lose nothing.

mod common;

use common::{
    assert_same_outputs, ghosts, outputs, run_ok, stored_runs, text, tiny_config, TINY_ID,
};
use std::path::Path;
use std::process::Command;

const ID: &str = TINY_ID;

/// `ghosts runs` as rows of tab-separated fields (header dropped).
fn runs_table(args: &[&str]) -> Vec<Vec<String>> {
    let o = run_ok(ghosts(args, "1"));
    let out = text(&o.stdout);
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("key\tstatus\t"), "{out}");
    lines
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// The single-process reference run of the tiny config under `root`.
fn reference(cfg: &str, root: &Path) {
    run_ok(ghosts(
        &["run", ID, "--config", cfg, "--root", root.to_str().unwrap()],
        "2",
    ));
}

#[test]
fn slurm_shards_run_at_once_then_render_equal_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = &tiny_config(dir.path());
    let full = dir.path().join("full");
    reference(cfg, &full);

    let root = dir.path().join("sharded");
    std::fs::create_dir_all(&root).unwrap();
    let r = root.to_str().unwrap();
    let listed = |shards: &str| runs_table(&["runs", ID, "--config", cfg, "--root", r, "--shards", shards]);

    // Six runs of equal cost in three shards: two each, none stored yet.
    let rows = listed("3");
    assert_eq!(rows.len(), 6);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[1], "missing", "{row:?}");
        assert_eq!(row[2], ((i % 3) + 1).to_string(), "{row:?}");
    }

    // The scripts.
    let out = root.join("slurm");
    let o = run_ok(ghosts(
        &[
            "slurm", ID, "--shards", "3", "--config", cfg, "--root", r,
            "--out", out.to_str().unwrap(),
            "--ghosts", env!("CARGO_BIN_EXE_ghosts"),
            "--partition", "debug", "--time", "00:10:00",
            "--sbatch=--account=proj 1",
        ],
        "1",
    ));
    let written = text(&o.stdout);
    assert_eq!(written.lines().count(), 3, "{written}");
    let array = std::fs::read_to_string(out.join(format!("{ID}.sbatch"))).unwrap();
    for line in [
        "#SBATCH --array=1-3",
        "#SBATCH --partition=debug",
        "#SBATCH --time=00:10:00",
        "#SBATCH --account=proj 1",
        "#SBATCH --cpus-per-task=2",
        "--shard \"${SLURM_ARRAY_TASK_ID:?not a Slurm array task}/3\"",
    ] {
        assert!(array.contains(line), "missing {line:?} in\n{array}");
    }
    let submit = std::fs::read_to_string(out.join(format!("{ID}-submit.sh"))).unwrap();
    assert!(submit.contains("--dependency=afterok:"), "{submit}");
    for name in [format!("{ID}.sbatch"), format!("{ID}-render.sbatch"), format!("{ID}-submit.sh")] {
        let syntax = Command::new("bash").arg("-n").arg(out.join(&name)).output().unwrap();
        assert!(syntax.status.success(), "{name}: {}", text(&syntax.stderr));
    }

    // Every array task at once, as a cluster runs them, on one root.
    let children: Vec<_> = (1..=3)
        .map(|i| {
            Command::new("bash")
                .arg(out.join(format!("{ID}.sbatch")))
                .env("SLURM_ARRAY_TASK_ID", i.to_string())
                .env("SLURM_CPUS_PER_TASK", "1")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let o = child.wait_with_output().unwrap();
        let err = text(&o.stderr);
        assert!(o.status.success(), "task {}: {err}", i + 1);
        assert!(err.contains(&format!("shard {}/3: 2 of 6 runs", i + 1)), "{err}");
    }
    assert_eq!(stored_runs(&root, ID).len(), 6);
    assert!(!root.join(format!("results/{ID}/summary.json")).exists());
    assert!(!root.join(format!("results/{ID}/timing.json")).exists());
    assert!(listed("3").iter().all(|row| row[1] == "stored"));

    // The render job: finds every run, summarises, renders.
    let o = Command::new("bash")
        .arg(out.join(format!("{ID}-render.sbatch")))
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("6 of 6 runs already stored, skipped"), "{err}");
    let mut sharded = outputs(&root, ID);
    sharded.retain(|k, _| !k.starts_with("slurm"));
    assert_same_outputs(&outputs(&full, ID), &sharded, "shards against one process");
}

#[test]
fn each_shard_apart_then_one_run_equals_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = &tiny_config(dir.path());
    let full = dir.path().join("full");
    reference(cfg, &full);
    let root = dir.path().join("sharded");
    let r = root.to_str().unwrap();
    // Four shards of six runs: 2, 2, 1, 1; one after the other.
    let mut total = 0;
    for i in 1..=4 {
        let shard = format!("{i}/4");
        let o = run_ok(ghosts(&["run", ID, "--config", cfg, "--root", r, "--shard", &shard], "1"));
        let err = text(&o.stderr);
        let expect = if i <= 2 { 2 } else { 1 };
        assert!(err.contains(&format!("shard {shard}: {expect} of 6 runs")), "{err}");
        total += expect;
        assert_eq!(stored_runs(&root, ID).len(), total);
        // A repeated shard finds its runs stored.
        let o = run_ok(ghosts(&["run", ID, "--config", cfg, "--root", r, "--shard", &shard], "1"));
        let err = text(&o.stderr);
        assert!(err.contains(&format!("(0 runs computed, {expect} stored)")), "{err}");
    }
    run_ok(ghosts(&["run", ID, "--config", cfg, "--root", r], "2"));
    assert_same_outputs(&outputs(&full, ID), &outputs(&root, ID), "shards against one process");
    // A damaged run file is listed as unreadable, not stored.
    let victim = &stored_runs(&root, ID)[0];
    let bytes = std::fs::read(victim).unwrap();
    std::fs::write(victim, &bytes[..bytes.len() / 3]).unwrap();
    let rows = runs_table(&["runs", ID, "--config", cfg, "--root", r]);
    let statuses: Vec<&str> = rows.iter().map(|row| row[1].as_str()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "unreadable").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == "stored").count(), 5, "{statuses:?}");
}

#[test]
fn two_processes_on_one_root_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = &tiny_config(dir.path());
    let full = dir.path().join("full");
    reference(cfg, &full);
    let root = dir.path().join("shared");
    let r = root.to_str().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            ghosts(&["run", ID, "--config", cfg, "--root", r], "1")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    assert_same_outputs(&outputs(&full, ID), &outputs(&root, ID), "two processes at once");
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(root.join(format!("results/{ID}/runs")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sharding_what_cannot_be_split_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = &tiny_config(dir.path());
    let r = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["run", "theory", "--root", r, "--shard", "1/2"], "no separate runs to split"),
        (&["run", ID, "--config", cfg, "--root", r, "--shard", "0/2"], "1 <= i <= n"),
        (&["run", ID, "--config", cfg, "--root", r, "--shard", "3/2"], "1 <= i <= n"),
        (&["slurm", ID, "--shards", "7", "--config", cfg, "--root", r], "only 6 runs"),
        (&["slurm", "overhead", "--shards", "2", "--root", r], "no separate runs"),
    ];
    for (args, expect) in cases {
        let o = ghosts(args, "1").output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    // Nothing was computed or written by the refused commands.
    assert!(!dir.path().join("results").exists());
}
