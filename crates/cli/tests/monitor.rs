//! `ghosts monitor plot`: the figure files it writes, and bad logs refused
//! with the file, line and key named and exit code 2.

use std::process::{Command, Output};

fn ghosts(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ghosts"))
        .args(args)
        .output()
        .expect("run ghosts")
}

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/examples/monitor-capped.jsonl");

#[test]
fn plot_writes_png_and_svg_beside_the_log_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    std::fs::copy(FIXTURE, &log).unwrap();
    let o = ghosts(&["monitor", "plot", log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    for ext in ["png", "svg"] {
        let path = dir.path().join(format!("run.{ext}"));
        assert!(std::fs::metadata(&path).unwrap().len() > 1000, "{}", path.display());
        assert!(text.contains(&format!("wrote {}", path.display())), "{text}");
    }
    assert!(text.contains("80 steps (step 0 to 79)"), "{text}");
    let svg = std::fs::read_to_string(dir.path().join("run.svg")).unwrap();
    assert_eq!(analysis::plot::text_problems(&svg), Vec::<String>::new());
}

#[test]
fn bad_logs_are_named_errors_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(FIXTURE).unwrap();
    let first = good.lines().next().unwrap();
    let cases = [
        ("missing.jsonl", None, "missing.jsonl: expected a readable file"),
        ("empty.jsonl", Some(String::new()), "empty.jsonl: expected at least one record"),
        (
            "truncated.jsonl",
            Some(format!("{first}\n{}\n", &first[..40])),
            "truncated.jsonl, line 2: expected one JSON object per line, found invalid JSON at column",
        ),
        (
            "no-tau.jsonl",
            Some(format!("{first}\n{first}\n{}\n", first.replacen("\"tau\":", "\"tau_\":", 1))),
            "no-tau.jsonl, line 3, field `tau`: expected a number or null, found no such key",
        ),
        (
            "pair.jsonl",
            Some(first.replacen("\"class_pair\":[", "\"class_pair\":[-1,", 1)),
            "pair.jsonl, line 1, field `class_pair`: expected null or two class indices",
        ),
    ];
    for (name, text, message) in cases {
        let path = dir.path().join(name);
        if let Some(t) = text {
            std::fs::write(&path, t).unwrap();
        }
        let o = ghosts(&["monitor", "plot", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(message), "{name}: {err}");
        assert!(o.stdout.is_empty(), "{name}");
        assert!(!dir.path().join(name.replace(".jsonl", ".png")).exists(), "{name}");
    }
}
