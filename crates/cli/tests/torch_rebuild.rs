//! `tools/rebuild_torch.py` rebuilds every registered digits architecture
//! from a `ghosts zoo export` alone and matches our logits and JVP slopes
//! (f64: 1e-12, f32: 1e-5 / 1e-4 normwise), at the seeded init and, for
//! the models with BatchNorm or attention, after training steps (moved
//! running statistics) and through `--checkpoint`.
//!
//! Python: `$GHOSTS_PYTHON` if set (then torch must import, or the test
//! fails), else `python3` on PATH. Without an importable torch the test
//! prints why and passes, unless `GHOSTS_REQUIRE_TORCH=1` (CI with a torch
//! venv), which makes a missing torch a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ghosts(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ghosts"))
        .args(args)
        .output()
        .expect("running ghosts")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/rebuild_torch.py")
}

/// The Python to run the script with, or why there is none.
fn python() -> Result<String, String> {
    let (py, explicit) = match std::env::var("GHOSTS_PYTHON") {
        Ok(p) if !p.is_empty() => (p, true),
        _ => ("python3".to_string(), false),
    };
    let probe = Command::new(&py)
        .args(["-c", "import torch; print(torch.__version__)"])
        .output();
    let reason = match probe {
        Ok(o) if o.status.success() => return Ok(py),
        Ok(o) => format!(
            "`{py} -c \"import torch\"` failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => format!("cannot run {py}: {e}"),
    };
    let required = std::env::var("GHOSTS_REQUIRE_TORCH").is_ok_and(|v| v == "1");
    if explicit || required {
        panic!("{reason} (GHOSTS_PYTHON / GHOSTS_REQUIRE_TORCH ask for torch)");
    }
    Err(reason)
}

fn export(args: &[&str]) {
    let o = ghosts(&[&["zoo", "export"], args].concat());
    assert!(
        o.status.success(),
        "ghosts zoo export {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn rebuild(py: &str, dir: &Path) -> String {
    let o = Command::new(py)
        .arg(script())
        .arg(dir)
        .output()
        .expect("running python");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "rebuild_torch.py {} failed ({:?}):\n{out}{}",
        dir.display(),
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn torch_rebuilds_every_digits_architecture_from_the_export_alone() {
    let py = match python() {
        Ok(p) => p,
        Err(reason) => {
            eprintln!("skipping the PyTorch rebuild check: {reason}; set GHOSTS_PYTHON to a Python with torch");
            return;
        }
    };
    let list = ghosts(&["zoo", "list"]);
    assert!(list.status.success());
    // Digits architectures: those `zoo list` shows without a 3x32x32 input.
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .skip(1)
        .filter(|l| !l.contains("3x32x32") && !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert!(names.len() >= 11, "{names:?}");
    let tmp = tempfile::tempdir().unwrap();
    let mut report = String::new();
    for name in &names {
        let dir = tmp.path().join(name);
        let d = dir.to_str().unwrap();
        export(&["--arch", name, "--seed", "4", "--samples", "16", "--out", d]);
        report += &rebuild(&py, &dir);
    }
    // Trained weights and moved running statistics, and the same through a checkpoint.
    for name in ["cnn-bn", "resnet8", "tiny-transformer-b"] {
        let dir = tmp.path().join(format!("{name}-trained"));
        let d = dir.to_str().unwrap();
        export(&[
            "--arch",
            name,
            "--seed",
            "4",
            "--samples",
            "16",
            "--train-steps",
            "5",
            "--out",
            d,
        ]);
        let out = rebuild(&py, &dir);
        assert!(out.contains("parameters trained"), "{out}");
        report += &out;
        let again = tmp.path().join(format!("{name}-checkpoint"));
        let ckpt = dir.join("params.safetensors");
        export(&[
            "--arch",
            name,
            "--seed",
            "4",
            "--samples",
            "16",
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--out",
            again.to_str().unwrap(),
        ]);
        report += &rebuild(&py, &again);
    }
    eprintln!("{report}");
}

#[test]
fn the_script_refuses_a_damaged_export_with_status_2() {
    let py = match python() {
        Ok(p) => p,
        Err(reason) => {
            eprintln!("skipping: {reason}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    export(&[
        "--arch",
        "linear",
        "--seed",
        "1",
        "--samples",
        "4",
        "--out",
        d,
    ]);
    let path = tmp.path().join("data.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let o = Command::new(&py)
        .arg(script())
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("data.safetensors") && err.contains("sha256"),
        "{err}"
    );

    // A parameter changed (and the checksum updated to match): the rebuilt
    // model no longer gives our logits, and the script says so (status 1).
    export(&[
        "--arch",
        "linear",
        "--seed",
        "1",
        "--samples",
        "4",
        "--out",
        d,
    ]);
    let params = tmp.path().join("params.safetensors");
    let mut bytes = std::fs::read(&params).unwrap();
    // The first bias: every logit of class 0 moves (a weight may multiply
    // a pixel that is 0 in every sample). safetensors: 8-byte header size,
    // JSON header, data; flip the low exponent bit of that f64.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let start = header["0.bias"]["data_offsets"][0].as_u64().unwrap() as usize;
    bytes[8 + n + start + 7] ^= 0x10;
    std::fs::write(&params, &bytes).unwrap();
    let mpath = tmp.path().join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    m["files"][0]["sha256"] = zoo::export::sha256_hex(&bytes).into();
    std::fs::write(&mpath, serde_json::to_string(&m).unwrap()).unwrap();
    let o = Command::new(&py)
        .arg(script())
        .arg(tmp.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("FAIL"), "{out}");
}
