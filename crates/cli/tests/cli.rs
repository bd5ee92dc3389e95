//! End-to-end tests of the `ghosts` binary: the radius calculator's output
//! contract and exit codes, and the theory experiment through
//! CLI -> results -> figures -> table -> report, then re-rendering from the
//! stored results alone.

use std::path::Path;
use std::process::{Command, Output};

fn ghosts(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ghosts"))
        .args(args)
        .output()
        .expect("run ghosts")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn radius_json_has_exactly_the_documented_keys() {
    let o = ghosts(&[
        "radius", "--logits", "2,0,-1", "--slopes", "1,0.5,-3", "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(
        text.trim().lines().count(),
        1,
        "exactly one JSON object: {text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec![
        "delta_a",
        "rho_a",
        "rho_top2",
        "rho_exact",
        "ghost_re",
        "ghost_im",
    ];
    expected.sort();
    let mut got = keys.clone();
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(v["delta_a"], 4.0);
    assert!((v["rho_a"].as_f64().unwrap() - std::f64::consts::PI / 4.0).abs() < 1e-12);
    // 40-digit mpmath value of this case (tools/exact_radius_reference.py, case 2).
    assert!((v["rho_exact"].as_f64().unwrap() - 1.1278323277350029).abs() < 1e-12);
    assert!(v["ghost_im"].as_f64().unwrap() > 0.0);
}

#[test]
fn infinite_radius_is_null() {
    let o = ghosts(&[
        "radius",
        "--logits",
        "1,2",
        "--slopes",
        "-0.5,-0.5",
        "--json",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for key in ["rho_a", "rho_top2", "rho_exact", "ghost_re", "ghost_im"] {
        assert!(v[key].is_null(), "{key} should be null: {v}");
    }
}

#[test]
fn text_output_names_every_radius() {
    let o = ghosts(&["radius", "--logits", "2,0,-1", "--slopes", "1,0.5,-3"]);
    let text = stdout(&o);
    for word in ["delta_a", "rho_a", "rho_top2", "rho_exact", "ghost"] {
        assert!(text.contains(word), "{word} missing from {text}");
    }
}

fn assert_input_error(args: &[&str], needle: &str) {
    let o = ghosts(args);
    assert_eq!(o.status.code(), Some(2), "args {args:?}: {}", stderr(&o));
    assert!(
        stderr(&o).contains(needle),
        "args {args:?}: expected {needle:?} in {}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn bad_inputs_exit_2_with_named_errors() {
    assert_input_error(
        &["radius", "--logits", "1,2,3", "--slopes", "1,2"],
        "one slope per logit",
    );
    assert_input_error(
        &["radius", "--logits", "1,abc", "--slopes", "1,2"],
        "--logits: item 2",
    );
    assert_input_error(
        &["radius", "--logits", "1,2", "--slopes", "nan,2"],
        "--slopes: item 1",
    );
    assert_input_error(
        &["radius", "--logits", "1,2", "--slopes", "1,inf"],
        "not finite",
    );
    assert_input_error(
        &["radius", "--logits", "", "--slopes", ""],
        "--logits: item 1",
    );
    assert_input_error(&["radius"], "required");
    assert_input_error(
        &["reproduce", "--only", "no-such-thing"],
        "unknown experiment",
    );
}

#[test]
fn file_mode_reports_rows_and_bottleneck() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("s.csv");
    std::fs::write(
        &csv,
        "z_1,z_2,z_3,a_1,a_2,a_3\n2,0,-1,1,0.5,-3\n0,0,0,1,0,0\n1,1,1,2,2,2\n",
    )
    .unwrap();
    let o = ghosts(&["radius", "--file", csv.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["samples"].as_array().unwrap().len(), 3);
    assert_eq!(v["bottleneck"], 0); // largest spread: 4
    assert_eq!(v["set_delta_a"], 4.0);
    assert!(v["samples"][2]["rho_exact"].is_null());
    let text = stdout(&ghosts(&["radius", "--file", csv.to_str().unwrap()]));
    assert!(text.contains("bottleneck sample 0"), "{text}");

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "1,2,3,4\n1,2,x,4\n").unwrap();
    assert_input_error(
        &["radius", "--file", bad.to_str().unwrap()],
        "line 2, column 3",
    );
    std::fs::write(&bad, "1,2,3\n").unwrap();
    assert_input_error(&["radius", "--file", bad.to_str().unwrap()], "even number");
    std::fs::write(&bad, "1,2,3,4\n1,2\n").unwrap();
    assert_input_error(&["radius", "--file", bad.to_str().unwrap()], "line 2");
    std::fs::write(&bad, "").unwrap();
    assert_input_error(&["radius", "--file", bad.to_str().unwrap()], "no samples");
    assert_input_error(
        &[
            "radius",
            "--file",
            dir.path().join("missing.csv").to_str().unwrap(),
        ],
        "missing.csv",
    );
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn theory_end_to_end_and_rerender_from_store() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let o = ghosts(&["reproduce", "--quick", "--only", "theory", "--root", r]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("[theory] wall time"),
        "wall time printed: {}",
        stderr(&o)
    );

    let summary = root.path().join("results/theory/summary.json");
    let s: serde_json::Value = serde_json::from_slice(&read(&summary)).unwrap();
    assert!((s["hessian_step_over_radius_at_margin_10"].as_f64().unwrap() - 4203.0).abs() < 1.0);
    assert!(s["kl_forward_max_ratio"].as_f64().unwrap() <= 1.0);
    let table = String::from_utf8(read(&root.path().join("paper/tables/theory.md"))).unwrap();
    assert!(
        table.contains("> 4000x") && table.contains("4203"),
        "{table}"
    );
    let report = String::from_utf8(read(&root.path().join("paper/REPORT.md"))).unwrap();
    assert!(
        report.contains("../figures/theory/fig13_hessian_vs_radius.png"),
        "{report}"
    );
    for stem in [
        "fig2_taylor_divergence",
        "fig3_sigmoid_radius",
        "fig4_half_plane",
        "fig5_ghost_plane",
        "fig13_hessian_vs_radius",
        "appendix4_kl_remainder",
        "exact_radius_calibration",
    ] {
        for ext in ["png", "svg"] {
            let p = root.path().join(format!("figures/theory/{stem}.{ext}"));
            assert!(read(&p).len() > 5_000, "{} is too small", p.display());
        }
    }

    // `ghosts figures` re-renders from the store alone: results are not rewritten.
    let stored = (
        read(&summary),
        read(&root.path().join("results/theory/data.json")),
    );
    let before = std::fs::metadata(&summary).unwrap().modified().unwrap();
    std::fs::remove_dir_all(root.path().join("figures")).unwrap();
    std::fs::remove_file(root.path().join("paper/REPORT.md")).unwrap();
    let o = ghosts(&["figures", "--root", r]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(root
        .path()
        .join("figures/theory/fig2_taylor_divergence.png")
        .exists());
    assert!(root.path().join("paper/REPORT.md").exists());
    assert_eq!(
        std::fs::metadata(&summary).unwrap().modified().unwrap(),
        before
    );
    assert_eq!(
        stored,
        (
            read(&summary),
            read(&root.path().join("results/theory/data.json"))
        )
    );

    // Same config and seed: bit-identical results.
    let again = tempfile::tempdir().unwrap();
    let o = ghosts(&[
        "reproduce",
        "--quick",
        "--only",
        "theory",
        "--root",
        again.path().to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert_eq!(
        read(&summary),
        read(&again.path().join("results/theory/summary.json"))
    );
    assert_eq!(
        stored.1,
        read(&again.path().join("results/theory/data.json"))
    );
}

#[test]
fn planned_experiments_are_named_as_such() {
    // A scratch root: a mistake here must not write into the source tree.
    let root = tempfile::tempdir().unwrap();
    let o = ghosts(&[
        "reproduce",
        "--only",
        "ghost-envelope",
        "--root",
        root.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("planned but not implemented"),
        "{}",
        stderr(&o)
    );
    let list = stdout(&ghosts(&["list"]));
    assert!(list.contains("theory") && list.contains("implemented") && list.contains("overhead"));
}

/// natural-instability's CIFAR-10 configs read the user's release from
/// `--data-root`; a directory without it is bad input (exit 2) naming the
/// missing file, and nothing is computed.
#[test]
fn missing_cifar_data_is_a_named_input_error() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../configs/cifar10/natural-instability.yaml");
    let o = ghosts(&[
        "run",
        "natural-instability",
        "--config",
        config.to_str().unwrap(),
        "--data-root",
        data.path().to_str().unwrap(),
        "--root",
        root.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("data_batch_1.bin"), "{}", stderr(&o));
    assert!(!root
        .path()
        .join("results/natural-instability/summary.json")
        .exists());
}

#[test]
fn zoo_export_writes_safetensors_and_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("linear");
    let out_s = out.to_str().unwrap();
    let o = ghosts(&[
        "zoo", "export", "--arch", "linear", "--seed", "1", "--out", out_s,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("rho_a"), "{}", stdout(&o));
    for f in [
        "params.safetensors",
        "direction.safetensors",
        "data.safetensors",
        "manifest.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let m: serde_json::Value =
        serde_json::from_str(&String::from_utf8(read(&out.join("manifest.json"))).unwrap())
            .unwrap();
    assert_eq!(m["arch"], "linear");
    assert_eq!(m["seed"], 1);
    assert_eq!(m["num_params"], 650);
    assert_eq!(m["data"]["samples"], 32);
    assert!(m["rho_a"].as_f64().unwrap() > 0.0);
    assert_eq!(m["tensors"][0]["name"], "0.weight");
    assert_eq!(m["tensors"][0]["shape"], serde_json::json!([64, 10]));
    assert_eq!(m["files"].as_array().unwrap().len(), 3);
    // Unknown architectures and impossible sample counts are input errors.
    assert_input_error(
        &[
            "zoo", "export", "--arch", "nope", "--seed", "1", "--out", out_s,
        ],
        "unknown architecture",
    );
    assert_input_error(
        &[
            "zoo",
            "export",
            "--arch",
            "linear",
            "--seed",
            "1",
            "--out",
            out_s,
            "--samples",
            "0",
        ],
        "--samples 0",
    );
}

fn repo_config(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../configs")
        .join(rel);
    String::from_utf8(read(&p)).unwrap()
}

#[test]
fn bad_config_is_an_input_error_naming_file_key_and_line() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let text = repo_config("quick/theory.yaml").replace("kl_cases:", "kl_casess:");
    let line = text
        .lines()
        .position(|l| l.starts_with("kl_casess:"))
        .unwrap()
        + 1;
    let bad = root.path().join("bad.yaml");
    std::fs::write(&bad, &text).unwrap();
    let b = bad.to_str().unwrap();
    let o = ghosts(&["run", "theory", "--quick", "--config", b, "--root", r]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("bad.yaml: line {line}, column 1")),
        "{err}"
    );
    assert!(err.contains("unknown field `kl_casess`"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!root.path().join("results/theory/summary.json").exists());

    // Wrong type, missing file, and --config with several experiments.
    std::fs::write(&bad, text.replace("kl_casess: 2000", "kl_cases: lots")).unwrap();
    assert_input_error(
        &["run", "theory", "--quick", "--config", b, "--root", r],
        "expected usize",
    );
    let gone = root.path().join("gone.yaml");
    assert_input_error(
        &[
            "run",
            "theory",
            "--config",
            gone.to_str().unwrap(),
            "--root",
            r,
        ],
        "gone.yaml",
    );
    assert_input_error(
        &["reproduce", "--quick", "--config", b, "--root", r],
        "exactly one",
    );
}

#[test]
fn custom_config_is_honoured_and_stored_with_the_results() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let custom = root.path().join("custom.yaml");
    let text = repo_config("quick/theory.yaml").replace("kl_cases: 2000", "kl_cases: 100");
    assert!(text.contains("kl_cases: 100"));
    std::fs::write(&custom, &text).unwrap();
    let o = ghosts(&[
        "run",
        "theory",
        "--quick",
        "--config",
        custom.to_str().unwrap(),
        "--root",
        r,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = root.path().join("results/theory/summary.json");
    let s: serde_json::Value = serde_json::from_slice(&read(&summary)).unwrap();
    assert_eq!(s["kl_cases"], 100);
    let stored = String::from_utf8(read(&root.path().join("results/theory/config.yaml"))).unwrap();
    assert!(
        stored.contains("custom.yaml") && stored.ends_with(&text),
        "{stored}"
    );
    let report = String::from_utf8(read(&root.path().join("paper/REPORT.md"))).unwrap();
    assert!(report.contains("results/theory/config.yaml"), "{report}");

    // Without --config, a scratch root runs on the repository's quick config.
    let o = ghosts(&["reproduce", "--quick", "--only", "theory", "--root", r]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_slice(&read(&summary)).unwrap();
    assert_eq!(s["kl_cases"], 2000);
    let stored = String::from_utf8(read(&root.path().join("results/theory/config.yaml"))).unwrap();
    assert!(stored.contains("configs/quick/theory.yaml"), "{stored}");
}

#[test]
fn prune_lists_then_removes_only_runs_no_config_produces_and_reruns_keep_the_timing() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let id = "temperature-fingerprint";
    let o = ghosts(&["run", id, "--quick", "--root", r]);
    assert!(o.status.success(), "{}", stderr(&o));
    let runs = root.path().join("results").join(id).join("runs");
    let stored = std::fs::read_dir(&runs).unwrap().count();
    assert!(stored > 0);

    // A re-run computes nothing: the computing run's timing stays.
    let timing = root.path().join("results").join(id).join("timing.json");
    let before = read(&timing);
    let o = ghosts(&["run", id, "--quick", "--root", r]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read(&timing),
        before,
        "a render-only run replaced timing.json"
    );

    // A run of an older config: listed, kept on a dry run, removed with --delete.
    let stale = runs.join("0123456789abcdef-old-setting.parquet");
    std::fs::write(&stale, b"not read").unwrap();
    let o = ghosts(&["prune", id, "--root", r]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "{id}: {stored} stored run(s) kept, 1 stale (would remove)"
        )) && out.contains("0123456789abcdef-old-setting.parquet")
            && out.contains("dry run"),
        "{out}"
    );
    assert!(stale.exists());
    let o = ghosts(&["prune", id, "--delete", "--root", r]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("1 stale (removed)"), "{}", stdout(&o));
    assert!(!stale.exists());
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), stored);

    // An unknown id is an input error.
    let o = ghosts(&["prune", "no-such-experiment", "--root", r]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
