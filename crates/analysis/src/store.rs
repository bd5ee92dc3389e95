//! Results IO: atomic writes and JSON files.
//!
//! Every write goes to a temporary file in the destination's directory, is
//! flushed to disk (fsync) and then renamed over the destination, and the
//! directory is fsynced after the rename, so a reader (or a crash) never sees
//! a half-written result.
//!
//! JSON has no NaN or infinity. serde_json writes a non-finite `f64` as
//! `null`; [`finite_or_null`] does the same for hand-built
//! [`serde_json::Value`]s, and [`nullable_f64`] reads such a `null` back as NaN.

use anyhow::{Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use tempfile::NamedTempFile;

/// A new, empty temporary file beside `path`: in the same directory (created,
/// with its ancestors, if missing), under the hidden name
/// `.<file name>.<random>.tmp.<extension>`. The extension comes last so
/// that writers choosing a format from it (e.g. PNG) still do, and
/// [`is_temp_name`] recognises the name. Dropping the file removes it;
/// [`commit`] puts it in place. Errors name `path`.
pub(crate) fn temp_file(path: &Path) -> Result<NamedTempFile> {
    let dir = dir_of(path);
    fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_else(|| "out".into());
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
    let (prefix, suffix) = (
        format!(".{name}."),
        format!(".tmp.{}", ext.unwrap_or_default()),
    );
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(&suffix);
    // The permissions `File::create` gives (0o666 less the umask), not
    // tempfile's private 0o600: results are meant to be shared.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder
        .tempfile_in(dir)
        .with_context(|| format!("writing {}", path.display()))
}

/// True for the name of a temporary file of [`temp_file`]
/// (`.<name>.<random>.tmp.<ext>`) or of the writers before it
/// (`.<name>.<pid>.<n>.tmp.<ext>`): hidden, with `.tmp.` inside. A writer
/// killed before [`commit`] leaves such a file behind.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp.")
}

/// A process's membership of an output directory tree (`figures/`,
/// `paper/`): a shared lock on `<dir>/.lock`, released when dropped.
#[derive(Debug)]
pub struct OutputSession {
    _file: File,
}

/// Join the output tree under `dir` as one of possibly several writers
/// (see [`crate::runs::RunStore::open_session`], the same protocol): the
/// temporary files that killed writers left anywhere under `dir` are
/// removed first, but only when no other session is open. Returns the
/// session and how many temporaries were removed.
///
/// # Errors
/// The directory or lock file cannot be created or locked, or a leftover
/// cannot be removed.
pub fn open_output_session(dir: &Path) -> Result<(OutputSession, usize)> {
    let (file, removed) = join_shared(dir, || remove_temporaries_under(dir))?;
    Ok((OutputSession { _file: file }, removed))
}

/// The protocol behind [`open_output_session`] and
/// [`crate::runs::RunStore::open_session`]: create `dir`, open
/// `<dir>/.lock`; if no other process holds it, run `clean_up` (remove
/// killed writers' leftovers) under the exclusive lock; then hold it
/// shared. Between the unlock and the shared lock another process may
/// clean up too; this one has no temporary file yet, so that is harmless.
/// Returns the locked file and what `clean_up` returned (0 if not run).
pub(crate) fn join_shared(
    dir: &Path,
    clean_up: impl FnOnce() -> Result<usize>,
) -> Result<(File, usize)> {
    fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
    let path = dir.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    let mut removed = 0;
    if file.try_lock().is_ok() {
        removed = clean_up()?;
        file.unlock()
            .with_context(|| format!("unlocking {}", path.display()))?;
    }
    file.lock_shared()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok((file, removed))
}

/// Remove every temporary file ([`is_temp_name`]) under `dir`, recursively.
fn remove_temporaries_under(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(0);
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            removed += remove_temporaries_under(&path)?;
        } else if path
            .file_name()
            .is_some_and(|n| is_temp_name(&n.to_string_lossy()))
        {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Fsyncs the finished temporary file `tmp`, renames it over `path`, then
/// fsyncs the directory (best effort) so that the rename is durable too. On
/// failure the temporary file is removed. Errors name `path`.
pub(crate) fn commit(tmp: NamedTempFile, path: &Path) -> Result<()> {
    tmp.as_file()
        .sync_all()
        .and_then(|_| tmp.persist(path).map(drop).map_err(Into::into))
        .with_context(|| format!("writing {}", path.display()))?;
    // Best effort: not all systems allow syncing a directory.
    let _ = File::open(dir_of(path)).and_then(|d| d.sync_all());
    Ok(())
}

/// The directory `path` is in (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Writes `bytes` to `path` atomically: parent directories are created, the
/// data goes to a hidden temporary file in the same directory, which is
/// fsynced and renamed over `path`, then the directory is fsynced (best
/// effort). Errors name the file; the temporary file is removed on failure.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let mut tmp = temp_file(path)?;
    tmp.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    commit(tmp, path)
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
    fn an_output_session_removes_leftovers_only_when_alone() {
        let dir = tempfile::tempdir().unwrap();
        let figs = dir.path().join("figures");
        let (_, stale) = temp_file(&figs.join("x/fig.png")).unwrap().keep().unwrap();
        let (first, removed) = open_output_session(&figs).unwrap();
        assert_eq!(removed, 1);
        assert!(!stale.exists());
        let (_, live) = temp_file(&figs.join("x/fig.png")).unwrap().keep().unwrap();
        let (second, removed) = open_output_session(&figs).unwrap();
        assert_eq!(removed, 0);
        assert!(live.exists());
        drop((first, second));
        let (_third, removed) = open_output_session(&figs).unwrap();
        assert_eq!(removed, 1);
    }

    #[test]
    fn overwrite_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        write_atomic(&p, b"one, longer").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        // Only the file itself: no temporary is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f.txt"]);
    }

    #[test]
    fn write_errors_name_the_file_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a directory: the rename fails.
        let target = dir.path().join("taken.json");
        fs::create_dir_all(target.join("inner")).unwrap();
        let err = write_atomic(&target, b"x").unwrap_err();
        assert!(format!("{err:#}").contains("taken.json"), "{err:#}");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["taken.json"]);
    }

    #[test]
    fn temp_files_are_hidden_beside_the_target_and_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/fig.png");
        let tmp = temp_file(&target).unwrap();
        assert_eq!(tmp.path().parent(), target.parent());
        let name = tmp.path().file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(".fig.png.") && name.ends_with(".tmp.png"),
            "{name}"
        );
        assert!(is_temp_name(name));
        // The names of the writers before tempfile are still recognised.
        assert!(is_temp_name(".fig.png.1234.0.tmp.png"));
        assert!(is_temp_name(".run-0a.parquet.99.0.tmp.parquet"));
        assert!(!is_temp_name("fig.png"));
        assert!(!is_temp_name("run.tmp.parquet"));
        assert!(!is_temp_name(".hidden.parquet"));
        // Committing puts it in place; dropping an uncommitted one removes it.
        commit(tmp, &target).unwrap();
        assert!(target.is_file());
        let path = temp_file(&target).unwrap().path().to_path_buf();
        assert!(!path.exists());
        assert_eq!(fs::read_dir(target.parent().unwrap()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn written_files_have_the_permissions_of_file_create() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (ours, plain) = (dir.path().join("a"), dir.path().join("b"));
        write_atomic(&ours, b"x").unwrap();
        fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&ours), mode(&plain));
    }
}
