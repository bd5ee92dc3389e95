//! The results store: one Parquet file of tidy rows per run.
//!
//! A *run* is one (setting, seed) of an experiment. Its rows go to
//! `results/<id>/runs/<run-key>.parquet`, written atomically (temporary file
//! in the same directory, fsync, rename), so an interrupted reproduction
//! leaves either the whole run or nothing. The [`RunKey`] hashes the
//! experiment's config, the run's own label (e.g. `mlp-seed3`) and a
//! results-schema version: changing any of them gives a new key, so a stale
//! run is never mistaken for a current one, and re-running skips exactly the
//! runs already stored.
//!
//! Frames are [`polars`] `DataFrame`s (re-exported as [`crate::polars`]);
//! [`crate::frame`] turns a run's struct into its frame and back, with
//! errors that name the column.

use crate::store::{commit, is_temp_name, temp_file};
use anyhow::{anyhow, Context as _, Result};
use polars::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// Identity of one run: `<label>-<16 hex digits>`, the digits being the
/// first 8 bytes of SHA-256 over (schema, config as JSON, label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey(String);

impl RunKey {
    /// The key of the run `label` of an experiment with settings `config`
    /// and results-schema version `schema` (bump it whenever the rows a run
    /// writes change meaning, so old files are not reused).
    ///
    /// `label` names the run for humans and must be a plain file-name part
    /// (letters, digits, `-`, `_`, `.`); it is hashed too, so two runs with
    /// the same config differ by label alone.
    pub fn new<C: Serialize + ?Sized>(schema: u32, config: &C, label: &str) -> RunKey {
        assert!(
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "run label {label:?} must be a plain file-name part"
        );
        let config = serde_json::to_string(config).expect("a config serialises to JSON");
        let mut h = Sha256::new();
        h.update(format!("{schema}\u{1f}{config}\u{1f}{label}"));
        let hex: String = h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        RunKey(format!("{label}-{hex}"))
    }

    /// The key as text (the file stem).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RunKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A directory of runs, one Parquet file each (usually `results/<id>/runs/`).
#[derive(Debug, Clone)]
pub struct RunStore {
    dir: PathBuf,
}

impl RunStore {
    /// The store in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RunStore { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where run `key` is (or would be) stored.
    pub fn path(&self, key: &RunKey) -> PathBuf {
        self.dir.join(format!("{}.parquet", key.0))
    }

    /// True when run `key` is stored (a finished run: files appear only
    /// complete, by atomic rename).
    pub fn contains(&self, key: &RunKey) -> bool {
        self.path(key).is_file()
    }

    /// Store `frame` as run `key`, atomically. Uncompressed with statistics
    /// off, so equal frames give byte-identical files.
    pub fn write(&self, key: &RunKey, frame: &mut DataFrame) -> Result<()> {
        let path = self.path(key);
        let mut tmp = temp_file(&path)?;
        ParquetWriter::new(tmp.as_file_mut())
            .with_compression(ParquetCompression::Uncompressed)
            .with_statistics(StatisticsOptions::empty())
            .finish(frame)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("writing {}", path.display()))?;
        commit(tmp, &path)
    }

    /// Remove temporary files that a killed writer left in the store (hidden
    /// `.<name>.<random>.tmp.parquet` files, or `.<name>.<pid>.<n>.tmp.parquet`
    /// from older writers; finished runs are never temporary). Returns how
    /// many were removed. Call it before a run loop, not while another
    /// process writes to the same store.
    pub fn remove_stale_temporaries(&self) -> Result<usize> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.is_some_and(|n| is_temp_name(&n)) {
                fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Join the store as one of possibly several processes writing to it
    /// (two `ghosts run` on one results root, or the shards of a cluster
    /// job on a shared file system). The returned [`StoreSession`] holds a
    /// shared lock on `<dir>/.lock` until it is dropped. Temporary files of
    /// killed writers are removed first, but only when no other session is
    /// open: a live writer's temporary file is never taken for a stale one.
    /// Returns the session and how many temporaries were removed.
    ///
    /// Uses the operating system's advisory file locks (`flock` on Unix,
    /// `LockFileEx` on Windows) through `std::fs::File::lock_shared`.
    ///
    /// # Errors
    /// The directory or lock file cannot be created or locked.
    pub fn open_session(&self) -> Result<(StoreSession, usize)> {
        let (file, removed) =
            crate::store::join_shared(&self.dir, || self.remove_stale_temporaries())?;
        Ok((StoreSession { _file: file }, removed))
    }

    /// Read run `key`. Errors name the file; a missing run says so.
    pub fn read(&self, key: &RunKey) -> Result<DataFrame> {
        read_parquet(&self.path(key))
    }
}

/// A process's membership of a [`RunStore`] (see [`RunStore::open_session`]):
/// a shared lock, released when this is dropped.
#[derive(Debug)]
pub struct StoreSession {
    _file: File,
}

/// Read a Parquet file into a frame; errors name the file.
pub fn read_parquet(path: &Path) -> Result<DataFrame> {
    let file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| anyhow!("reading Parquet file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        df!(
            "arch" => ["mlp", "mlp", "cnn"],
            "seed" => [0u64, 0, 1],
            "r" => [0.1, 1.0, f64::INFINITY],
            "loss" => [1.0, f64::NAN, 3.0],
            "rho_a" => [0.5, 0.5, 0.5],
        )
        .unwrap()
    }

    #[test]
    fn round_trip_keeps_every_value_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::new(dir.path().join("runs"));
        let key = RunKey::new(1, &("cfg", 3), "mlp-seed0");
        assert!(!store.contains(&key));
        let mut f = frame();
        store.write(&key, &mut f).unwrap();
        assert!(store.contains(&key));
        let back = store.read(&key).unwrap();
        #[derive(serde::Deserialize)]
        struct Row {
            arch: String,
            seed: u64,
            r: f64,
            loss: f64,
            rho_a: f64,
        }
        let rows: Vec<Row> = crate::frame::from_frame(&back).unwrap();
        let arch: Vec<&str> = rows.iter().map(|x| x.arch.as_str()).collect();
        assert_eq!(arch, ["mlp", "mlp", "cnn"]);
        assert_eq!(rows.iter().map(|x| x.seed).collect::<Vec<_>>(), [0, 0, 1]);
        assert_eq!((rows[0].r, rows[1].r, rows[2].r), (0.1, 1.0, f64::INFINITY));
        assert!(rows[1].loss.is_nan());
        assert!(rows.iter().all(|x| x.rho_a == 0.5));
        // Only the finished file is left (no temporaries).
        assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 1);
        // A killed writer's temporary file is cleaned up, runs are kept.
        fs::write(
            store.dir().join(".mlp-seed1-00.parquet.99.0.tmp.parquet"),
            b"half",
        )
        .unwrap();
        assert_eq!(store.remove_stale_temporaries().unwrap(), 1);
        assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 1);
        assert!(store.contains(&key));
    }

    #[test]
    fn stale_temporaries_of_both_namings_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::new(dir.path());
        let key = RunKey::new(1, "c", "mlp-seed0");
        store.write(&key, &mut frame()).unwrap();
        // A writer killed before its commit: the temporary file the store
        // itself makes, kept (as a killed process would leave it).
        let (_, new_kind) = crate::store::temp_file(&store.path(&key))
            .unwrap()
            .keep()
            .unwrap();
        // And one named the way writers before tempfile did.
        let old_kind = store.dir().join(".mlp-seed1-00.parquet.99.0.tmp.parquet");
        fs::write(&old_kind, b"half").unwrap();
        assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 3);
        assert_eq!(store.remove_stale_temporaries().unwrap(), 2);
        assert!(!new_kind.exists() && !old_kind.exists());
        assert!(store.contains(&key));
        assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 1);
        assert_eq!(store.read(&key).unwrap().height(), 3);
    }

    #[test]
    fn a_session_keeps_another_writers_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::new(dir.path().join("runs"));
        let key = RunKey::new(1, "c", "mlp-seed0");
        // A killed writer's leftover: removed by the first session.
        let (_, stale) = crate::store::temp_file(&store.path(&key))
            .unwrap()
            .keep()
            .unwrap();
        let (first, removed) = store.open_session().unwrap();
        assert_eq!(removed, 1);
        assert!(!stale.exists());
        // The first session's writer is mid-write...
        let (_, live) = crate::store::temp_file(&store.path(&key))
            .unwrap()
            .keep()
            .unwrap();
        // ...when a second process joins: it must not remove that file.
        let (second, removed) = store.open_session().unwrap();
        assert_eq!(removed, 0);
        assert!(live.exists());
        drop((first, second));
        // Alone again (every earlier session closed): now it is stale.
        let (_third, removed) = store.open_session().unwrap();
        assert_eq!(removed, 1);
        assert!(!live.exists());
    }

    #[test]
    fn write_replaces_a_stored_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::new(dir.path());
        let (a, b) = (RunKey::new(1, "c", "a"), RunKey::new(1, "c", "b"));
        fs::write(store.path(&a), b"stale bytes, not Parquet").unwrap();
        store.write(&a, &mut frame()).unwrap();
        store.write(&b, &mut frame()).unwrap();
        assert_eq!(
            fs::read(store.path(&a)).unwrap(),
            fs::read(store.path(&b)).unwrap()
        );
        assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 2);
    }

    #[test]
    fn equal_frames_give_identical_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::new(dir.path());
        let (a, b) = (RunKey::new(1, "c", "a"), RunKey::new(1, "c", "b"));
        store.write(&a, &mut frame()).unwrap();
        store.write(&b, &mut frame()).unwrap();
        assert_eq!(
            fs::read(store.path(&a)).unwrap(),
            fs::read(store.path(&b)).unwrap()
        );
    }

    #[test]
    fn keys_change_with_schema_config_and_label() {
        let k = RunKey::new(1, &[1, 2], "mlp-seed0");
        assert!(k.as_str().starts_with("mlp-seed0-"));
        assert_eq!(k.as_str().len(), "mlp-seed0-".len() + 16);
        assert_eq!(k, RunKey::new(1, &[1, 2], "mlp-seed0"));
        assert_ne!(k, RunKey::new(2, &[1, 2], "mlp-seed0"));
        assert_ne!(k, RunKey::new(1, &[1, 3], "mlp-seed0"));
        assert_ne!(k, RunKey::new(1, &[1, 2], "mlp-seed1"));
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::new(dir.path());
        let key = RunKey::new(1, "c", "x");
        let err = format!("{:#}", store.read(&key).unwrap_err());
        assert!(err.contains(".parquet"), "{err}");
        let bad = dir.path().join("bad.parquet");
        fs::write(&bad, b"not parquet").unwrap();
        let err = format!("{:#}", read_parquet(&bad).unwrap_err());
        assert!(err.contains("bad.parquet"), "{err}");
    }
}
