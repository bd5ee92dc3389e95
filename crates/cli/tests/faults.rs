//! Faults a user meets (issue 18): a reader that goes away before the
//! output ends, and a stored run file that no longer reads back.

mod common;

use common::{files, run_ok, stored_runs, text, tiny_config, TINY_ID};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

fn ghosts(args: &[&str]) -> Command {
    common::ghosts(args, "2")
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

const ID: &str = TINY_ID;

/// Issue 18, input 5: a truncated run file is never trusted and never
/// fatal to a resume: `figures` names it, `run` warns, recomputes it and
/// ends with the files of an undamaged store.
#[test]
fn a_run_file_that_does_not_read_back_is_recomputed() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = &tiny_config(cfg_dir.path());
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    run_ok(ghosts(&["run", ID, "--config", cfg, "--root", r]));
    let results = root.path().join("results");
    let before = files(&results);

    let names = stored_runs(root.path(), ID);
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

/// A reader of stderr that goes away (`ghosts run x 2>&1 | head -1`)
/// neither stops nor crashes a run: the progress lines are dropped, the
/// results are written, the exit code is the run's. An error message that
/// cannot be printed keeps its exit code too.
#[test]
fn closed_stderr_neither_stops_nor_crashes_a_command() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = &tiny_config(cfg_dir.path());
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let closed = |args: &[&str]| {
        let mut child = ghosts(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        child.wait().unwrap()
    };
    let status = closed(&["run", ID, "--config", cfg, "--root", r]);
    assert_eq!(status.code(), Some(0));
    assert_eq!(stored_runs(root.path(), ID).len(), 6);
    assert!(root.path().join("paper/REPORT.md").exists());
    // A bad input still exits 2 (not 101, a panic) with nowhere to say why.
    let status = closed(&["radius", "--logits", "1,x", "--slopes", "0,1"]);
    assert_eq!(status.code(), Some(2));
}
