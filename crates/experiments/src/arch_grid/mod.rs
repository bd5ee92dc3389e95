//! `arch-grid` (paper Fig 10, Table 1): one-step learning-rate spikes of
//! 10× to 10000× on three architectures, under plain Adam, gradient
//! clipping and the ρa-controller.
//!
//! Protocol (spec §6.7, the author's code unless the config says otherwise):
//! 1. Data: test = the first 359 rows of the digits file, train = the other
//!    1438 (no shuffling); every step uses the whole training split.
//! 2. Per (architecture, method, seed): the model initialised from the seed
//!    (every method starts from the same θ), Adam (β 0.9/0.999, ε 1e-8) at
//!    lr 0.015 for 200 steps, lr × M at step 50 only (`spike_duration: 1`;
//!    leave it out to hold the spike), M ∈ {10, 100, 1000, 10000}.
//! 3. Methods ([`control::StepPolicy`]): plain Adam; clipping ‖g‖ ≤ 1
//!    (C6); the ρa-controller as the paper defines it (ρ-cap on Adam's actual
//!    step, Prop. 5.2, C3: `rho-cap`); and the author's code's variant (caps
//!    lr·‖g‖ against ρa along −g/‖g‖, C5: `grad-norm-cap`). ρa by one exact
//!    eval-mode JVP on the training split, worst sample.
//! 4. Logged per step: full-batch training CE before the step, test accuracy
//!    after it, lr, τ, ρa, r, s, ‖g‖. BatchNorm: the author never switches
//!    to eval mode, so the test forward normalises the test set with its own
//!    statistics and moves the running statistics (`bn_test_mode: train`);
//!    `eval` is the clean alternative.
//! 5. The steps before the spike do not depend on M, so each (architecture,
//!    method, seed) runs them once and continues from a copy for every M
//!    (`share_prefix`; the tests check this is bit-identical to separate runs).
//! 6. A non-finite loss stops a run (the step is refused, the rest padded
//!    with NaN); a seed is divergent if it stopped or its final loss is
//!    above 10. Table 1: median final test accuracy at the largest spike per
//!    architecture and method, with the number of divergent seeds.

mod record;
mod render;
mod summary;
#[cfg(test)]
mod tests;

pub use record::GridRun;
pub use summary::{ArchGridSummary, CellSummary, Table1Entry};

use crate::config::check::{self, Check};
use crate::runner::Job;
use crate::study::Study;
use crate::Context;
use analysis::frame::{from_frame, to_frame};
use analysis::polars::prelude::DataFrame;
use analysis::report::Section;
use analysis::runs::RunKey;
use analysis::table::fmt_pct;
use anyhow::Result;
use control::{Adam, AdamConfig, Controller, RadiusProbe, Schedule, Spike, StepPolicy};
use serde::{Deserialize, Serialize};
use zoo::model::accuracy;
use zoo::{ArchConfig, Backend, Batch, Mode};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 1;

/// The experiment (registered in [`crate::registry`]).
pub struct ArchGrid;
/// How each step is taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Adam's step as proposed (the default only fills a run read back from
    /// its frame before the job's method is set).
    #[default]
    Plain,
    /// Adam on the gradient clipped to global norm ≤ `clip_max_norm` (C6).
    Clip,
    /// The paper's ρa-controller: ρ-cap on Adam's actual step (Prop. 5.2, C3).
    RhoCap,
    /// The author's arch-grid code: lr·‖g‖ capped at ρa along −g/‖g‖ (C5).
    GradNormCap,
}

impl Method {
    /// Short name used in labels, keys and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Method::Plain => "plain",
            Method::Clip => "clip",
            Method::RhoCap => "rho-cap",
            Method::GradNormCap => "grad-norm-cap",
        }
    }
}

/// How the test set is evaluated for BatchNorm models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BnTestMode {
    /// The author's code: a train-mode forward (the test set's own batch
    /// statistics; the running statistics move with test data).
    Train,
    /// Eval mode (running statistics, nothing moves).
    Eval,
}

/// Settings of the experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchGridConfig {
    /// Registry names of the architectures (one figure row each).
    pub archs: Vec<String>,
    /// Spike multipliers M (one figure column each); Table 1 uses the largest.
    pub spikes: Vec<f64>,
    /// Methods run on every (architecture, spike).
    pub methods: Vec<Method>,
    /// Seeds (initialisation).
    pub seeds: Vec<u64>,
    /// Test rows: the first `test_rows` rows of the digits file.
    pub test_rows: usize,
    /// Training steps.
    pub steps: usize,
    /// Adam's base learning rate.
    pub base_lr: f64,
    /// First spiked step.
    pub spike_start: usize,
    /// Spiked steps (the author's code: 1); leave out to hold the spike.
    #[serde(default)]
    pub spike_duration: Option<usize>,
    /// Adam's constants.
    pub adam: AdamConfig,
    /// Clipping threshold on ‖g‖ (C6).
    pub clip_max_norm: f64,
    /// The ρ-cap's target r (paper: 1).
    pub r_target: f64,
    /// How BatchNorm models evaluate the test set.
    pub bn_test_mode: BnTestMode,
    /// Final training loss above which a seed counts as divergent.
    pub divergence_loss: f64,
    /// Run the pre-spike steps once per (architecture, method, seed).
    pub share_prefix: bool,
    /// dfdx or the zoo's fast f32 path (same layers and θ; see `zoo::fast`).
    pub backend: Backend,
}

impl crate::config::Validate for ArchGridConfig {
    fn validate(&self) -> Check {
        check::non_empty("archs", &self.archs)?;
        check::distinct("archs", &self.archs)?;
        for a in &self.archs {
            zoo::arch::find(a).map_err(|e| ("archs", e.to_string()))?;
            check::backend("backend", a, self.backend)?;
        }
        check::distinct_positive("spikes", &self.spikes)?;
        check::that(
            self.spikes.windows(2).all(|w| w[0] < w[1]),
            "spikes",
            "expected distinct multipliers in increasing order",
        )?;
        check::non_empty("methods", &self.methods)?;
        check::distinct("methods", &self.methods)?;
        check::non_empty("seeds", &self.seeds)?;
        check::distinct("seeds", &self.seeds)?;
        check::that(
            self.test_rows > 0 && self.test_rows < 1797,
            "test_rows",
            format!("expected 1..1796 rows, got {}", self.test_rows),
        )?;
        check::that(
            self.steps > 0 && self.spike_start < self.steps,
            "spike_start",
            format!(
                "the spike starts at step {} of {} steps",
                self.spike_start, self.steps
            ),
        )?;
        for &mult in &self.spikes {
            self.schedule(mult)
                .validate()
                .map_err(|e| ("spike_duration", format!("{}: {}", e.key, e.message)))?;
        }
        check::positive("clip_max_norm", self.clip_max_norm)?;
        check::positive("r_target", self.r_target)?;
        check::positive("divergence_loss", self.divergence_loss)
    }
}

impl ArchGridConfig {
    /// lr(t) for spike multiplier `mult`.
    fn schedule(&self, mult: f64) -> Schedule {
        Schedule::constant(self.base_lr).with_spike(Spike {
            multiplier: mult,
            start: self.spike_start,
            duration: self.spike_duration,
        })
    }

    fn policy(&self, method: Method) -> StepPolicy {
        match method {
            Method::Plain => StepPolicy::Plain,
            Method::Clip => StepPolicy::ClipGrad {
                max_norm: self.clip_max_norm,
            },
            Method::RhoCap => StepPolicy::RhoCap {
                r_target: self.r_target,
            },
            Method::GradNormCap => StepPolicy::GradNormCap,
        }
    }

    /// The largest spike (Table 1's column).
    pub(super) fn table_spike(&self) -> f64 {
        *self.spikes.last().expect("validated: at least one spike")
    }
}

/// `10x` for 10.0.
fn spike_label(m: f64) -> String {
    if m.fract() == 0.0 && m.abs() < 1e15 {
        format!("{}x", m as i64)
    } else {
        format!("{m}x")
    }
}

/// What one job computes: every spike level of one (arch, method, seed).
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Registry name.
    pub arch: String,
    /// Method.
    pub method: Method,
    /// Seed.
    pub seed: u64,
}

fn jobs(cfg: &ArchGridConfig) -> Vec<Job<RunSpec>> {
    let mut out = Vec::new();
    // Longest jobs first, so the runner's queue does not end on one long job
    // (only the order of work changes, never a result): CNN+BN's full-batch
    // steps cost about 10x the others', and a controller measures ρa by one
    // more forward and tangent pass per step.
    let mut archs = cfg.archs.clone();
    archs.sort_by_key(|a| if a == "cnn-bn" { 0 } else { 1 });
    let mut methods = cfg.methods.clone();
    methods.sort_by_key(|m| match m {
        Method::RhoCap | Method::GradNormCap => 0,
        Method::Plain | Method::Clip => 1,
    });
    for arch in &archs {
        for &method in &methods {
            for &seed in &cfg.seeds {
                let label = format!("{arch}-{}-seed{seed}", method.name());
                out.push(Job {
                    key: RunKey::new(SCHEMA, cfg, &label),
                    label: format!("{arch} {} seed {seed}", method.name()),
                    spec: RunSpec {
                        arch: arch.clone(),
                        method,
                        seed,
                    },
                });
            }
        }
    }
    out
}

/// The train/test split and the model of one architecture.
struct Setup {
    model: zoo::Model<f32>,
    train: Batch<f32>,
    test: Batch<f32>,
}

impl Setup {
    fn new(cfg: &ArchGridConfig, digits: &data::Digits, arch: &str) -> Result<Self> {
        let split = data::head_split(digits.len(), cfg.test_rows);
        let model = zoo::arch::find(arch)?
            .build::<f32>(&ArchConfig::default())
            .with_backend(cfg.backend)?;
        let train = Batch::from_digits(digits, &split.train);
        let test = Batch::from_digits(digits, &split.test);
        Ok(Setup { model, train, test })
    }

    /// Test accuracy at `state`; a train-mode test forward moves the
    /// running statistics (the author's quirk), an eval-mode one does not.
    fn test_accuracy(&self, state: &mut zoo::State<f32>, mode: BnTestMode) -> f64 {
        let logits = match mode {
            BnTestMode::Train => self.model.forward(state, &self.test.x, Mode::Train).0,
            BnTestMode::Eval => self.model.logits(state, &self.test.x),
        };
        accuracy(&logits, &self.test.labels)
    }
}

/// Where a trajectory is between steps: θ and buffers, the controller
/// (optimiser moments, step counter) and the log so far.
#[derive(Clone)]
struct Trajectory {
    state: zoo::State<f32>,
    ctrl: Controller<f32, Adam>,
    run: GridRun,
}

impl Trajectory {
    /// Steps up to `until` (exclusive); after a stop the log is padded.
    fn advance(&mut self, setup: &Setup, cfg: &ArchGridConfig, until: usize) {
        while self.run.lr.len() < until {
            let t = self.run.lr.len();
            if self.run.stop_step().is_some() {
                self.run.push_stopped(self.ctrl.schedule.lr(t));
                continue;
            }
            let log = self.ctrl.step(&setup.model, &mut self.state, &setup.train);
            let acc = if log.applied {
                setup.test_accuracy(&mut self.state, cfg.bn_test_mode)
            } else {
                f64::NAN
            };
            self.run.push(&log, acc);
        }
    }
}

/// Every spike level of one (architecture, method, seed).
fn one_run(cfg: &ArchGridConfig, digits: &data::Digits, spec: &RunSpec) -> Result<Vec<GridRun>> {
    let setup = Setup::new(cfg, digits, &spec.arch)?;
    let start = |mult: f64| {
        let model = &setup.model;
        let ctrl = Controller::new(
            Adam::with_config(model.num_params(), cfg.adam),
            cfg.policy(spec.method),
            cfg.schedule(mult),
        )
        .with_probe(RadiusProbe::on_current_batch())
        .with_mode(Mode::Train);
        Trajectory {
            state: model.init(spec.seed),
            ctrl,
            run: GridRun::new(&spec.arch, mult, spec.method, spec.seed, cfg.steps),
        }
    };
    if !cfg.share_prefix {
        return Ok(cfg
            .spikes
            .iter()
            .map(|&mult| {
                let mut tr = start(mult);
                tr.advance(&setup, cfg, cfg.steps);
                tr.run
            })
            .collect());
    }
    // The schedule differs between levels only from the spike on.
    let mut prefix = start(cfg.spikes[0]);
    prefix.advance(&setup, cfg, cfg.spike_start);
    Ok(cfg
        .spikes
        .iter()
        .map(|&mult| {
            let mut tr = prefix.clone();
            tr.ctrl.schedule = cfg.schedule(mult);
            tr.run.spike = mult;
            tr.advance(&setup, cfg, cfg.steps);
            tr.run
        })
        .collect())
}

impl Study for ArchGrid {
    const ID: &'static str = "arch-grid";
    const TITLE: &'static str = "Architecture grid: learning-rate spikes on Transformer, MLP+LN and CNN+BN (Fig 10, Table 1)";
    type Config = ArchGridConfig;
    type Spec = RunSpec;
    type Inputs = data::Digits;
    /// Every spike level of one (architecture, method, seed).
    type Run = Vec<GridRun>;
    type Summary = ArchGridSummary;

    fn inputs(_: &ArchGridConfig) -> Result<data::Digits> {
        Ok(data::load_default_digits()?)
    }

    fn jobs(cfg: &ArchGridConfig) -> Vec<Job<RunSpec>> {
        jobs(cfg)
    }

    /// CNN+BN's full-batch steps cost about 10x the others'; the ρa cap
    /// adds a forward and tangent pass (about half a step) to every step.
    fn cost(_: &ArchGridConfig, spec: &RunSpec) -> f64 {
        let arch = if spec.arch == "cnn-bn" { 10.0 } else { 1.0 };
        let method = if spec.method == Method::RhoCap { 1.5 } else { 1.0 };
        arch * method
    }

    fn run_one(
        cfg: &ArchGridConfig,
        digits: &data::Digits,
        spec: &RunSpec,
    ) -> Result<Vec<GridRun>> {
        one_run(cfg, digits, spec)
    }

    fn note(runs: &Vec<GridRun>) -> String {
        runs.iter()
            .map(|r| match r.stop_step() {
                Some(t) => format!("{}: stopped at step {t}", spike_label(r.spike)),
                None => format!("{}: {}", spike_label(r.spike), fmt_pct(r.final_acc(), 1)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The spike levels one after another.
    fn to_frame(runs: &Vec<GridRun>) -> Result<DataFrame> {
        to_frame(runs)
    }

    fn from_frame(cfg: &ArchGridConfig, spec: &RunSpec, f: &DataFrame) -> Result<Vec<GridRun>> {
        anyhow::ensure!(
            f.height() == cfg.steps * cfg.spikes.len(),
            "{} rows, expected {} steps at each of {} spike levels",
            f.height(),
            cfg.steps,
            cfg.spikes.len()
        );
        cfg.spikes
            .iter()
            .enumerate()
            .map(|(i, &mult)| {
                let mut run: GridRun = from_frame(&f.slice((i * cfg.steps) as i64, cfg.steps))?;
                anyhow::ensure!(
                    run.spike == mult,
                    "spike level {} where {mult} belongs",
                    run.spike
                );
                (run.arch, run.method, run.seed) = (spec.arch.clone(), spec.method, spec.seed);
                Ok(run)
            })
            .collect()
    }

    fn summarize(cfg: &ArchGridConfig, runs: &[Vec<GridRun>]) -> ArchGridSummary {
        summary::summarize(cfg, &runs.concat())
    }

    fn config(summary: &ArchGridSummary) -> &ArchGridConfig {
        &summary.config
    }

    fn render(ctx: &Context, summary: &ArchGridSummary, runs: &[Vec<GridRun>]) -> Result<Section> {
        render::render(ctx, summary, &runs.concat())
    }
}
