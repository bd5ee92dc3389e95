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
    // A sittings file with a bad row: file, line and field named.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("sittings.tsv");
    std::fs::write(
        &bad,
        "sitting\tcpu\twork\twhat\tside\tcommit\tthreads\tseconds\tnote\n\
         d\tc\tw\tx\tours\to\t2\tfast\t\n",
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    assert_input_error(&["bench", "table", "--file", bad], &format!("{bad}: line 2: field `seconds`"));
    assert_input_error(&["bench", "table", "--file", "no/such/file.tsv"], "no/such/file.tsv");
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

/// Issue 18, input 1: a radius far beyond the old fixed search bound.
#[test]
fn radius_with_a_large_logit_gap_is_the_closed_form() {
    // sqrt(delta^2 + pi^2) / |Delta| with delta = 2e6, Delta = 1 (paper eq. 7).
    let want = 2000000.0000024674;
    let o = ghosts(&["radius", "--logits", "0,-2e6", "--slopes", "1,0", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["rho_exact"].as_f64().unwrap(), want);
    assert_eq!(v["rho_top2"].as_f64().unwrap(), want);
    // Three classes, the third far below: found and certified by the search.
    let o = ghosts(&[
        "radius",
        "--logits",
        "0,-2e6,-1.5e6",
        "--slopes",
        "1,0,0.5",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let got = v["rho_exact"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-15 * want, "{got}");
    // In a file, a row whose radius cannot be computed is named by line.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    std::fs::write(&csv, "0,-2e6,1,0\n2,0,1,0.5\n1e308,-1e308,1,0\n").unwrap();
    assert_input_error(
        &["radius", "--file", csv.to_str().unwrap()],
        "rows.csv: line 3 (sample 2): logit spread",
    );
}

/// Issue 18, input 2: row 1 is a header only by the documented rule.
#[test]
fn csv_header_is_recognised_by_rule() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("h.csv");
    let path = csv.to_str().unwrap();
    // Names (letters or `_` first): a header, and the samples start at 0.
    std::fs::write(&csv, "z1,_z2,a1,a2\n2,0,1,0.5\n").unwrap();
    let o = ghosts(&["radius", "--file", path, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["samples"].as_array().unwrap().len(), 1);
    assert_eq!(v["samples"][0]["delta_a"], 0.5);
    // NaN, -inf, a typo or a number on row 1: data, so a named error.
    for (row, column, item) in [
        ("NaN,0,1,0.5", 1, "NaN"),
        ("2,0,-inf,0.5", 3, "-inf"),
        ("2,O,1,0.5", 2, "O"),
        ("2,0.0.1,1,0.5", 2, "0.0.1"),
        ("inf,nan,Infinity,NAN", 1, "inf"),
    ] {
        std::fs::write(&csv, format!("{row}\n2,0,1,0.5\n")).unwrap();
        assert_input_error(
            &["radius", "--file", path],
            &format!("h.csv: line 1, column {column} ({item:?})"),
        );
    }
    // Row 2 with the same content is the same error, on line 2.
    std::fs::write(&csv, "2,0,1,0.5\nNaN,0,1,0.5\n").unwrap();
    assert_input_error(&["radius", "--file", path], "h.csv: line 2, column 1");
    // A header must name as many columns as the rows have values.
    std::fs::write(&csv, "z1,z2,a1\n2,0,1,0.5\n").unwrap();
    assert_input_error(
        &["radius", "--file", path],
        "header (line 1) names 3 columns",
    );
}

/// Issue 18, input 3: `--label` out of range is one error for both inputs.
#[test]
fn label_out_of_range_is_the_same_error_for_file_and_logits() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("s.csv");
    std::fs::write(&csv, "2,0,-1,1,0.5,-3\n0,0,0,1,0,0\n").unwrap();
    let want = "--label 7 is out of range: 3 classes (labels 0..2)";
    assert_input_error(
        &["radius", "--file", csv.to_str().unwrap(), "--label", "7"],
        want,
    );
    assert_input_error(
        &[
            "radius", "--logits", "2,0,-1", "--slopes", "1,0.5,-3", "--label", "7",
        ],
        want,
    );
    // In range, the file path takes it.
    let o = ghosts(&[
        "radius",
        "--file",
        csv.to_str().unwrap(),
        "--label",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // Class 2 against its competitor 0: sqrt(3^2 + pi^2) / 4 (eq. 13).
    let want = (9.0f64 + std::f64::consts::PI.powi(2)).sqrt() / 4.0;
    assert_eq!(v["samples"][0]["rho_top2"].as_f64().unwrap(), want);
}

/// Issue 18, input 4: a slope spread beyond f64 still has its radius.
#[test]
fn overflowing_spread_is_computed_in_halves() {
    let want = (std::f64::consts::PI * 0.5) / 1e308;
    let o = ghosts(&[
        "radius",
        "--logits",
        "0,0",
        "--slopes",
        "1e308,-1e308",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for key in ["rho_a", "rho_top2", "rho_exact"] {
        assert_eq!(v[key].as_f64().unwrap(), want, "{key}");
    }
    assert!(v["delta_a"].is_null(), "beyond f64: {v}");
    let o = ghosts(&["radius", "--logits", "0,0", "--slopes", "1e308,-1e308"]);
    let text = stdout(&o);
    assert!(text.contains("delta_a    2.0000000000e308"), "{text}");
    assert!(text.contains("beyond the f64 range"), "{text}");
    // In a file, the set radius is the bottleneck's.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("s.csv");
    std::fs::write(&csv, "0,0,1,0\n0,0,1e308,-1e308\n").unwrap();
    let o = ghosts(&["radius", "--file", csv.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["bottleneck"], 1);
    assert_eq!(v["set_rho_a"].as_f64().unwrap(), want);
    let o = ghosts(&["radius", "--file", csv.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("set: delta_a = 2.000000e308"),
        "{}",
        stdout(&o)
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
    // Every id `ghosts list` shows as planned is refused as such (exit 2),
    // every other one is implemented; none may be both.
    let list = stdout(&ghosts(&["list"]));
    assert!(list.contains("theory") && list.contains("implemented") && list.contains("overhead"));
    assert!(list.contains("ghost-envelope") && !list.lines().any(|l| l.starts_with("ghost-envelope ") && l.ends_with("planned")));
    for id in list
        .lines()
        .filter(|l| l.trim_end().ends_with("planned"))
        .filter_map(|l| l.split_whitespace().next())
    {
        // A scratch root: a mistake here must not write into the source tree.
        let root = tempfile::tempdir().unwrap();
        let o = ghosts(&["reproduce", "--only", id, "--root", root.path().to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{id}");
        assert!(stderr(&o).contains("planned but not implemented"), "{id}: {}", stderr(&o));
    }
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
    // Parameter sources: bad values are input errors naming the option or file.
    let base = [
        "zoo", "export", "--arch", "linear", "--seed", "1", "--out", out_s,
    ];
    assert_input_error(
        &[&base[..], &["--train-steps", "0"]].concat(),
        "--train-steps",
    );
    assert_input_error(
        &[&base[..], &["--train-steps", "2", "--checkpoint", out_s]].concat(),
        "--checkpoint",
    );
    let missing = tmp.path().join("nope.safetensors");
    assert_input_error(
        &[&base[..], &["--checkpoint", missing.to_str().unwrap()]].concat(),
        "nope.safetensors",
    );
    assert_input_error(
        &[
            "zoo",
            "export",
            "--arch",
            "resnet8-cifar",
            "--seed",
            "1",
            "--out",
            out_s,
        ],
        "CIFAR-10",
    );
    // The export's own params.safetensors is a checkpoint of the same model.
    let again = tmp.path().join("again");
    let ckpt = out.join("params.safetensors");
    let o = ghosts(
        &[
            &base[..6],
            &[
                "--out",
                again.to_str().unwrap(),
                "--checkpoint",
                ckpt.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("checkpoint"), "{}", stdout(&o));
    assert_eq!(
        read(&again.join("data.safetensors")),
        read(&out.join("data.safetensors"))
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
    let parquet_files = || {
        std::fs::read_dir(&runs)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count()
    };
    let stored = parquet_files();
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
    assert_eq!(parquet_files(), stored);

    // An unknown id is an input error.
    let o = ghosts(&["prune", "no-such-experiment", "--root", r]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
