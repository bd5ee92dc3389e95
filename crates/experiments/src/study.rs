//! [`Study`]: an experiment made of independent, stored runs, written as
//! its method only.
//!
//! Most of the paper's experiments share one skeleton: read the settings,
//! load the data once, compute many independent runs (seeds, architectures,
//! temperatures, ...) in parallel, store each run's rows, reduce the runs
//! to headline numbers (`summary.json`), and later render figures and the
//! report section from the stored runs alone. A `Study` states only what
//! differs: its settings, its jobs, one run, how a run is stored, the
//! summary and the rendering. Every `Study` is an [`Experiment`] (the
//! blanket impl below): the runner, the store, resumption, timing, pruning
//! and the report reach every experiment the same way.

use crate::config::Validate;
use crate::runner::{assign_shards, load_runs, run_jobs, Computed, Job, RunInfo};
use crate::{Context, Experiment};
use analysis::polars::prelude::DataFrame;
use analysis::report::Section;
use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// An experiment of independent stored runs (see the module docs).
///
/// The associated functions are the method, in the order they run: `inputs`
/// once, `run_one` per job (in parallel; a job whose key is stored is
/// skipped), `summarize` over every run, and `render` from the stored runs.
pub trait Study: Sync {
    /// Stable id used on the command line and in paths (`results/<ID>/`).
    const ID: &'static str;
    /// Human title, e.g. "Phase transition at r = 1 (Figs 1, 7)".
    const TITLE: &'static str;
    /// The settings, `configs/[quick/]<ID>.yaml`.
    type Config: Serialize + DeserializeOwned + Validate + Clone + Sync;
    /// One job's own settings (e.g. an architecture and a seed).
    type Spec: Sync;
    /// Data every run reads, loaded once per call (e.g. the digits split).
    type Inputs: Sync;
    /// What one job measures; stored as one frame (`runs/<key>.parquet`).
    type Run: Send;
    /// The headline numbers (`summary.json`); it holds the settings it was
    /// computed with, so rendering needs nothing else.
    type Summary: Serialize + DeserializeOwned;

    /// Apply what the run's context says about the settings beyond the
    /// config file (e.g. `--data-root`), before anything else reads them.
    /// The default changes nothing.
    fn adapt(cfg: &mut Self::Config, ctx: &Context) {
        let _ = (cfg, ctx);
    }
    /// Load what every run reads.
    fn inputs(cfg: &Self::Config) -> Result<Self::Inputs>;
    /// The jobs of a config, longest first (workers take them in order).
    fn jobs(cfg: &Self::Config) -> Vec<Job<Self::Spec>>;
    /// The expected cost of a job relative to the config's other jobs
    /// (unitless), used only to balance `--shard` parts; the default
    /// counts every job alike.
    fn cost(cfg: &Self::Config, spec: &Self::Spec) -> f64 {
        let _ = (cfg, spec);
        1.0
    }
    /// Compute one job: a pure function of the settings and the spec.
    fn run_one(cfg: &Self::Config, inputs: &Self::Inputs, spec: &Self::Spec) -> Result<Self::Run>;
    /// The progress line's note about a finished run.
    fn note(run: &Self::Run) -> String;
    /// The run as a frame (usually [`analysis::frame::to_frame`]).
    fn to_frame(run: &Self::Run) -> Result<DataFrame>;
    /// The run back from its frame (usually [`analysis::frame::from_frame`]).
    fn from_frame(cfg: &Self::Config, spec: &Self::Spec, frame: &DataFrame) -> Result<Self::Run>;
    /// Reduce every run (in job order) to the headline numbers.
    fn summarize(cfg: &Self::Config, runs: &[Self::Run]) -> Self::Summary;
    /// The settings a summary was computed with.
    fn config(summary: &Self::Summary) -> &Self::Config;
    /// Figures, table and report section from the summary and stored runs.
    fn render(ctx: &Context, summary: &Self::Summary, runs: &[Self::Run]) -> Result<Section>;
}

/// Every stored run of `S` under `cfg`, in job order.
///
/// # Errors
/// A run that is not stored (the message says how to compute it) or whose
/// frame does not read back.
pub fn stored_runs<S: Study>(ctx: &Context, cfg: &S::Config) -> Result<Vec<S::Run>> {
    let jobs = S::jobs(cfg);
    load_runs(ctx, S::ID, &jobs)?
        .iter()
        .zip(&jobs)
        .map(|(f, j)| {
            S::from_frame(cfg, &j.spec, f)
                .map_err(|e| e.context(format!("stored run {} of {}", j.label, S::ID)))
        })
        .collect()
}

impl<S: Study> Experiment for S {
    fn id(&self) -> &'static str {
        S::ID
    }

    fn title(&self) -> &'static str {
        S::TITLE
    }

    fn run(&self, ctx: &Context) -> Result<()> {
        let loaded = ctx.load_config::<S::Config>(S::ID)?;
        let mut cfg = loaded.value.clone();
        S::adapt(&mut cfg, ctx);
        let cfg = &cfg;
        let mut jobs = S::jobs(cfg);
        if let Some(shard) = ctx.shard {
            let costs: Vec<f64> = jobs.iter().map(|j| S::cost(cfg, &j.spec)).collect();
            let shard_of = assign_shards(&costs, shard.count);
            let mut k = 0;
            jobs.retain(|_| {
                k += 1;
                shard_of[k - 1] == shard.index
            });
        }
        let inputs = S::inputs(cfg)?;
        run_jobs(
            ctx,
            S::ID,
            &jobs,
            |spec| {
                let run = S::run_one(cfg, &inputs, spec)?;
                Ok(Computed {
                    frame: S::to_frame(&run)?,
                    note: S::note(&run),
                })
            },
            |spec, frame| S::from_frame(cfg, spec, frame).map(|_| ()),
        )?;
        if ctx.shard.is_some() {
            // The other shards' runs may not be stored yet: the summary is
            // made by a later `ghosts run <id>` without `--shard`.
            return Ok(());
        }
        let runs = stored_runs::<S>(ctx, cfg)?;
        ctx.finish_run(S::ID, &S::summarize(cfg, &runs), &loaded)
    }

    fn check_config(&self, path: &std::path::Path) -> Result<()> {
        crate::check_config_as::<S::Config>(path)
    }

    fn runs(&self, ctx: &Context) -> Result<Vec<RunInfo>> {
        let mut cfg = ctx.load_config::<S::Config>(S::ID)?.value;
        S::adapt(&mut cfg, ctx);
        Ok(S::jobs(&cfg)
            .into_iter()
            .map(|j| RunInfo {
                cost: S::cost(&cfg, &j.spec),
                key: j.key,
                label: j.label,
            })
            .collect())
    }

    fn render(&self, ctx: &Context) -> Result<Section> {
        let summary: S::Summary = ctx.read_summary(S::ID)?;
        let runs = stored_runs::<S>(ctx, S::config(&summary))?;
        S::render(ctx, &summary, &runs)
    }
}
