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
    // Held until the runs are done: other processes on this store (another
    // `ghosts run`, the other shards of a cluster job) keep their
    // temporary files, and a killed writer's leftovers go only when no one
    // else is writing.
    let (_session, stale) = store.open_session()?;
    if stale > 0 {
        crate::note!("[{id}] removed {stale} unfinished run file(s) of an interrupted run");
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
                    crate::note!(
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
        crate::note!(
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
            crate::note!("{line}");
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

/// `--shard i/n`: the `i`-th (1-based) of `n` disjoint parts of an
/// experiment's runs, for running one experiment as `n` processes (a
/// cluster job array, or GNU parallel on one big machine). Every shard
/// writes the same per-run files as a single process would; a later
/// `ghosts run <id>` without `--shard` finds them all stored and
/// summarises and renders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, `1..=count`.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// Parse `i/n` with `1 <= i <= n`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected a shard as i/n with 1 <= i <= n (e.g. 2/8), got {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard (1-based) of each of `costs.len()` jobs split into `count`
/// shards, balanced by expected cost: longest-processing-time first
/// (jobs by decreasing cost, ties in job order, each to the shard with the
/// least cost so far, ties to the lowest shard). A pure function of the
/// costs and `count`, so every process of a job array agrees on the split.
/// With more shards than jobs, the last shards are empty.
pub fn assign_shards(costs: &[f64], count: usize) -> Vec<usize> {
    assert!(count >= 1, "at least one shard");
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    let mut load = vec![0.0f64; count];
    let mut shard_of = vec![0; costs.len()];
    for j in order {
        let s = (0..count)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .expect("count >= 1");
        load[s] += costs[j].max(0.0);
        shard_of[j] = s + 1;
    }
    shard_of
}

/// One run of an experiment as `ghosts runs` lists it.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Store key: the file is `results/<id>/runs/<key>.parquet`.
    pub key: RunKey,
    /// Human label, e.g. `mlp plain seed 3`.
    pub label: String,
    /// Expected cost relative to the experiment's other runs (unitless; it
    /// balances shards, it is not a time).
    pub cost: f64,
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    #[test]
    fn shards_parse_and_name_bad_input() {
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { index: 2, count: 8 }));
        assert_eq!("1/1".parse::<Shard>().unwrap().to_string(), "1/1");
        for bad in ["0/4", "5/4", "2", "a/b", "1/0", "-1/3", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("i/n") && e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn every_job_lands_in_exactly_one_shard_balanced_by_cost() {
        // One long job (10) and eight short ones (1 each): LPT puts the
        // long one alone and spreads the rest.
        let mut costs = vec![1.0; 8];
        costs.insert(3, 10.0);
        let s = assign_shards(&costs, 2);
        assert_eq!(s.len(), 9);
        assert_eq!(s[3], 1);
        let load = |k: usize| -> f64 { (0..9).filter(|&j| s[j] == k).map(|j| costs[j]).sum() };
        assert_eq!((load(1), load(2)), (10.0, 8.0));
        // Equal costs: round robin in job order.
        assert_eq!(assign_shards(&[1.0; 5], 3), [1, 2, 3, 1, 2]);
        // More shards than jobs: the extra ones are empty.
        assert_eq!(assign_shards(&[1.0; 2], 4), [1, 2]);
        // A pure function of its input.
        assert_eq!(assign_shards(&costs, 3), assign_shards(&costs, 3));
        // One shard holds everything.
        assert!(assign_shards(&costs, 1).iter().all(|&k| k == 1));
    }
}
