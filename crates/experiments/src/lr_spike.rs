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

use crate::paper_numbers::{Comparisons, PaperNumbers, Tolerance};
use crate::runner::{load_runs, run_jobs, Computed, Job};
use crate::{Context, Experiment};
use analysis::plot::{Band, Figure, HLine, Panel, Series, VLine};
use analysis::polars::prelude::{df, DataFrame};
use analysis::report::Section;
use analysis::runs::{f64_column, f64_scalar, u64_column, RunKey};
use analysis::stats::{nan_median, nan_quantiles};
use analysis::store::nullable_f64;
use analysis::table::{fmt_pct, fmt_sig, Table};
use anyhow::Result;
use control::{Adam, AdamConfig, Controller, RadiusProbe, Schedule, Spike, StepPolicy};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use zoo::model::accuracy;
use zoo::{ArchConfig, Backend, Batch, Mode};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 1;

/// Final test accuracy below which a method counts as collapsed in the
/// verdict (about half the ≈ 95% the controller ends at; the author's
/// plain runs end at 94.7%, 11.7% and 10.0%).
const COLLAPSE_ACCURACY: f64 = 0.5;

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

    fn label(self) -> &'static str {
        match self {
            Method::Plain => "plain Adam",
            Method::Controller => "rho_a-controller",
        }
    }

    /// Palette colour: vermillion (the paper's red) and blue (the paper
    /// uses gold, too close to red in our palette).
    fn color(self) -> usize {
        match self {
            Method::Plain => 1,
            Method::Controller => 0,
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
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if zoo::arch::find(&self.arch).is_err() {
            return Err((
                "arch",
                format!(
                    "unknown architecture {:?}; see `ghosts zoo list`",
                    self.arch
                ),
            ));
        }
        if self.base_rates.is_empty() {
            return Err(("base_rates", "expected at least one base rate".into()));
        }
        for &base in &self.base_rates {
            Schedule::constant(base)
                .with_spike(self.spike)
                .validate()
                .map_err(|e| match e.key.as_str() {
                    "schedule.base" => ("base_rates", e.message),
                    _ => ("spike", format!("{}: {}", e.key, e.message)),
                })?;
        }
        let mut sorted = self.base_rates.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(("base_rates", "base rates must be distinct".into()));
        }
        if self.seeds.is_empty() {
            return Err(("seeds", "expected at least one seed".into()));
        }
        if !(self.test_ratio > 0.0 && self.test_ratio < 1.0) {
            return Err((
                "test_ratio",
                format!("expected a fraction in (0, 1), got {}", self.test_ratio),
            ));
        }
        if self.steps == 0 {
            return Err(("steps", "expected at least one step".into()));
        }
        if self.spike.start >= self.steps {
            return Err((
                "spike",
                format!(
                    "the spike starts at step {} but training has only {} steps",
                    self.spike.start, self.steps
                ),
            ));
        }
        if self.batch == 0 {
            return Err(("batch", "expected a positive batch size".into()));
        }
        let AdamConfig {
            beta1, beta2, eps, ..
        } = self.adam;
        if !((0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2) && eps > 0.0) {
            return Err((
                "adam",
                format!("expected 0 <= beta < 1 and eps > 0, got beta1 {beta1}, beta2 {beta2}, eps {eps}"),
            ));
        }
        if let Err(e) = zoo::arch::find(&self.arch)
            .and_then(|a| a.build_on::<f32>(&ArchConfig::default(), self.backend))
        {
            return Err(("backend", format!("{e:#}")));
        }
        if !(self.r_target.is_finite() && self.r_target > 0.0) {
            return Err((
                "r_target",
                format!("expected a positive number, got {}", self.r_target),
            ));
        }
        Ok(())
    }
}

/// `1e-4` for 0.0001: how base rates appear in labels and paper keys.
fn rate_label(base: f64) -> String {
    format!("{base:e}")
}

/// One (base rate, method, seed) run: one row per step.
#[derive(Debug, Clone)]
pub struct SpikeRun {
    /// Base rate η0.
    pub base_lr: f64,
    /// Plain or controller.
    pub method: Method,
    /// Seed.
    pub seed: u64,
    /// The step at which the run stopped (non-finite loss or a refused
    /// step); `None`: it ran to the end.
    pub stop_step: Option<usize>,
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
    fn to_frame(&self) -> Result<DataFrame> {
        let n = self.lr.len();
        let stop = self.stop_step.map_or(f64::NAN, |s| s as f64);
        Ok(df!(
            "base_lr" => vec![self.base_lr; n],
            "method" => vec![self.method.name(); n],
            "seed" => vec![self.seed; n],
            "stop_step" => vec![stop; n],
            "step" => (0..n as u64).collect::<Vec<u64>>(),
            "lr" => &self.lr,
            "lr_eff" => &self.lr_eff,
            "tau" => &self.tau,
            "rho_a" => &self.rho_a,
            "r" => &self.r,
            "scale" => &self.scale,
            "loss" => &self.loss,
            "grad_norm" => &self.grad_norm,
            "test_acc" => &self.test_acc,
            "applied" => &self.applied,
            "padded" => &self.padded,
        )?)
    }

    fn from_frame(base_lr: f64, method: Method, seed: u64, f: &DataFrame) -> Result<Self> {
        let stop = f64_scalar(f, "stop_step")?;
        Ok(SpikeRun {
            base_lr,
            method,
            seed,
            stop_step: stop.is_finite().then_some(stop as usize),
            lr: f64_column(f, "lr")?,
            lr_eff: f64_column(f, "lr_eff")?,
            tau: f64_column(f, "tau")?,
            rho_a: f64_column(f, "rho_a")?,
            r: f64_column(f, "r")?,
            scale: f64_column(f, "scale")?,
            loss: f64_column(f, "loss")?,
            grad_norm: f64_column(f, "grad_norm")?,
            test_acc: f64_column(f, "test_acc")?,
            applied: u64_column(f, "applied")?,
            padded: u64_column(f, "padded")?,
        })
    }

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

    /// Largest finite value of `v` (NaN: none).
    fn max_finite(v: &[f64]) -> f64 {
        v.iter()
            .copied()
            .filter(|x| x.is_finite())
            .reduce(f64::max)
            .unwrap_or(f64::NAN)
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
struct RunSpec {
    base: f64,
    method: Method,
    seed: u64,
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

fn one_run(cfg: &LrSpikeConfig, digits: &data::Digits, spec: RunSpec) -> Result<SpikeRun> {
    let RunSpec { base, method, seed } = spec;
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

/// Per (base rate, method): statistics over seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingSummary {
    /// Base rate η0.
    pub base_lr: f64,
    /// Plain or controller.
    pub method: Method,
    /// Seeds run.
    pub seeds: usize,
    /// Seeds whose run stopped on a non-finite loss or a refused step.
    pub seeds_nonfinite: usize,
    /// Median over seeds of the test accuracy at the last step (before its
    /// update); stopped seeds are left out.
    #[serde(with = "nullable_f64")]
    pub final_test_acc_median: f64,
    /// 25th percentile of that.
    #[serde(with = "nullable_f64")]
    pub final_test_acc_q25: f64,
    /// 75th percentile of that.
    #[serde(with = "nullable_f64")]
    pub final_test_acc_q75: f64,
    /// Median over seeds of the minibatch loss at the last step.
    #[serde(with = "nullable_f64")]
    pub final_loss_median: f64,
    /// Median over seeds of the peak minibatch loss from the spike on
    /// (a non-finite loss counts as +inf; an infinite median is stored as
    /// null).
    #[serde(with = "nullable_f64")]
    pub peak_loss_post_spike_median: f64,
    /// Median over seeds of the largest τ.
    #[serde(with = "nullable_f64")]
    pub max_tau_median: f64,
    /// Median over seeds of max over steps of r = τ/ρa.
    #[serde(with = "nullable_f64")]
    pub max_r_median: f64,
    /// Largest r of any step of any seed.
    #[serde(with = "nullable_f64")]
    pub max_r_max: f64,
    /// Median r at the first spiked step.
    #[serde(with = "nullable_f64")]
    pub r_at_spike_median: f64,
    /// Median r at the step after it.
    #[serde(with = "nullable_f64")]
    pub r_after_spike_median: f64,
    /// Median ρa at step 0.
    #[serde(with = "nullable_f64")]
    pub rho_a_first_median: f64,
    /// Median ρa at the last step.
    #[serde(with = "nullable_f64")]
    pub rho_a_last_median: f64,
    /// Median over seeds of the share of applied steps with s < 1.
    #[serde(with = "nullable_f64")]
    pub capped_fraction_median: f64,
}

/// `results/lr-spike/summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LrSpikeSummary {
    /// Settings used.
    pub config: LrSpikeConfig,
    /// Per (base rate, method), base rates in config order, plain first.
    pub settings: Vec<SettingSummary>,
    /// Largest r of any controller step (the cap says ≤ r_target).
    #[serde(with = "nullable_f64")]
    pub controller_max_r: f64,
    /// Runs that stopped early: "label: stopped at step t".
    pub stopped_runs: Vec<String>,
}

fn summarize(cfg: &LrSpikeConfig, runs: &[SpikeRun]) -> LrSpikeSummary {
    let start = cfg.spike.start;
    let mut settings = Vec::new();
    for &base in &cfg.base_rates {
        for method in Method::BOTH {
            let mine: Vec<&SpikeRun> = runs
                .iter()
                .filter(|r| r.base_lr == base && r.method == method)
                .collect();
            let med = |f: &dyn Fn(&SpikeRun) -> f64| {
                nan_median(&mine.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            let acc: Vec<f64> = mine.iter().map(|r| SpikeRun::last(&r.test_acc)).collect();
            let q = nan_quantiles(&acc, &[0.25, 0.5, 0.75]);
            let at = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(f64::NAN);
            settings.push(SettingSummary {
                base_lr: base,
                method,
                seeds: mine.len(),
                seeds_nonfinite: mine.iter().filter(|r| r.stop_step.is_some()).count(),
                final_test_acc_median: q[1],
                final_test_acc_q25: q[0],
                final_test_acc_q75: q[2],
                final_loss_median: med(&|r| SpikeRun::last(&r.loss)),
                peak_loss_post_spike_median: med(&|r| r.peak_loss_from(start)),
                max_tau_median: med(&|r| SpikeRun::max_finite(&r.tau)),
                max_r_median: med(&|r| SpikeRun::max_finite(&r.r)),
                max_r_max: mine
                    .iter()
                    .map(|r| SpikeRun::max_finite(&r.r))
                    .filter(|x| !x.is_nan())
                    .reduce(f64::max)
                    .unwrap_or(f64::NAN),
                r_at_spike_median: med(&|r| at(&r.r, start)),
                r_after_spike_median: med(&|r| at(&r.r, start + 1)),
                rho_a_first_median: med(&|r| at(&r.rho_a, 0)),
                rho_a_last_median: med(&|r| SpikeRun::last(&r.rho_a)),
                capped_fraction_median: med(&|r| r.capped_fraction()),
            });
        }
    }
    let controller_max_r = runs
        .iter()
        .filter(|r| r.method == Method::Controller)
        .map(|r| SpikeRun::max_finite(&r.r))
        .filter(|x| !x.is_nan())
        .reduce(f64::max)
        .unwrap_or(f64::NAN);
    let stopped_runs = runs
        .iter()
        .filter_map(|r| {
            r.stop_step.map(|t| {
                format!(
                    "base lr {} {} seed {}: stopped at step {t} (loss {})",
                    rate_label(r.base_lr),
                    r.method.name(),
                    r.seed,
                    r.loss[t]
                )
            })
        })
        .collect();
    LrSpikeSummary {
        config: cfg.clone(),
        settings,
        controller_max_r,
        stopped_runs,
    }
}

/// Per step: the median and IQR over seeds of `value(run)[step]`.
fn step_band(
    runs: &[&SpikeRun],
    steps: usize,
    value: impl Fn(&SpikeRun, usize) -> f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut lo, mut mid, mut hi) = (vec![], vec![], vec![]);
    for t in 0..steps {
        let column: Vec<f64> = runs.iter().map(|r| value(r, t)).collect();
        let q = nan_quantiles(&column, &[0.25, 0.5, 0.75]);
        lo.push(q[0]);
        mid.push(q[1]);
        hi.push(q[2]);
    }
    (lo, mid, hi)
}

impl LrSpike {
    fn load_runs(&self, ctx: &Context, cfg: &LrSpikeConfig) -> Result<Vec<SpikeRun>> {
        let jobs = jobs(cfg);
        load_runs(ctx, self.id(), &jobs)?
            .iter()
            .zip(&jobs)
            .map(|(f, j)| SpikeRun::from_frame(j.spec.base, j.spec.method, j.spec.seed, f))
            .collect()
    }

    /// Fig 6: one row per base rate; loss, test accuracy, τ against ρa.
    fn figure(
        &self,
        ctx: &Context,
        cfg: &LrSpikeConfig,
        runs: &[SpikeRun],
    ) -> Result<Vec<std::path::PathBuf>> {
        let steps = cfg.steps;
        let x: Vec<f64> = (0..steps).map(|t| t as f64).collect();
        let spike_at = cfg.spike.start as f64;
        let spike_label = format!("spike: lr x {}", fmt_sig(cfg.spike.multiplier, 3));
        let mut panels = Vec::new();
        for &base in &cfg.base_rates {
            let rl = rate_label(base);
            let mut loss = Panel::new(
                format!("eta0 = {rl}: training loss"),
                "step",
                "minibatch CE (before the update)",
            );
            loss.y_log = true;
            let mut acc = Panel::new(
                format!("eta0 = {rl}: test accuracy"),
                "step",
                "test accuracy (%)",
            );
            acc.y_range = Some((0.0, 100.0));
            let mut radii = Panel::new(
                format!("eta0 = {rl}: step tau vs radius rho_a"),
                "step",
                "tau (solid), rho_a (dashed)",
            );
            radii.y_log = true;
            // The loss panel's ceiling: non-finite losses are drawn there.
            let finite_losses: Vec<f64> = runs
                .iter()
                .filter(|r| r.base_lr == base)
                .flat_map(|r| r.loss.iter().copied())
                .filter(|l| l.is_finite() && *l > 0.0)
                .collect();
            let any_nonfinite = runs.iter().filter(|r| r.base_lr == base).any(|r| {
                r.loss
                    .iter()
                    .zip(&r.padded)
                    .any(|(l, &p)| p == 1 || !l.is_finite())
            });
            let ceiling = if any_nonfinite {
                let lo = finite_losses.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = finite_losses.iter().copied().fold(0.0, f64::max);
                let ceiling = if hi > 0.0 { hi * 10.0 } else { 1e3 };
                loss.y_range = Some((if lo.is_finite() { lo / 2.0 } else { 1e-3 }, ceiling));
                loss.hlines
                    .push(HLine::new(ceiling, "non-finite loss (clipped)"));
                Some(ceiling)
            } else {
                None
            };
            for method in Method::BOTH {
                let mine: Vec<&SpikeRun> = runs
                    .iter()
                    .filter(|r| r.base_lr == base && r.method == method)
                    .collect();
                let c = method.color();
                // Before the spike both methods take the same steps, so the
                // controller's curve (drawn second) would hide plain Adam's:
                // plain is drawn wider underneath, showing as an outline.
                let w = match method {
                    Method::Plain => 5,
                    Method::Controller => 2,
                };
                let stopped = mine.iter().filter(|r| r.stop_step.is_some()).count();
                let stop_note = if stopped > 0 {
                    format!(" ({stopped} stopped)")
                } else {
                    String::new()
                };
                // Loss: a non-finite loss, and the padding after it, is +inf
                // for the median and drawn at the ceiling.
                let (lo, mid, hi) = step_band(&mine, steps, |r, t| {
                    let l = r.loss[t];
                    match ceiling {
                        Some(top) if !l.is_finite() => top,
                        _ => l,
                    }
                });
                loss.bands.push(Band::new("", x.clone(), lo, hi).color(c));
                // The legend is shared by every panel: stopped seeds go in
                // this panel's title.
                if !stop_note.is_empty() {
                    loss.title = format!("{}, {}{stop_note}", loss.title, method.name());
                }
                loss.series.push(
                    Series::new(method.label(), x.clone(), mid)
                        .color(c)
                        .width(w),
                );
                let (lo, mid, hi) = step_band(&mine, steps, |r, t| 100.0 * r.test_acc[t]);
                acc.bands.push(Band::new("", x.clone(), lo, hi).color(c));
                acc.series.push(
                    Series::new(method.label(), x.clone(), mid)
                        .color(c)
                        .width(w),
                );
                let (lo, mid, hi) = step_band(&mine, steps, |r, t| r.rho_a[t]);
                radii.bands.push(Band::new("", x.clone(), lo, hi).color(c));
                radii.series.push(
                    Series::new(format!("rho_a, {}", method.name()), x.clone(), mid)
                        .color(c)
                        .width(w - 1)
                        .dashed(),
                );
                let (_, mid, _) = step_band(&mine, steps, |r, t| r.tau[t]);
                radii.series.push(
                    Series::new(format!("tau, {}", method.name()), x.clone(), mid)
                        .color(c)
                        .width(w),
                );
            }
            // Say so where the two methods' runs coincide before the spike.
            let same_before = |f: fn(&SpikeRun) -> &Vec<f64>| {
                let of = |m: Method| -> Vec<&SpikeRun> {
                    runs.iter()
                        .filter(|r| r.base_lr == base && r.method == m)
                        .collect()
                };
                let (a, b) = (of(Method::Plain), of(Method::Controller));
                a.len() == b.len()
                    && a.iter().zip(&b).all(|(x, y)| {
                        (0..cfg.spike.start.min(steps))
                            .all(|t| f(x)[t].to_bits() == f(y)[t].to_bits())
                    })
            };
            if same_before(|r| &r.tau) && same_before(|r| &r.loss) {
                for p in [&mut loss, &mut acc, &mut radii] {
                    p.title = format!("{} (methods identical before the spike)", p.title);
                }
            }
            for p in [&mut loss, &mut acc, &mut radii] {
                p.x_range = Some((0.0, (steps - 1) as f64));
                p.vlines.push(VLine::new(spike_at, spike_label.clone()));
            }
            panels.extend([loss, acc, radii]);
        }
        let fig = Figure::grid(panels, 3).with_shared_legend().titled(format!(
            "Fig 6: lr x {} from step {}, plain Adam vs rho_a-controller; median and IQR over {} seeds",
            fmt_sig(cfg.spike.multiplier, 3),
            cfg.spike.start,
            cfg.seeds.len()
        ));
        analysis::plot::render(&fig, &ctx.figures_dir(self.id()).join("fig6_lr_spike"))
    }
}

impl Experiment for LrSpike {
    fn id(&self) -> &'static str {
        "lr-spike"
    }

    fn title(&self) -> &'static str {
        "Learning-rate spike: plain Adam vs the rho_a-controller (Fig 6)"
    }

    fn run(&self, ctx: &Context) -> Result<()> {
        let loaded = ctx.load_config::<LrSpikeConfig>(self.id())?;
        let cfg = loaded.value.clone();
        let digits = data::load_default_digits()?;
        run_jobs(ctx, self.id(), &jobs(&cfg), |&spec| {
            let run = one_run(&cfg, &digits, spec)?;
            let note = match run.stop_step {
                Some(t) => format!("stopped at step {t} (loss {})", run.loss[t]),
                None => format!(
                    "final test acc {}, max r {}",
                    fmt_pct(SpikeRun::last(&run.test_acc), 1),
                    fmt_sig(SpikeRun::max_finite(&run.r), 3)
                ),
            };
            Ok(Computed {
                frame: run.to_frame()?,
                note,
            })
        })?;
        let runs = self.load_runs(ctx, &cfg)?;
        ctx.finish_run(self.id(), &summarize(&cfg, &runs), &loaded)
    }

    fn run_keys(&self, ctx: &Context) -> Result<Vec<RunKey>> {
        let cfg = ctx.load_config::<LrSpikeConfig>(self.id())?.value;
        Ok(jobs(&cfg).into_iter().map(|j| j.key).collect())
    }

    fn render(&self, ctx: &Context) -> Result<Section> {
        let summary: LrSpikeSummary = ctx.read_summary(self.id())?;
        let cfg = &summary.config;
        let runs = self.load_runs(ctx, cfg)?;
        let paper = PaperNumbers::load_for_root(&ctx.root)?;
        let figures = self.figure(ctx, cfg, &runs)?;

        let pget = |key: &str| paper.labelled(self.id(), key);
        let n_seeds = cfg.seeds.len();
        let mut t = Table::new([
            "base lr",
            "method",
            "final test acc (median [IQR])",
            "author's run",
            "paper (text / figure)",
            "peak loss from the spike on",
            "author's run",
            "max tau/rho_a",
            "author's run",
            "seeds stopped (non-finite)",
        ]);
        t.title = Some(format!(
            "Per base rate and method, medians over {n_seeds} seeds; lr x {} from step {} of {}",
            fmt_sig(cfg.spike.multiplier, 3),
            cfg.spike.start,
            cfg.steps
        ));
        for s in &summary.settings {
            let rl = rate_label(s.base_lr);
            let m = s.method.name();
            let claim = match s.method {
                Method::Plain if pget(&format!("figure_plain_{rl}")) != "-" => format!(
                    "{} / {}",
                    pget(&format!("text_plain_{rl}")),
                    pget(&format!("figure_plain_{rl}"))
                ),
                Method::Plain => pget(&format!("text_plain_{rl}")),
                Method::Controller => pget("text_controller"),
            };
            t.push_row([
                rl.clone(),
                s.method.label().to_string(),
                if s.final_test_acc_median.is_nan() {
                    "- (every seed stopped)".to_string()
                } else {
                    format!(
                        "{} [{}, {}]",
                        fmt_pct(s.final_test_acc_median, 1),
                        fmt_pct(s.final_test_acc_q25, 1),
                        fmt_pct(s.final_test_acc_q75, 1)
                    )
                },
                pget(&format!("stored_final_acc_{m}_{rl}")),
                claim,
                // A non-finite peak is stored as null (read back as NaN).
                if s.peak_loss_post_spike_median.is_nan() && s.seeds_nonfinite > 0 {
                    "non-finite".to_string()
                } else {
                    fmt_sig(s.peak_loss_post_spike_median, 3)
                },
                pget(&format!("stored_peak_loss_{m}_{rl}")),
                fmt_sig(s.max_r_median, 4),
                pget(&format!("stored_max_r_{m}_{rl}")),
                format!("{} of {}", s.seeds_nonfinite, s.seeds),
            ]);
        }
        let mut md = t.to_markdown();

        let mut t2 = Table::new([
            "base lr",
            "method",
            &format!("r at step {}", cfg.spike.start),
            "author's run",
            &format!("r at step {}", cfg.spike.start + 1),
            "author's run",
            "max tau",
            "paper figure: plain tau peak",
            "rho_a at step 0",
            &format!("rho_a at step {}", cfg.steps - 1),
            "author's run (step 199)",
            "steps capped",
        ]);
        t2.title = Some(format!(
            "Around the spike (medians over {n_seeds} seeds); the author's rho_a at step 0: {}; paper text: tau exceeds rho_a by {} (1e-3) and {} (1e-2)",
            pget("stored_rho_a_first"),
            pget("text_overshoot_1e-3"),
            pget("text_overshoot_1e-2"),
        ));
        for s in &summary.settings {
            let rl = rate_label(s.base_lr);
            let m = s.method.name();
            let plain_only = |key: String| match s.method {
                Method::Plain => pget(&key),
                Method::Controller => "-".into(),
            };
            t2.push_row([
                rl.clone(),
                s.method.label().to_string(),
                fmt_sig(s.r_at_spike_median, 3),
                plain_only(format!("stored_r_at_spike_{m}_{rl}")),
                fmt_sig(s.r_after_spike_median, 3),
                plain_only(format!("stored_r_after_spike_{m}_{rl}")),
                fmt_sig(s.max_tau_median, 3),
                plain_only(format!("figure_tau_peak_{m}_{rl}")),
                fmt_sig(s.rho_a_first_median, 3),
                fmt_sig(s.rho_a_last_median, 3),
                pget(&format!("stored_rho_a_last_{m}_{rl}")),
                fmt_pct(s.capped_fraction_median, 0),
            ]);
        }
        md.push('\n');
        md.push_str(&t2.to_markdown());
        analysis::store::write_atomic(ctx.table_path(self.id()), md.as_bytes())?;

        let verdict = verdict(cfg, &summary, &paper);
        // Our plain-Adam number at a base rate of the paper ("-" if not run).
        let ours = |what: &str, base: f64| {
            summary
                .settings
                .iter()
                .find(|s| s.method == Method::Plain && (s.base_lr / base - 1.0).abs() < 1e-9)
                .map_or("-".to_string(), |s| match what {
                    "acc" => fmt_pct(s.final_test_acc_median, 1),
                    _ => fmt_sig(s.max_r_median, 4),
                })
        };
        // Facts the notes state, computed from the runs.
        let max_rho = runs
            .iter()
            .flat_map(|r| r.rho_a.iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let min_delta = std::f64::consts::PI / max_rho;
        let (mut capped_after, mut applied_after) = (0usize, 0usize);
        for r in runs.iter().filter(|r| r.method == Method::Controller) {
            for t in cfg.spike.start..r.r.len() {
                if r.applied[t] == 1 && r.r[t].is_finite() {
                    applied_after += 1;
                    if r.r[t] >= cfg.r_target * (1.0 - 1e-6) {
                        capped_after += 1;
                    }
                }
            }
        }
        let plain_1e4_recovers = summary
            .settings
            .iter()
            .find(|s| s.method == Method::Plain && (s.base_lr / 1e-4 - 1.0).abs() < 1e-9)
            .map(|s| s.final_test_acc_median >= COLLAPSE_ACCURACY);
        let mut notes: Vec<String> = ctx.config_note(self.id()).into_iter().collect();
        notes.extend([
            format!(
                "Model `{}` from the zoo registry: Linear 64->128, ReLU, Linear 128->10 (9,610 parameters), the spec's MLP-ReLU-2L. Adam's moments are kept in f64 and committed from the true gradient whatever the cap (as the author's hand-written Adam); the controller scales Adam's actual step p (this step's moments) by s = min(1, r_target rho_a / |p|), r_target = {}.",
                cfg.arch,
                fmt_sig(cfg.r_target, 3)
            ),
            format!(
                "rho_a is measured every step for both methods along p/|p| by one exact eval-mode JVP on the whole training part (worst sample), rho_a = pi / max(Delta_a, 1e-12); the author adds 1e-12 to the spread instead (the smallest Delta_a logged here is {}, so the two agree to double precision). {} Test accuracy and minibatch loss are logged before each update; \"final\" is the last logged step, as in the author's code.",
                fmt_sig(min_delta, 3),
                match cfg.backend {
                    Backend::Fast => "The JVP, the step and the test logits run on the zoo's fast f32 backend (`backend: fast`: the layers' hand-written forward, backward and tangent passes, tested against dfdx), through `control::Controller` with `RadiusProbe::on_inputs`.",
                    Backend::Dfdx => "The JVP, the step and the test logits run on dfdx (`backend: dfdx`), through `control::Controller` with `RadiusProbe::on_inputs`.",
                }
            ),
            "Batch order: a fresh permutation per epoch from ChaCha8 seeded with seed + 11 (the author: NumPy with the same seed), so individual runs are not bit-identical to the author's; the same init and batch order are shared by both methods of a seed.".into(),
            "Non-finite losses: the run stops (the controller refuses the step) and the remaining steps are padded with NaN, as the author's code does; a stopped seed is left out of the accuracy medians, counts as +inf in the loss medians and is drawn at the loss panel's top edge (legend says so). Runs stopped here: ".to_string()
                + &if summary.stopped_runs.is_empty() {
                    "none.".to_string()
                } else {
                    summary.stopped_runs.join("; ")
                },
            format!(
                "Figure: the paper draws one green rho_a band and plain Adam in red, the controller in gold; we draw rho_a (dashed, with IQR band) for each method in its colour beside its tau (solid, median), plain in vermillion and the controller in blue. From the spike on, {capped_after} of the controller's {applied_after} applied steps ({}) are capped at r = {}: there its tau lies on its own rho_a and hides it.",
                fmt_pct(capped_after as f64 / applied_after.max(1) as f64, 1),
                fmt_sig(cfg.r_target, 3)
            ),
            format!(
                "Paper vs the author's code and stored run (spec §6.6, §7 item 5): the text says the 1e-4 spike stays within rho_a (\"{}\"), yet plain Adam's max tau/rho_a there is {} in the stored run and {} here ({}); it says tau exceeds rho_a by {} at 1e-3 and {} at 1e-2, against max tau/rho_a {} / {} in the stored run and {} / {} here; and that plain Adam falls to {} at 1e-3, against {} in the stored run, {} in the published figure and {} here. The text's \"{}\" of rates vs three base rates plotted.",
                pget("text_plain_1e-4"),
                pget("stored_max_r_plain_1e-4"),
                ours("max_r", 1e-4),
                match plain_1e4_recovers {
                    Some(true) => "here it recovers all the same",
                    Some(false) => "and here it collapses",
                    None => "1e-4 not run here",
                },
                pget("text_overshoot_1e-3"),
                pget("text_overshoot_1e-2"),
                pget("stored_max_r_plain_1e-3"),
                pget("stored_max_r_plain_1e-2"),
                ours("max_r", 1e-3),
                ours("max_r", 1e-2),
                pget("text_plain_1e-3"),
                pget("stored_final_acc_plain_1e-3"),
                pget("figure_plain_1e-3"),
                ours("acc", 1e-3),
                pget("text_rate_range"),
            ),
        ]);
        Ok(Section {
            id: self.id().into(),
            title: self.title().into(),
            figures: ctx.report_figures(&figures),
            table_markdown: md,
            verdict,
            notes,
        })
    }
}

/// The verdict, from the summary alone.
fn verdict(cfg: &LrSpikeConfig, summary: &LrSpikeSummary, paper: &PaperNumbers) -> String {
    let of = |m: Method| -> Vec<&SettingSummary> {
        summary.settings.iter().filter(|s| s.method == m).collect()
    };
    let collapsed = |s: &SettingSummary| {
        s.seeds_nonfinite * 2 > s.seeds || !(s.final_test_acc_median >= COLLAPSE_ACCURACY)
    };
    let ctrl = of(Method::Controller);
    let plain = of(Method::Plain);
    let ctrl_min_acc = ctrl
        .iter()
        .map(|s| s.final_test_acc_median)
        .fold(f64::INFINITY, f64::min);
    let ctrl_ok = ctrl.iter().all(|s| !collapsed(s) && s.seeds_nonfinite == 0);
    let cap_ok = summary.controller_max_r <= cfg.r_target * (1.0 + 1e-9);
    let rates = |v: &[&SettingSummary], want: bool| -> Vec<String> {
        v.iter()
            .filter(|s| collapsed(s) == want)
            .map(|s| rate_label(s.base_lr))
            .collect()
    };
    let plain_collapsed = rates(&plain, true);
    let plain_ok = rates(&plain, false);
    // The author's stored run, where it has this base rate: did plain Adam
    // collapse there?
    let stored = |s: &SettingSummary| {
        paper
            .get(
                "lr-spike",
                &format!("stored_final_acc_plain_{}", rate_label(s.base_lr)),
            )
            .ok()
            .and_then(|n| n.value.map(|v| (v, n.cell())))
    };
    let matches_author = plain
        .iter()
        .all(|s| stored(s).map_or(true, |(v, _)| collapsed(s) == (v < COLLAPSE_ACCURACY)));
    let author_accs = plain
        .iter()
        .filter_map(|s| stored(s).map(|(_, text)| format!("{text} at {}", rate_label(s.base_lr))))
        .collect::<Vec<_>>();
    let plain_part = match (plain_collapsed.is_empty(), plain_ok.is_empty()) {
        (true, _) => "plain Adam survives every base rate".to_string(),
        (false, true) => format!(
            "plain Adam collapses at every base rate ({})",
            plain_collapsed.join(", ")
        ),
        (false, false) => format!(
            "plain Adam collapses at {} and recovers at {}",
            plain_collapsed.join(", "),
            plain_ok.join(", ")
        ),
    };
    let plain_accs = plain
        .iter()
        .map(|s| {
            format!(
                "{} at {}",
                fmt_pct(s.final_test_acc_median, 1),
                rate_label(s.base_lr)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    // Every reference number of the two tables, each within its tolerance.
    let mut cmp = Comparisons::new();
    let id = "lr-spike";
    let pct = |v: f64| fmt_pct(v, 1);
    let sig = |v: f64| fmt_sig(v, 3);
    for s in &summary.settings {
        let (rl, m) = (rate_label(s.base_lr), s.method.name());
        let what = |q: &str| format!("{m} {rl} {q}");
        let acc = s.final_test_acc_median;
        cmp.add(
            paper,
            (id, &format!("stored_final_acc_{m}_{rl}")),
            &what("final accuracy"),
            acc,
            pct,
            Tolerance::Points(ACC_POINTS),
        );
        cmp.add(
            paper,
            (id, &format!("stored_peak_loss_{m}_{rl}")),
            &what("peak loss"),
            s.peak_loss_post_spike_median,
            sig,
            Tolerance::Factor(FACTOR),
        );
        cmp.add(
            paper,
            (id, &format!("stored_max_r_{m}_{rl}")),
            &what("max r"),
            s.max_r_median,
            sig,
            Tolerance::Factor(FACTOR),
        );
        cmp.add(
            paper,
            (id, &format!("stored_rho_a_last_{m}_{rl}")),
            &what("last rho_a"),
            s.rho_a_last_median,
            sig,
            Tolerance::Factor(FACTOR),
        );
        if s.method == Method::Plain {
            // The paper's text and its figure disagree with each other at
            // 1e-3 (~50% vs about 20%): ours agrees if it matches either.
            let stated: Vec<&crate::paper_numbers::PaperNumber> = ["text", "figure"]
                .iter()
                .filter_map(|src| paper.get(id, &format!("{src}_plain_{rl}")).ok())
                .filter(|n| n.value.is_some())
                .collect();
            if !stated.is_empty() {
                let near = |n: &&crate::paper_numbers::PaperNumber| {
                    (acc - n.value.unwrap_or(f64::NAN)).abs() <= APPROX_ACC_POINTS
                };
                cmp.add_claim(
                    stated.iter().any(near),
                    format!(
                        "{} {} vs {} (tolerance {:.0} points of either)",
                        what("final accuracy"),
                        pct(acc),
                        stated
                            .iter()
                            .map(|n| n.cell())
                            .collect::<Vec<_>>()
                            .join(" or "),
                        100.0 * APPROX_ACC_POINTS
                    ),
                );
            }
            cmp.add(
                paper,
                (id, &format!("stored_r_at_spike_plain_{rl}")),
                &what("r at the spike"),
                s.r_at_spike_median,
                sig,
                Tolerance::Factor(FACTOR),
            );
            cmp.add(
                paper,
                (id, &format!("stored_r_after_spike_plain_{rl}")),
                &what("r after the spike"),
                s.r_after_spike_median,
                sig,
                Tolerance::Factor(FACTOR),
            );
            cmp.add(
                paper,
                (id, &format!("figure_tau_peak_plain_{rl}")),
                &what("tau peak"),
                s.max_tau_median,
                sig,
                Tolerance::Factor(APPROX_FACTOR),
            );
            cmp.add(
                paper,
                (id, &format!("text_overshoot_{rl}")),
                &what("max r"),
                s.max_r_median,
                sig,
                Tolerance::Factor(APPROX_FACTOR),
            );
            if let Ok(claim) = paper.get(id, &format!("text_plain_{rl}")) {
                if claim.value.is_none() {
                    // A verbal claim: "the spike stays within rho_a".
                    cmp.add_claim(
                        s.max_r_median <= 1.0,
                        format!(
                            "{} vs {}: max r {}",
                            what("spike"),
                            claim.cell(),
                            sig(s.max_r_median)
                        ),
                    );
                }
            }
        }
    }
    if let Some(first) = summary.settings.first() {
        cmp.add(
            paper,
            (id, "stored_rho_a_first"),
            "rho_a at step 0",
            first.rho_a_first_median,
            sig,
            Tolerance::Factor(FACTOR),
        );
    }
    let numbers = format!(
        "Reference numbers (accuracies within {:.0} points of the author's run and {:.0} of the paper's approximate text and figure; r, tau, rho_a and losses within a factor of {FACTOR} of the author's run and {APPROX_FACTOR} of the paper's approximate values): {}",
        100.0 * ACC_POINTS,
        100.0 * APPROX_ACC_POINTS,
        cmp.summary()
    );
    let head = if ctrl_ok && cap_ok && matches_author && cmp.all_agree() {
        "reproduced"
    } else if ctrl_ok && cap_ok {
        "partly reproduced (the controller survives every spike within its cap, but some of the author's or the paper's numbers differ, below)"
    } else {
        "differs"
    };
    let author = if author_accs.is_empty() {
        String::new()
    } else {
        format!(
            "; the author's stored run: plain {}{}",
            author_accs.join(", "),
            if matches_author {
                ", the same pattern"
            } else {
                ", a different pattern"
            }
        )
    };
    format!(
        "{head}: the controller ends at {} or more test accuracy at every base rate with no non-finite seed, and its largest step has r = {} (cap {}, up to a relative 1e-9); {plain_part} (final test accuracy {plain_accs}; collapse = median below {:.0}% or most seeds non-finite){author}. {numbers}",
        fmt_pct(ctrl_min_acc, 1),
        fmt_sig(summary.controller_max_r, 6),
        fmt_sig(cfg.r_target, 3),
        100.0 * COLLAPSE_ACCURACY,
    )
}

/// Agreement with the author's stored accuracies: within this (5 points).
const ACC_POINTS: f64 = 0.05;
/// ... with the paper's approximate ("~50%", "about 20%") accuracies.
const APPROX_ACC_POINTS: f64 = 0.10;
/// Agreement with the author's stored r, tau, rho_a and losses: within this factor.
const FACTOR: f64 = 2.0;
/// ... with the paper's approximate ("~10x", "about 50") values.
const APPROX_FACTOR: f64 = 3.0;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Validate;

    #[test]
    fn quick_config_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::new(dir.path(), true);
        let e = LrSpike;
        e.run(&ctx).unwrap();
        let section = e.render(&ctx).unwrap();
        assert!(!section.verdict.is_empty());

        let summary: serde_json::Value = ctx.read_summary(e.id()).unwrap();
        let cfg: LrSpikeConfig = crate::config::built_in(e.id(), true).unwrap();
        assert!(cfg.validate().is_ok());
        let settings = summary["settings"].as_array().unwrap();
        assert_eq!(settings.len(), 2 * cfg.base_rates.len());
        for s in settings {
            for key in [
                "base_lr",
                "method",
                "seeds",
                "seeds_nonfinite",
                "final_test_acc_median",
                "final_loss_median",
                "peak_loss_post_spike_median",
                "max_r_median",
                "max_tau_median",
                "rho_a_first_median",
                "rho_a_last_median",
            ] {
                assert!(!s[key].is_null(), "{key} missing: {s}");
            }
        }
        assert!(summary["controller_max_r"].as_f64().unwrap() <= 1.0 + 1e-9);
        assert!(ctx.figures_dir(e.id()).join("fig6_lr_spike.png").is_file());
        assert!(ctx.table_path(e.id()).is_file());

        let runs = e.load_runs(&ctx, &cfg).unwrap();
        assert_eq!(runs.len(), 2 * cfg.base_rates.len() * cfg.seeds.len());
        for r in &runs {
            assert_eq!(r.loss.len(), cfg.steps);
            // ρa is measured every step for both methods.
            assert!(r.rho_a.iter().all(|x| x.is_finite() && *x > 0.0), "{r:?}");
            if r.method == Method::Controller {
                for &x in r.r.iter().filter(|x| !x.is_nan()) {
                    assert!(x <= 1.0 + 1e-9, "controller r = {x}");
                }
            }
        }
        // Same init and batches: both methods see the same first minibatch.
        let (p, c) = (&runs[0], &runs[cfg.seeds.len()]);
        assert_eq!((p.method, c.method), (Method::Plain, Method::Controller));
        assert_eq!(p.loss[0], c.loss[0]);
        assert_eq!(p.test_acc[0], c.test_acc[0]);
        // The spike makes plain Adam overshoot the radius.
        assert!(SpikeRun::max_finite(&p.r) > 1.0);

        // Stored runs are skipped.
        ctx.tally.reset();
        e.run(&ctx).unwrap();
        assert_eq!(ctx.tally.computed(), 0);
        assert_eq!(ctx.tally.stored(), runs.len());
    }

    /// The fast backend against the dfdx reference: same losses, radii and
    /// caps up to f32 summation order before the spike (afterwards plain
    /// Adam's blow-up amplifies rounding).
    #[test]
    fn fast_and_dfdx_runs_agree() {
        let mut cfg: LrSpikeConfig = crate::config::built_in("lr-spike", true).unwrap();
        cfg.steps = 30;
        cfg.spike.start = 10;
        let digits = data::load_default_digits().unwrap();
        for method in Method::BOTH {
            let spec = RunSpec {
                base: 1e-3,
                method,
                seed: 1,
            };
            cfg.backend = Backend::Fast;
            let a = one_run(&cfg, &digits, spec).unwrap();
            cfg.backend = Backend::Dfdx;
            let b = one_run(&cfg, &digits, spec).unwrap();
            assert!((a.loss[0] - b.loss[0]).abs() < 1e-5 * b.loss[0]);
            assert_eq!(a.test_acc[0], b.test_acc[0]);
            for t in 0..cfg.spike.start + 2 {
                let rel = |x: f64, y: f64| ((x - y) / y).abs();
                assert!(rel(a.rho_a[t], b.rho_a[t]) < 1e-3, "{method:?} step {t}");
                assert!(rel(a.tau[t], b.tau[t]) < 1e-3, "{method:?} step {t}");
                assert!(rel(a.loss[t], b.loss[t]) < 1e-3, "{method:?} step {t}");
            }
            if method == Method::Controller {
                assert!(a.r.iter().chain(&b.r).all(|&r| r <= 1.0 + 1e-9));
            }
        }
    }

    #[test]
    fn bad_values_are_refused() {
        let good: LrSpikeConfig = crate::config::built_in("lr-spike", false).unwrap();
        assert!(good.validate().is_ok());
        let mut c = good.clone();
        c.spike.start = c.steps;
        assert_eq!(c.validate().unwrap_err().0, "spike");
        let mut c = good.clone();
        c.base_rates.push(-1.0);
        assert_eq!(c.validate().unwrap_err().0, "base_rates");
        let mut c = good;
        c.spike.multiplier = 0.0;
        assert_eq!(c.validate().unwrap_err().0, "spike");
    }
}
