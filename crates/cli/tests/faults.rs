//! Faults a user meets (issue 18): a reader that goes away before the
//! output ends, and a stored run file that no longer reads back.

mod common;

use common::files;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn ghosts(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ghosts"));
    c.args(args).env("RAYON_NUM_THREADS", "2");
    c
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `args` with stdout on a pipe whose reader takes `keep` lines, then
/// closes it (as `| head -n keep` does); returns the exit status and stderr.
fn closed_early(args: &[&str], keep: usize) -> (std::process::ExitStatus, String) {
    let mut child = ghosts(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ghosts");
    let mut out = child.stdout.take().unwrap();
    // Lines seen so far, counted as they come (a JSON report is one line
    // of megabytes: recounting the bytes read would be quadratic).
    let mut lines = 0;
    let mut byte = [0u8; 1];
    while lines < keep && out.read(&mut byte).unwrap() == 1 {
        lines += usize::from(byte[0] == b'\n');
    }
    drop(out);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap(), err)
}

/// Issue 18, input 6: `ghosts radius --file many_rows.csv | head -2` and
/// every other printing command end quietly when the reader goes away.
#[test]
fn closed_stdout_ends_every_printing_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("many_rows.csv");
    // About 1.5 MB of output: far more than a pipe holds.
    let rows: String = (0..20_000)
        .map(|i| format!("{},0,-1,1,0.5,{}\n", i % 7, -3.0 - (i % 11) as f64))
        .collect();
    std::fs::write(&csv, rows).unwrap();
    let csv = csv.to_str().unwrap();
    let commands: [&[&str]; 6] = [
        &["radius", "--file", csv],
        &["radius", "--file", csv, "--json"],
        &["radius", "--logits", "2,0,-1", "--slopes", "1,0.5,-3"],
        &["list"],
        &["zoo", "list"],
        &["prune", "--root", dir.path().to_str().unwrap()],
    ];
    for args in commands {
        for keep in [0, 2] {
            let (status, err) = closed_early(args, keep);
            assert!(
                status.success() && err.is_empty(),
                "{args:?} (reader gone after {keep} lines): {status}, stderr {err:?}"
            );
        }
    }
}

/// A tiny temperature-fingerprint config: six short runs.
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

const ID: &str = "temperature-fingerprint";

fn run_ok(mut c: Command) -> Output {
    let o = c.output().expect("run ghosts");
    assert!(o.status.success(), "ghosts failed: {}", text(&o.stderr));
    o
}

/// Issue 18, input 5: a truncated run file is never trusted and never
/// fatal to a resume: `figures` names it, `run` warns, recomputes it and
/// ends with the files of an undamaged store.
#[test]
fn a_run_file_that_does_not_read_back_is_recomputed() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("tiny.yaml");
    std::fs::write(&cfg, TINY).unwrap();
    let cfg = cfg.to_str().unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    run_ok(ghosts(&["run", ID, "--config", cfg, "--root", r]));
    let results = root.path().join("results");
    let before = files(&results);

    let runs = results.join(format!("{ID}/runs"));
    let mut names: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let victim = &names[2];
    let bytes = std::fs::read(victim).unwrap();
    std::fs::write(victim, &bytes[..bytes.len() / 2]).unwrap();
    let victim_name = victim.file_name().unwrap().to_str().unwrap();

    // Rendering needs the run: a named error, not "not stored".
    let o = ghosts(&["figures", "--root", r]).output().unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("does not read back") && err.contains(victim_name),
        "{err}"
    );
    assert!(
        !err.contains("is not stored") && !err.contains("panicked"),
        "{err}"
    );

    // Resuming recomputes exactly that run, with a warning naming it.
    let o = run_ok(ghosts(&["run", ID, "--config", cfg, "--root", r]));
    let err = text(&o.stderr);
    assert!(
        err.contains("warning: stored run file") && err.contains(victim_name),
        "{err}"
    );
    assert!(err.contains("(1 runs computed, 5 stored"), "{err}");
    let mut after = files(&results);
    let mut before = before;
    for map in [&mut before, &mut after] {
        map.remove(Path::new(&format!("{ID}/timing.json")));
    }
    assert_eq!(
        before, after,
        "the recomputed store equals the undamaged one"
    );
}
