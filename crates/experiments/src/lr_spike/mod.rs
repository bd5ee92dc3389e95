//! `lr-spike` (paper Fig 6): a held learning-rate spike under plain Adam and
//! under the ρa-controller (ρ-cap, paper Prop. 5.2).
//!
//! Protocol (spec §6.6, the author's code):
//! 1. Per (base rate η0, method, seed): MLP-ReLU 64→128→10 initialised from
//!    the seed, on the 80% training part of a stratified split with split
//!    seed = run seed; both methods of a seed share the initialisation and
//!    the batch order.
//! 2. Batches of 64: every epoch a fresh random permutation of the training
//!    part (ChaCha8, seed + 11) cut into consecutive chunks, the last one
//!    shorter.
//! 3. 200 steps of Adam (β 0.9/0.999, ε 1e-8) at lr(t) = η0, times 1000 from
//!    step 50 to the end ([`control::Schedule`] with a held spike).
//! 4. Every step, both methods: ρa along the actual Adam step p (this step's
//!    moments) by one exact eval-mode JVP on the WHOLE training part, worst
//!    sample: [`control::Controller`] with [`control::RadiusProbe::on_inputs`],
//!    the model on the zoo's fast f32 backend (`backend: fast`) or on dfdx
//!    (`backend: dfdx`; the tests check the two agree). Plain takes p; the
//!    controller takes s·p with s = min(1, ρa/‖p‖), so r = τ/ρa ≤ 1.
//! 5. Logged per step: minibatch CE and test accuracy (20% part) before the
//!    update, lr, τ, ρa, r, s. A non-finite loss (or a step the controller
//!    refuses) stops the run; the remaining steps are padded with NaN.
//! 6. Summary per (η0, method): medians over seeds of the final test
//!    accuracy, final loss, peak loss from the spike on and max τ/ρa; the
//!    number of seeds whose run stopped.

mod render;
mod summary;
#[cfg(test)]
mod tests;

pub use summary::{LrSpikeSummary, SettingSummary};

use crate::config::check::{self, Check};
use crate::runner::Job;
use crate::study::Study;
use crate::Context;
use analysis::frame::{from_frame, to_frame};
use analysis::polars::prelude::DataFrame;
use analysis::report::Section;
use analysis::runs::RunKey;
use analysis::stats::max_finite;
use analysis::table::{fmt_pct, fmt_sig};
use anyhow::Result;
use control::{Adam, AdamConfig, Controller, RadiusProbe, Schedule, Spike, StepPolicy};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use zoo::model::accuracy;
use zoo::{ArchConfig, Backend, Batch, Mode};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 1;

/// The experiment (registered in [`crate::registry`]).
pub struct LrSpike;

/// How the step is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Adam's step as proposed (`StepPolicy::Plain`).
    Plain,
    /// The ρa-controller: ρ-cap on Adam's actual step (`StepPolicy::RhoCap`).
    Controller,
}

impl Method {
    const BOTH: [Method; 2] = [Method::Plain, Method::Controller];

    fn name(self) -> &'static str {
        match self {
            Method::Plain => "plain",
            Method::Controller => "controller",
        }
    }
}

/// Settings of the experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrSpikeConfig {
    /// Registry name of the model.
    pub arch: String,
    /// Base rates η0 (one figure row each).
    pub base_rates: Vec<f64>,
    /// The spike: lr = η0·multiplier from `start` (held to the end unless a
    /// `duration` is given).
    pub spike: Spike,
    /// Seeds: initialisation, split and batch order.
    pub seeds: Vec<u64>,
    /// Test fraction of the stratified split.
    pub test_ratio: f64,
    /// Training steps.
    pub steps: usize,
    /// Batch size (the last batch of an epoch is shorter).
    pub batch: usize,
    /// The batch-order RNG is seeded with seed + this.
    pub batch_seed_offset: u64,
    /// Adam's constants.
    pub adam: AdamConfig,
    /// The controller's cap on r = τ/ρa.
    pub r_target: f64,
    /// Which implementation runs the model (training step, test logits and
    /// the exact JVP): `fast` (the zoo's f32 path) or `dfdx` (the reference).
    pub backend: Backend,
}

impl crate::config::Validate for LrSpikeConfig {
    fn validate(&self) -> Check {
        check::arch("arch", &self.arch)?;
        check::non_empty("base_rates", &self.base_rates)?;
        for &base in &self.base_rates {
            Schedule::constant(base)
                .with_spike(self.spike)
                .validate()
                .map_err(|e| match e.key.as_str() {
                    "schedule.base" => ("base_rates", e.message),
                    _ => ("spike", format!("{}: {}", e.key, e.message)),
                })?;
        }
        check::distinct_positive("base_rates", &self.base_rates)?;
        check::non_empty("seeds", &self.seeds)?;
        check::distinct("seeds", &self.seeds)?;
        check::fraction("test_ratio", self.test_ratio)?;
        check::at_least("steps", self.steps, 1)?;
        check::that(
            self.spike.start < self.steps,
            "spike",
            format!(
                "the spike starts at step {} but training has only {} steps",
                self.spike.start, self.steps
            ),
        )?;
        check::at_least("batch", self.batch, 1)?;
        let AdamConfig {
            beta1, beta2, eps, ..
        } = self.adam;
        check::that(
            (0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2) && eps > 0.0,
            "adam",
            format!(
                "expected 0 <= beta < 1 and eps > 0, got beta1 {beta1}, beta2 {beta2}, eps {eps}"
            ),
        )?;
        check::backend("backend", &self.arch, self.backend)?;
        check::positive("r_target", self.r_target)
    }
}

/// `1e-4` for 0.0001: how base rates appear in labels and paper keys.
fn rate_label(base: f64) -> String {
    format!("{base:e}")
}

/// One (base rate, method, seed) run: one row per step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpikeRun {
    /// Base rate η0.
    pub base_lr: f64,
    /// Plain or controller.
    pub method: Method,
    /// Seed.
    pub seed: u64,
    /// The step at which the run stopped (non-finite loss or a refused
    /// step); `None`: it ran to the end.
    #[serde(with = "analysis::frame::option_as_nan")]
    pub stop_step: Option<usize>,
    /// Step index t of each row.
    pub step: Vec<u64>,
    /// Scheduled lr(t).
    pub lr: Vec<f64>,
    /// Applied learning rate s·lr(t) (NaN where no step was taken).
    pub lr_eff: Vec<f64>,
    /// τ = ‖s·p‖ (NaN where no step was taken).
    pub tau: Vec<f64>,
    /// ρa along the step, whole training part, worst sample.
    pub rho_a: Vec<f64>,
    /// r = τ/ρa.
    pub r: Vec<f64>,
    /// s (NaN where no step was taken).
    pub scale: Vec<f64>,
    /// Minibatch CE before the update.
    pub loss: Vec<f64>,
    /// ‖g‖ of the minibatch gradient.
    pub grad_norm: Vec<f64>,
    /// Test accuracy before the update.
    pub test_acc: Vec<f64>,
    /// 1 if the step was applied.
    pub applied: Vec<u64>,
    /// 1 on the NaN rows after a stop.
    pub padded: Vec<u64>,
}

impl SpikeRun {
    fn push_padding(&mut self) {
        for v in [
            &mut self.lr_eff,
            &mut self.tau,
            &mut self.rho_a,
            &mut self.r,
            &mut self.scale,
            &mut self.loss,
            &mut self.grad_norm,
            &mut self.test_acc,
        ] {
            v.push(f64::NAN);
        }
        self.applied.push(0);
        self.padded.push(1);
    }

    fn last(v: &[f64]) -> f64 {
        v.last().copied().unwrap_or(f64::NAN)
    }

    /// Peak minibatch loss from step `from` on; a non-finite loss counts as
    /// +inf (the padding after a stop is not a loss).
    fn peak_loss_from(&self, from: usize) -> f64 {
        self.loss
            .iter()
            .zip(&self.padded)
            .skip(from)
            .filter(|(_, &p)| p == 0)
            .map(|(&l, _)| if l.is_finite() { l } else { f64::INFINITY })
            .reduce(f64::max)
            .unwrap_or(f64::NAN)
    }

    /// Fraction of applied steps the controller shortened (s < 1).
    fn capped_fraction(&self) -> f64 {
        let applied: Vec<f64> = self
            .scale
            .iter()
            .zip(&self.applied)
            .filter(|(_, &a)| a == 1)
            .map(|(&s, _)| s)
            .collect();
        if applied.is_empty() {
            return f64::NAN;
        }
        applied.iter().filter(|&&s| s < 1.0).count() as f64 / applied.len() as f64
    }
}

/// What one job computes.
#[derive(Debug, Clone, Copy)]
pub struct RunSpec {
    /// Base rate η0.
    pub base: f64,
    /// Plain or controller.
    pub method: Method,
    /// Seed.
    pub seed: u64,
}

/// The (base rate, method, seed) runs of a config.
fn jobs(cfg: &LrSpikeConfig) -> Vec<Job<RunSpec>> {
    let mut out = Vec::new();
    for &base in &cfg.base_rates {
        for method in Method::BOTH {
            for &seed in &cfg.seeds {
                out.push(Job {
                    key: RunKey::new(
                        SCHEMA,
                        cfg,
                        &format!("lr{}-{}-seed{seed}", rate_label(base), method.name()),
                    ),
                    label: format!("base lr {} {} seed {seed}", rate_label(base), method.name()),
                    spec: RunSpec { base, method, seed },
                });
            }
        }
    }
    out
}

fn one_run(cfg: &LrSpikeConfig, digits: &data::Digits, spec: &RunSpec) -> Result<SpikeRun> {
    let RunSpec { base, method, seed } = *spec;
    let split = data::stratified_split(&digits.labels, cfg.test_ratio, seed);
    let model = zoo::arch::find(&cfg.arch)?.build_on::<f32>(&ArchConfig::default(), cfg.backend)?;
    let train: Batch<f32> = Batch::from_digits(digits, &split.train);
    let test: Batch<f32> = Batch::from_digits(digits, &split.test);
    let mut state = model.init(seed);

    let policy = match method {
        Method::Plain => StepPolicy::Plain,
        Method::Controller => StepPolicy::RhoCap {
            r_target: cfg.r_target,
        },
    };
    let schedule = Schedule::constant(base).with_spike(cfg.spike);
    let adam = Adam::with_config(model.num_params(), cfg.adam);
    // ρa on the whole training part, worst sample, every step (plain too).
    let mut ctrl = Controller::new(adam, policy, schedule)
        .with_probe(RadiusProbe::on_inputs(train.x.clone()))
        .with_rho_logging(1)
        .with_mode(Mode::Train);

    let n = split.train.len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_add(cfg.batch_seed_offset));
    let mut order: Vec<usize> = Vec::new();
    let mut pos = 0;
    let mut run = SpikeRun {
        base_lr: base,
        method,
        seed,
        stop_step: None,
        step: (0..cfg.steps as u64).collect(),
        lr: Vec::with_capacity(cfg.steps),
        lr_eff: Vec::with_capacity(cfg.steps),
        tau: Vec::with_capacity(cfg.steps),
        rho_a: Vec::with_capacity(cfg.steps),
        r: Vec::with_capacity(cfg.steps),
        scale: Vec::with_capacity(cfg.steps),
        loss: Vec::with_capacity(cfg.steps),
        grad_norm: Vec::with_capacity(cfg.steps),
        test_acc: Vec::with_capacity(cfg.steps),
        applied: Vec::with_capacity(cfg.steps),
        padded: Vec::with_capacity(cfg.steps),
    };
    for t in 0..cfg.steps {
        run.lr.push(schedule.lr(t));
        if run.stop_step.is_some() {
            run.push_padding();
            continue;
        }
        if pos >= order.len() {
            order = (0..n).collect();
            order.shuffle(&mut rng);
            pos = 0;
        }
        let end = (pos + cfg.batch).min(n);
        let rows: Vec<usize> = order[pos..end].iter().map(|&i| split.train[i]).collect();
        pos = end;
        let batch = Batch::from_digits(digits, &rows);

        let test_acc = accuracy(&model.logits(&state, &test.x), &test.labels);
        debug_assert_eq!(ctrl.next_step(), t);
        let log = ctrl.step(&model, &mut state, &batch);
        let taken = |x: f64| if log.applied { x } else { f64::NAN };
        run.lr_eff.push(taken(log.lr_eff));
        run.tau.push(taken(log.tau));
        run.rho_a.push(log.rho_a);
        run.r.push(taken(log.r));
        run.scale.push(taken(log.scale));
        run.loss.push(log.loss);
        run.grad_norm.push(log.grad_norm);
        run.test_acc.push(test_acc);
        run.applied.push(u64::from(log.applied));
        run.padded.push(0);
        // The author stops at a non-finite loss; a refused step (non-finite
        // step or radius) ends the run the same way, never a panic.
        if !log.applied || !log.loss.is_finite() {
            run.stop_step = Some(t);
        }
    }
    Ok(run)
}

impl Study for LrSpike {
    const ID: &'static str = "lr-spike";
    const TITLE: &'static str = "Learning-rate spike: plain Adam vs the rho_a-controller (Fig 6)";
    type Config = LrSpikeConfig;
    type Spec = RunSpec;
    type Inputs = data::Digits;
    type Run = SpikeRun;
    type Summary = LrSpikeSummary;

    fn inputs(_: &LrSpikeConfig) -> Result<data::Digits> {
        Ok(data::load_default_digits()?)
    }

    fn jobs(cfg: &LrSpikeConfig) -> Vec<Job<RunSpec>> {
        jobs(cfg)
    }

    fn run_one(cfg: &LrSpikeConfig, digits: &data::Digits, spec: &RunSpec) -> Result<SpikeRun> {
        one_run(cfg, digits, spec)
    }

    fn note(run: &SpikeRun) -> String {
        match run.stop_step {
            Some(t) => format!("stopped at step {t} (loss {})", run.loss[t]),
            None => format!(
                "final test acc {}, max r {}",
                fmt_pct(SpikeRun::last(&run.test_acc), 1),
                fmt_sig(max_finite(&run.r), 3)
            ),
        }
    }

    fn to_frame(run: &SpikeRun) -> Result<DataFrame> {
        to_frame(run)
    }

    fn from_frame(_: &LrSpikeConfig, _: &RunSpec, f: &DataFrame) -> Result<SpikeRun> {
        from_frame(f)
    }

    fn summarize(cfg: &LrSpikeConfig, runs: &[SpikeRun]) -> LrSpikeSummary {
        summary::summarize(cfg, runs)
    }

    fn config(summary: &LrSpikeSummary) -> &LrSpikeConfig {
        &summary.config
    }

    fn render(ctx: &Context, summary: &LrSpikeSummary, runs: &[SpikeRun]) -> Result<Section> {
        render::render(ctx, summary, runs)
    }
}
