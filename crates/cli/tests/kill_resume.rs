//! Issue 18, faults: `ghosts reproduce --quick` killed (SIGKILL) at ten
//! random moments and resumed each time ends with the same results,
//! figures, tables and report as an uninterrupted run, byte for byte
//! (timings excepted). The uninterrupted run uses two threads, the killed
//! one a single thread, so the test also shows that every experiment's
//! quick results do not depend on the thread count.
//!
//! `overhead` is left out of the comparison: its results are wall-clock
//! timings, different in any two runs by nature.

mod common;

use common::{files, ghosts, run_ok, text};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Experiments whose results are timings, not computed numbers.
const TIMED: &[&str] = &["overhead"];

/// Experiments whose stored runs carry a measured time beside the computed
/// numbers (ghost-envelope: the exact-zero solver's wall time, reported in
/// one note): their figures, tables and report section are compared, their
/// run files and that note are not (the experiment's own determinism test
/// compares every other field of its runs bit for bit).
const PARTLY_TIMED: &[(&str, &str)] = &[("ghost-envelope", "Cost of the exact-zero solver")];

/// A small seeded generator (splitmix64): the kill moments are the same in
/// every run of the test.
struct SplitMix(u64);

impl SplitMix {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Every file a quick reproduction makes that must not depend on how it
/// was run: results (without timing.json and the run stores' lock files),
/// figures, tables, and the report without its wall-time lines and the
/// timed experiments' sections and summary rows.
fn reproducible_outputs(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = BTreeMap::new();
    for sub in ["results", "figures", "paper/tables"] {
        for (k, v) in files(&root.join(sub)) {
            let name = k.to_string_lossy().into_owned();
            let timed = TIMED.iter().any(|id| name.starts_with(id))
                || (sub == "results" && PARTLY_TIMED.iter().any(|(id, _)| name.starts_with(id)));
            if timed || name.ends_with("timing.json") || name.ends_with(".lock") {
                continue;
            }
            all.insert(Path::new(sub).join(k), v);
        }
    }
    let report = std::fs::read_to_string(root.join("paper/REPORT.md")).unwrap();
    let mut kept = Vec::new();
    let mut in_timed = false;
    for line in report.lines() {
        if line.starts_with("## ") {
            in_timed = TIMED.iter().any(|id| line.ends_with(&format!("(`{id}`)")));
        }
        // The summary table's row of a timed experiment quotes its timings.
        let timed_row = TIMED.iter().any(|id| line.starts_with(&format!("| [{id}]")));
        let measured = PARTLY_TIMED.iter().any(|(_, note)| line.contains(note));
        if !in_timed && !timed_row && !measured && !line.contains("Wall time of the last run") {
            kept.push(line);
        }
    }
    all.insert("paper/REPORT.md".into(), kept.join("\n").into_bytes());
    all
}

#[test]
fn quick_reproduction_killed_ten_times_equals_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let (full, killed) = (dir.path().join("full"), dir.path().join("killed"));
    let reproduce = |root: &Path, threads: &str| {
        ghosts(&["reproduce", "--quick", "--root", root.to_str().unwrap()], threads)
    };

    // 1. Uninterrupted, two threads; its wall time sets the kill moments.
    let start = Instant::now();
    run_ok(reproduce(&full, "2"));
    let took = start.elapsed().as_secs_f64();

    // 2. One thread (about 1.7x as long), killed at ten moments spread at
    // random over that span, resumed each time. Each attempt resumes where
    // the last one stopped, so the moments are cut from one timeline.
    let span = 1.7 * took;
    let mut rng = SplitMix(20261202);
    let mut moments: Vec<f64> = (0..10).map(|_| rng.uniform() * span).collect();
    moments.sort_by(f64::total_cmp);
    let (mut last, mut interrupted) = (0.0, 0);
    for m in moments {
        let wait = Duration::from_secs_f64((m - last).max(0.3));
        last = m;
        let mut child = reproduce(&killed, "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < wait && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            interrupted += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        interrupted >= 5,
        "only {interrupted} of 10 attempts were still running when killed"
    );
    let o = run_ok(reproduce(&killed, "1"));
    let log = text(&o.stderr);
    assert!(log.contains("already stored, skipped"), "nothing was resumed:\n{log}");

    // 3. Byte-identical, file by file.
    let (a, b) = (reproducible_outputs(&full), reproducible_outputs(&killed));
    assert!(a.len() > 40, "too few outputs: {:?}", a.keys().collect::<Vec<_>>());
    common::assert_same_outputs(&a, &b, "after 10 kills and resumes on 1 thread");
    // No killed writer's temporary file survives the resume.
    let leftovers: Vec<_> = files(&killed)
        .into_keys()
        .filter(|k| k.to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
