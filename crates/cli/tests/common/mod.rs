//! Helpers shared by the CLI's integration tests (each test binary uses
//! some of them).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The experiment of the tiny end-to-end config below.
pub const TINY_ID: &str = "temperature-fingerprint";

/// A tiny temperature-fingerprint config: six runs (3 temperatures x 2
/// seeds), each a fraction of a second.
pub const TINY: &str = "\
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

/// [`TINY`] written to `dir/tiny.yaml`; returns its path.
pub fn tiny_config(dir: &Path) -> String {
    let path = dir.join("tiny.yaml");
    std::fs::write(&path, TINY).unwrap();
    path.to_str().unwrap().to_string()
}

/// The `ghosts` binary with `args`, on `threads` worker threads.
pub fn ghosts(args: &[&str], threads: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ghosts"));
    c.args(args).env("RAYON_NUM_THREADS", threads);
    c
}

/// Lossy UTF-8 text of a process's output.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run `c`, which must succeed; its output.
pub fn run_ok(mut c: Command) -> Output {
    let o = c.output().expect("run ghosts");
    assert!(o.status.success(), "ghosts failed: {}", text(&o.stderr));
    o
}

/// The files a reproduction of experiment `id` under `root` must make
/// identically: stored runs, summary, figures, tables. (`timing.json` and
/// the report's wall-time line differ between any two runs by nature; a
/// run store's lock file is empty.)
pub fn outputs(root: &Path, id: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = files(&root.join("results"));
    all.remove(Path::new(&format!("{id}/timing.json")));
    all.remove(Path::new(&format!("{id}/runs/.lock")));
    for sub in ["figures", "paper/tables"] {
        if root.join(sub).exists() {
            for (k, v) in files(&root.join(sub)) {
                all.insert(Path::new(sub).join(k), v);
            }
        }
    }
    all
}

/// Stored runs (finished `.parquet` files) of experiment `id` under `root`.
pub fn stored_runs(root: &Path, id: &str) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(root.join(format!("results/{id}/runs"))) else {
        return Vec::new();
    };
    let mut runs: Vec<PathBuf> = dir
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".parquet") && !name.starts_with('.')
        })
        .collect();
    runs.sort();
    runs
}

/// Assert two output maps are equal, naming the first file that differs.
pub fn assert_same_outputs(
    a: &BTreeMap<PathBuf, Vec<u8>>,
    b: &BTreeMap<PathBuf, Vec<u8>>,
    what: &str,
) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{what}: different files"
    );
    for (k, v) in a {
        if &b[k] == v {
            continue;
        }
        // Text files: show the first line that differs.
        let (x, y) = (String::from_utf8_lossy(v), String::from_utf8_lossy(&b[k]));
        let first = x
            .lines()
            .zip(y.lines())
            .find(|(p, q)| p != q)
            .map(|(p, q)| format!("\n  first: {p}\n  then:  {q}"))
            .unwrap_or_default();
        panic!("{} differs: {what}{first}", k.display());
    }
}

/// Every file under `dir`, relative path -> bytes.
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(base).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
