//! Running an experiment's independent runs: in parallel (rayon), resumable
//! (a run already in the store is skipped), with a progress bar on a
//! terminal and one plain line per run otherwise.
//!
//! Every run's result depends only on its own job (settings and seed), never
//! on which thread computes it or in what order, so the stored rows do not
//! depend on the thread count.

use crate::Context;
use analysis::polars::prelude::DataFrame;
use analysis::runs::RunKey;
use anyhow::{Context as _, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// One run to do: its key in the store, a human label and what to compute.
#[derive(Debug, Clone)]
pub struct Job<T> {
    /// Store key (hash of config, label and schema version).
    pub key: RunKey,
    /// Label for progress lines, e.g. `mlp seed 3`.
    pub label: String,
    /// The run's own settings.
    pub spec: T,
}

/// What one computed run returns: its tidy rows and a one-line note for the
/// progress log (e.g. `rho_a = 0.41, test acc 96.1%`).
pub(crate) struct Computed {
    /// The run's rows.
    pub frame: DataFrame,
    /// Short human note.
    pub note: String,
}

/// How many runs a call computed and how many it found stored.
#[derive(Debug, Default)]
pub struct RunTally {
    computed: AtomicUsize,
    stored: AtomicUsize,
}

impl RunTally {
    /// Runs computed since the last [`RunTally::reset`].
    pub fn computed(&self) -> usize {
        self.computed.load(Ordering::Relaxed)
    }
    /// Runs found in the store (skipped) since the last reset.
    pub fn stored(&self) -> usize {
        self.stored.load(Ordering::Relaxed)
    }
    /// Zero both counts.
    pub fn reset(&self) {
        self.computed.store(0, Ordering::Relaxed);
        self.stored.store(0, Ordering::Relaxed);
    }
}

/// Compute every job of experiment `id` not yet in its run store
/// ([`Context::run_store`]), in parallel (workers take jobs in list order,
/// so list the longest first), and
/// store each result atomically as soon as it is done (so an interrupted
/// call loses at most the runs in flight). `compute` must be a pure function
/// of the job.
///
/// A stored run counts only if its file reads back and `check` accepts the
/// frame (the study's `from_frame`): a truncated or otherwise unreadable
/// file is treated as absent, with a warning naming it, and computed again
/// (the new file replaces it atomically).
pub(crate) fn run_jobs<T: Sync>(
    ctx: &Context,
    id: &str,
    jobs: &[Job<T>],
    compute: impl Fn(&T) -> Result<Computed> + Sync,
    check: impl Fn(&T, &DataFrame) -> Result<()>,
) -> Result<()> {
    let store = &ctx.run_store(id);
    let stale = store.remove_stale_temporaries()?;
    if stale > 0 {
        eprintln!("[{id}] removed {stale} unfinished run file(s) of an interrupted run");
    }
    let todo: Vec<&Job<T>> = jobs
        .iter()
        .filter(|j| {
            if !store.contains(&j.key) {
                return true;
            }
            match store.read(&j.key).and_then(|f| check(&j.spec, &f)) {
                Ok(()) => false,
                Err(e) => {
                    eprintln!(
                        "[{id}] warning: stored run file {} does not read back ({e:#}); \
                         treating run {} as absent and computing it again",
                        store.path(&j.key).display(),
                        j.label
                    );
                    true
                }
            }
        })
        .collect();
    let stored = jobs.len() - todo.len();
    ctx.tally.stored.fetch_add(stored, Ordering::Relaxed);
    if stored > 0 {
        eprintln!(
            "[{id}] {stored} of {} runs already stored, skipped",
            jobs.len()
        );
    }
    if todo.is_empty() {
        return Ok(());
    }
    let bar = progress_bar(id, todo.len());
    let done = AtomicUsize::new(0);
    // A shared queue in job order, one worker per thread: each worker takes
    // the next job when it finishes one, so jobs listed longest first are
    // scheduled longest-processing-time first (par_iter would split the
    // list into fixed halves and could end on one long job).
    let next = AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let workers = rayon::current_num_threads().clamp(1, todo.len());
    let run_one = |job: &Job<T>| -> Result<()> {
        let started = Instant::now();
        let Computed { mut frame, note } =
            compute(&job.spec).with_context(|| format!("[{id}] run {}", job.label))?;
        store.write(&job.key, &mut frame)?;
        ctx.tally.computed.fetch_add(1, Ordering::Relaxed);
        let k = done.fetch_add(1, Ordering::Relaxed) + 1;
        let line = format!(
            "[{id}] {}: {note} ({:.1} s) [{k}/{}]",
            job.label,
            started.elapsed().as_secs_f64(),
            todo.len()
        );
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.set_message(job.label.clone());
            bar.inc(1);
        }
        Ok(())
    };
    (0..workers)
        .into_par_iter()
        .try_for_each(|_| -> Result<()> {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= todo.len() || failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if let Err(e) = run_one(todo[i]) {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        })?;
    bar.finish_and_clear();
    Ok(())
}

/// A progress bar on stderr when it is a terminal, hidden otherwise (the
/// caller then prints plain lines).
pub(crate) fn progress_bar(id: &str, len: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} runs, {elapsed} elapsed, eta {eta} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("[{id}]"));
    bar
}

/// Read every job's stored rows, in job order. A missing run, or one whose
/// file does not read back, is an error that names the file and says how
/// to compute the run (again).
pub(crate) fn load_runs<T>(ctx: &Context, id: &str, jobs: &[Job<T>]) -> Result<Vec<DataFrame>> {
    let store = ctx.run_store(id);
    jobs.iter()
        .map(|j| {
            if !store.contains(&j.key) {
                anyhow::bail!(
                    "run {} of {id} is not stored ({} is missing); run `ghosts run {id}`",
                    j.label,
                    store.path(&j.key).display()
                );
            }
            store.read(&j.key).with_context(|| {
                format!(
                    "run {} of {id}: its stored file does not read back; \
                     `ghosts run {id}` computes it again",
                    j.label
                )
            })
        })
        .collect()
}
