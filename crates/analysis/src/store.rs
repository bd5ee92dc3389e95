//! Results IO: atomic writes and JSON files.
//!
//! Every write goes to a temporary file in the destination's directory, is
//! flushed to disk (fsync) and then renamed over the destination, so a reader
//! (or a crash) never sees a half-written result.
//!
//! JSON has no NaN or infinity. serde_json writes a non-finite `f64` as
//! `null`; [`finite_or_null`] does the same for hand-built
//! [`serde_json::Value`]s, and [`nullable_f64`] reads such a `null` back as NaN.

use anyhow::{Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary path beside `path` (same directory, hidden name, unique
/// per process and call). It keeps `path`'s extension last, so that writers
/// choosing a format from the extension (e.g. PNG) still do.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_else(|| "out".into());
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(
        ".{name}.{}.{n}.tmp.{}",
        std::process::id(),
        ext.unwrap_or_default()
    );
    path.with_file_name(tmp)
}

/// Creates the parent directory of `path` (and its ancestors) if missing.
pub(crate) fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Fsyncs the finished temporary file `tmp` and renames it to `path`; the
/// temporary file is removed if that fails.
pub(crate) fn commit(tmp: &Path, path: &Path) -> Result<()> {
    let res = File::open(tmp)
        .and_then(|f| f.sync_all())
        .and_then(|_| fs::rename(tmp, path))
        .with_context(|| format!("writing {}", path.display()));
    if res.is_err() {
        let _ = fs::remove_file(tmp);
    } else if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename itself durable; best effort (not all systems allow it).
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    res
}

/// Writes `bytes` to `path` atomically: parent directories are created, the
/// data goes to a temporary file in the same directory, is fsynced, and is
/// renamed over `path`. Errors name the file.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    create_parent(path)?;
    let tmp = temp_path(path);
    let written = File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .with_context(|| format!("writing {}", path.display()));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    commit(&tmp, path)
}

/// Serialises `value` as pretty JSON (with a final newline) and writes it
/// with [`write_atomic`]. Non-finite `f64` fields are written as `null`
/// (serde_json's rule); read them back with [`nullable_f64`] or `Option<f64>`.
pub fn write_json_atomic<T: Serialize + ?Sized>(path: impl AsRef<Path>, value: &T) -> Result<()> {
    let path = path.as_ref();
    let mut text = serde_json::to_string_pretty(value)
        .with_context(|| format!("serialising JSON for {}", path.display()))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Reads and parses the JSON file `path`; errors name the file.
pub fn read_json<T: DeserializeOwned>(path: impl AsRef<Path>) -> Result<T> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing JSON in {}", path.display()))
}

/// `x` as a JSON number, or `null` when `x` is NaN or infinite (JSON has no
/// such numbers). Use it when building [`serde_json::Value`]s by hand so that
/// a diverged run is recorded as `null` rather than failing or lying.
pub fn finite_or_null(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

/// Serde adapter for an `f64` field that may be non-finite: written as a
/// number or `null`, read back with `null` as NaN.
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Run {
///     #[serde(with = "analysis::store::nullable_f64")]
///     final_loss: f64,
/// }
/// ```
pub mod nullable_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `x`, or `null` when it is not finite.
    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_none()
        }
    }

    /// Reads a number, or `null` as NaN.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Rec {
        name: String,
        #[serde(with = "nullable_f64")]
        loss: f64,
        r: Option<f64>,
    }

    #[test]
    fn json_round_trip_with_non_finite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/rec.json");
        let rec = Rec {
            name: "x".into(),
            loss: f64::INFINITY,
            r: Some(0.5),
        };
        write_json_atomic(&path, &rec).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"loss\": null"), "{text}");
        let back: Rec = read_json(&path).unwrap();
        assert!(back.loss.is_nan());
        assert_eq!(back.r, Some(0.5));
        // Plain f64 NaN is also written as null by serde_json.
        write_json_atomic(&path, &vec![1.0, f64::NAN]).unwrap();
        let v: Vec<Option<f64>> = read_json(&path).unwrap();
        assert_eq!(v, vec![Some(1.0), None]);
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn finite_or_null_values() {
        assert_eq!(finite_or_null(1.5), serde_json::json!(1.5));
        assert!(finite_or_null(f64::NAN).is_null());
        assert!(finite_or_null(f64::NEG_INFINITY).is_null());
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let err = read_json::<Rec>(&missing).unwrap_err();
        assert!(format!("{err:#}").contains("missing.json"));
        let bad = dir.path().join("bad.json");
        write_atomic(&bad, b"{not json").unwrap();
        let err = read_json::<Rec>(&bad).unwrap_err();
        assert!(format!("{err:#}").contains("bad.json"));
    }

    #[test]
    fn overwrite_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
    }
}
