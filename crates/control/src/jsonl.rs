//! The monitor's per-step log: JSON Lines, one [`MonitorRecord`] per line.
//!
//! # Format
//!
//! A UTF-8 text file; each line is one JSON object, the step the
//! [`Monitor`] saw, in the order the steps were observed. Every key below
//! is written on every line, except `rho_top2` and `rho_exact`, which are
//! written only when the monitor measured them ([`Monitor::with_top2`],
//! [`Monitor::with_exact`]). A non-finite number (NaN, ±inf: a diverged
//! update or model) is written as `null` and read back as NaN. Readers
//! ([`serde_json`] into a [`MonitorRecord`], `experiments::monitor`,
//! `ghosts monitor plot`, or any JSON Lines reader such as
//! `pandas.read_json(path, lines=True)`) ignore keys they do not know, so a
//! tool may add its own.
//!
//! | key | JSON type | unit | meaning |
//! |---|---|---|---|
//! | `step` | integer ≥ 0 | step | the caller's step counter |
//! | `tau` | number or null | parameter distance (Euclidean, all parameters) | τ = ‖u‖, the norm of the update the optimiser proposed (before any cap) |
//! | `delta_a` | number or null | logit units per unit of parameter distance | Δa: the largest per-sample spread max_k a_k − min_k a_k of the logit slopes a = J_z u/‖u‖ over the batch (or the chosen quantile) |
//! | `rho_a` | number or null | parameter distance | ρa = π·T/Δa (paper eq. 8; T the loss temperature, 1 by default): no complex zero of the partition function, so no break of the loss's Taylor series, within this distance along u |
//! | `r` | number or null | 1 (a ratio) | r = τ/ρa, the normalised step: r < 1 is inside the guaranteed radius |
//! | `cap_factor` | number or null | 1 (a ratio) | min(1, r_target·ρa/τ): the factor the paper's cap (Prop. 5.2) would multiply the update by |
//! | `binding_sample` | integer or null | batch row | the sample whose spread sets Δa |
//! | `class_pair` | [integer, integer] or null | class indices | (k_max, k_min): the binding sample's classes with the largest and the smallest slope, a_{k_max} − a_{k_min} = Δa |
//! | `closest` | array of {`sample`: integer, `rho_a`: number or null} | batch row, parameter distance | the samples closest to binding, smallest own radius π·T/Δa(x) first |
//! | `rho_top2` | number or null; absent when not measured | parameter distance | min over the batch of the top-2 radius ρ_top2 (paper eq. 13) |
//! | `rho_exact` | number or null; absent when not measured | parameter distance | min over the batch of the certified exact radius ρ* (nearest zero of F) |
//! | `ms` | number | milliseconds | the monitor's own wall time for this step (the JVP and the radii) |
//!
//! For example (one line, wrapped here):
//!
//! ```text
//! {"step":150,"tau":97.9,"delta_a":0.84,"rho_a":3.74,"r":26.2,"cap_factor":0.0382,
//!  "binding_sample":17,"class_pair":[3,8],"closest":[{"sample":17,"rho_a":3.74}],"ms":0.9}
//! ```

use crate::monitor::{Monitor, MonitorRecord};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use zoo::{Batch, Model, ParamVec, Real, State};

/// Writes a [`MonitorRecord`] per step as one line of JSON (format: the
/// module docs, [`crate::jsonl`]). Each line is written whole with one
/// `write` and flushed before [`MonitorLog::write`] returns, so a run that
/// is killed keeps every line it completed.
///
/// ```
/// use control::{Monitor, MonitorLog, MonitorRecord};
/// use zoo::{arch, ArchConfig, Batch, ParamVec};
///
/// let model = arch::find("linear")?.build::<f64>(&ArchConfig::default());
/// let state = model.init(0);
/// let x: Vec<f64> = (0..128).map(|i| (i % 17) as f64 / 16.0).collect();
/// let batch = Batch::new(x, 64, vec![3, 7], 10);
/// let mut update = ParamVec::random_unit(model.num_params(), 1);
/// update.scale(5.0);
///
/// let mut log = MonitorLog::new(Vec::new()); // or MonitorLog::create("run.jsonl")?
/// let monitor = Monitor::new();
/// let rec = log.observe(&monitor, 0, &model, &state, &batch, &update)?;
/// let text = String::from_utf8(log.into_inner())?;
/// assert_eq!(text.lines().count(), 1);
/// let back: MonitorRecord = serde_json::from_str(text.trim_end())?;
/// assert_eq!(back, rec);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MonitorLog<W: Write = File> {
    out: W,
    lines: u64,
}

impl MonitorLog<File> {
    /// A new log at `path` (created, or emptied if it exists).
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(MonitorLog::new(File::create(path)?))
    }

    /// The log at `path`, new lines added after those it holds (created if
    /// missing): for a run resumed from a checkpoint.
    ///
    /// # Errors
    /// The file cannot be opened for appending.
    pub fn append(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(MonitorLog::new(
            OpenOptions::new().create(true).append(true).open(path)?,
        ))
    }
}

impl<W: Write> MonitorLog<W> {
    /// A log writing to `out` (a file, a `Vec<u8>`, a socket, ...).
    pub fn new(out: W) -> Self {
        MonitorLog { out, lines: 0 }
    }

    /// Appends `record` as one line and flushes.
    ///
    /// # Errors
    /// The write or the flush failed.
    pub fn write(&mut self, record: &MonitorRecord) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.out.flush()?;
        self.lines += 1;
        Ok(())
    }

    /// [`Monitor::observe`] on step `step`, then [`MonitorLog::write`] of
    /// its record; returns the record (its `cap_factor` is what a capped
    /// loop multiplies the update by).
    ///
    /// # Errors
    /// Writing the line failed (the record is lost; the log holds every
    /// line before it).
    pub fn observe<E: Real>(
        &mut self,
        monitor: &Monitor,
        step: u64,
        model: &Model<E>,
        state: &State<E>,
        batch: &Batch<E>,
        update: &ParamVec<E>,
    ) -> io::Result<MonitorRecord> {
        let record = monitor.observe(step, model, state, batch, update);
        self.write(&record)?;
        Ok(record)
    }

    /// Lines written by this log so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::NearBinding;

    fn record(step: u64, x: f64) -> MonitorRecord {
        MonitorRecord {
            step,
            tau: 2.0 * x,
            delta_a: 0.5 + x,
            rho_a: std::f64::consts::PI / (0.5 + x),
            r: 2.0 * x * (0.5 + x) / std::f64::consts::PI,
            cap_factor: 0.25,
            binding_sample: Some(3),
            class_pair: Some((7, 1)),
            closest: vec![
                NearBinding { sample: 3, rho_a: 1.5 },
                NearBinding { sample: 0, rho_a: 2.5e-7 },
            ],
            rho_top2: Some(x + 1.0),
            rho_exact: None,
            ms: 0.125,
        }
    }

    #[test]
    fn every_record_is_one_line_and_reads_back_equal() {
        let recs: Vec<MonitorRecord> = (0..4).map(|i| record(i, 0.1 * i as f64 + 1e-17)).collect();
        let mut log = MonitorLog::new(Vec::new());
        for r in &recs {
            log.write(r).unwrap();
        }
        assert_eq!(log.lines(), 4);
        let text = String::from_utf8(log.into_inner()).unwrap();
        assert!(text.ends_with('\n'));
        let back: Vec<MonitorRecord> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(back, recs);
        // Unmeasured radii are absent keys, not nulls.
        assert!(text.contains("\"rho_top2\":") && !text.contains("\"rho_exact\""));
    }

    #[test]
    fn non_finite_numbers_are_null_and_read_back_as_nan() {
        let mut rec = record(5, 1.0);
        rec.tau = f64::INFINITY;
        rec.rho_a = f64::NAN;
        rec.r = f64::NEG_INFINITY;
        rec.closest[1].rho_a = f64::NAN;
        rec.rho_top2 = Some(f64::NAN);
        rec.binding_sample = None;
        rec.class_pair = None;
        let mut log = MonitorLog::new(Vec::new());
        log.write(&rec).unwrap();
        let line = String::from_utf8(log.into_inner()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        for key in ["tau", "rho_a", "r", "rho_top2", "binding_sample", "class_pair"] {
            assert!(value[key].is_null(), "{key} in {line}");
        }
        assert!(value["closest"][1]["rho_a"].is_null());
        let back: MonitorRecord = serde_json::from_str(&line).unwrap();
        assert!(back.tau.is_nan() && back.rho_a.is_nan() && back.r.is_nan());
        assert!(back.rho_top2.unwrap().is_nan() && back.closest[1].rho_a.is_nan());
        assert_eq!((back.binding_sample, back.class_pair, back.rho_exact), (None, None, None));
        assert_eq!((back.delta_a, back.cap_factor, back.ms), (rec.delta_a, rec.cap_factor, rec.ms));
    }

    #[test]
    fn a_file_log_keeps_its_lines_and_append_continues_it() {
        let dir = std::env::temp_dir().join(format!("control-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.jsonl");
        let mut log = MonitorLog::create(&path).unwrap();
        log.write(&record(0, 1.0)).unwrap();
        // Flushed at once: readable while the writer is still open.
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        drop(log);
        let mut log = MonitorLog::append(&path).unwrap();
        log.write(&record(1, 2.0)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let steps: Vec<u64> = text
            .lines()
            .map(|l| serde_json::from_str::<MonitorRecord>(l).unwrap().step)
            .collect();
        assert_eq!(steps, [0, 1]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
