//! `temperature-fingerprint` (paper Fig 9): the temperature law
//! ρa(T) = π·T/Δa, and the threshold-spread statistics.
//!
//! Protocol (spec §6.5, the author's code):
//! 1. For each temperature T and seed: a fresh MLP-GELU trained with the
//!    tempered loss CE(z/T, y) (Adam lr 0.01, 120 steps, batches of 256
//!    drawn without replacement) on the 80% training part of a stratified
//!    split with split seed = run seed.
//! 2. At the trained θ: u = −g/‖g‖ (g = gradient of the tempered mean CE on
//!    the whole training part), Δa = max over training samples of the
//!    spread of the untempered logit slopes a = J_z u (exact JVP; the
//!    author's forward difference ε = 1e-4 is the `fd` option), and
//!    ρa(T) = π·T/Δa.
//! 3. One step θ + τu for τ on 80 geometric points in [1e-4, max(4ρa, 2)]:
//!    the tempered training loss ratio and the flip fraction, against raw τ
//!    (panel A) and against r_T = τ·Δa/(π·T) (panel B).
//! 4. Onset = first grid point with loss ratio ≥ 2, per (T, seed), in τ and
//!    in r_T. The threshold spread (our definition; the paper does not give
//!    one): the sample standard deviation over temperatures of log10 of the
//!    per-temperature median onset, in each coordinate, with a bootstrap CI
//!    over seeds. Temperature scaling predicts the r_T onsets collapse.

mod render;
mod summary;

pub use summary::{FingerprintSummary, Spread, SpreadStats, TemperatureSummary};

use crate::config::check::{self, Check};
use crate::runner::Job;
use crate::study::Study;
use crate::Context;
use analysis::frame::{from_frame, to_frame};
use analysis::polars::prelude::DataFrame;
use analysis::report::Section;
use analysis::runs::RunKey;
use analysis::stats::{first_grid_onset, geomspace};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use zoo::model::{accuracy, argmax_rows};
use zoo::train::{fit, Recipe};
use zoo::{ArchConfig, Batch, Mode};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 1;

/// The experiment (registered in [`crate::registry`]).
pub struct TemperatureFingerprint;

/// How Δa is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlopeEstimator {
    /// Exact forward-mode JVP (tangent pass).
    Jvp,
    /// The author's forward difference (z(θ + εu) − z(θ))/ε in float32.
    Fd,
}

/// Settings of the experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemperatureConfig {
    /// Registry name of the model (outputs untempered logits).
    pub arch: String,
    /// Temperatures of the figure and of the main spread statistic.
    pub temperatures: Vec<f64>,
    /// Further temperatures (the paper's caption lists 16 and 64 too): run
    /// and reported as a second spread statistic over all temperatures.
    pub extra_temperatures: Vec<f64>,
    /// Seeds: initialisation, split and batch order.
    pub seeds: Vec<u64>,
    /// Held-out fraction of the stratified split (only the rest is used).
    pub test_ratio: f64,
    /// Adam learning rate.
    pub lr: f64,
    /// Training steps.
    pub steps: usize,
    /// Samples per step, drawn without replacement.
    pub batch: usize,
    /// Points of the τ grid.
    pub tau_points: usize,
    /// Smallest τ of the grid.
    pub tau_min: f64,
    /// The grid ends at max(`tau_max_rho_factor`·ρa(T), `tau_max_floor`).
    pub tau_max_floor: f64,
    /// See `tau_max_floor`.
    pub tau_max_rho_factor: f64,
    /// Onset: first grid point with loss ratio ≥ this.
    pub onset_loss_ratio: f64,
    /// `jvp` (exact) or `fd` (the author's forward difference).
    pub slope_estimator: SlopeEstimator,
    /// ε of the `fd` estimator.
    pub fd_eps: f64,
    /// Bootstrap resamples of seeds for the spread CIs.
    pub bootstrap_resamples: usize,
    /// Confidence level of the CIs.
    pub ci_level: f64,
    /// Seed of the bootstrap.
    pub bootstrap_seed: u64,
    /// dfdx or the zoo's fast f32 path (same layers and θ; see `zoo::fast`).
    #[serde(default)]
    pub backend: zoo::Backend,
}

impl crate::config::Validate for TemperatureConfig {
    fn validate(&self) -> Check {
        check::arch("arch", &self.arch)?;
        check::backend("backend", &self.arch, self.backend)?;
        check::that(
            self.temperatures.len() >= 2,
            "temperatures",
            "expected at least two temperatures (the spread is a std over them)",
        )?;
        check::distinct_positive("temperatures", &self.all_temperatures())?;
        check::non_empty("seeds", &self.seeds)?;
        check::distinct("seeds", &self.seeds)?;
        check::fraction("test_ratio", self.test_ratio)?;
        check::that(
            self.tau_points >= 2 && self.tau_min > 0.0 && self.tau_min < self.tau_max_floor,
            "tau_points",
            "expected at least 2 points and 0 < tau_min < tau_max_floor",
        )?;
        check::fraction("ci_level", self.ci_level)
    }
}

impl TemperatureConfig {
    /// Every temperature run, main list first.
    fn all_temperatures(&self) -> Vec<f64> {
        self.temperatures
            .iter()
            .chain(&self.extra_temperatures)
            .cloned()
            .collect()
    }
}

/// One (temperature, seed) run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemperatureRun {
    /// Temperature T.
    pub temperature: f64,
    /// Seed.
    pub seed: u64,
    /// Training accuracy after training.
    pub train_accuracy: f64,
    /// Base tempered training CE.
    pub base_loss: f64,
    /// Δa: largest spread of untempered logit slopes over training samples.
    pub delta_a: f64,
    /// ρa(T) = π·T/Δa.
    pub rho_a: f64,
    /// τ grid.
    pub tau: Vec<f64>,
    /// r_T = τΔa/(πT) on the grid.
    pub r_t: Vec<f64>,
    /// Tempered training CE after the step / before.
    pub loss_ratio: Vec<f64>,
    /// Share of training samples whose predicted class changed.
    pub flip: Vec<f64>,
}

impl TemperatureRun {
    /// First grid τ with loss ratio ≥ `threshold` (NaN: none).
    fn onset_tau(&self, threshold: f64) -> f64 {
        first_grid_onset(&self.tau, &self.loss_ratio, threshold).unwrap_or(f64::NAN)
    }

    /// The same onset in r_T.
    fn onset_r(&self, threshold: f64) -> f64 {
        first_grid_onset(&self.r_t, &self.loss_ratio, threshold).unwrap_or(f64::NAN)
    }
}

/// The (temperature, seed) runs of a config.
fn jobs(cfg: &TemperatureConfig) -> Vec<Job<(f64, u64)>> {
    cfg.all_temperatures()
        .into_iter()
        .flat_map(|t| {
            cfg.seeds.iter().map(move |&seed| Job {
                key: RunKey::new(SCHEMA, cfg, &format!("T{t}-seed{seed}")),
                label: format!("T = {t} seed {seed}"),
                spec: (t, seed),
            })
        })
        .collect()
}

fn one_run(
    cfg: &TemperatureConfig,
    digits: &data::Digits,
    temperature: f64,
    seed: u64,
) -> Result<TemperatureRun> {
    let split = data::stratified_split(&digits.labels, cfg.test_ratio, seed);
    let model = zoo::arch::find(&cfg.arch)?
        .build::<f32>(&ArchConfig::default())
        .with_temperature(temperature)
        .with_backend(cfg.backend)?;
    let train: Batch<f32> = Batch::from_digits(digits, &split.train);
    let mut state = model.init(seed);
    let recipe = Recipe {
        lr: cfg.lr,
        steps: cfg.steps,
        batch: Some(cfg.batch),
        weight_decay: 0.0,
    };
    fit(&model, &mut state, &train, &recipe, seed.wrapping_add(17));

    // Descent direction of the tempered full-training-set loss.
    let step = model.loss_and_grad(&mut state.clone(), &train, Mode::Eval);
    let (base_loss, base_logits, mut cache) = (step.loss, step.logits, step.cache);
    let mut u = step.grad;
    u.scale(-1.0 / (u.norm() + 1e-12));
    let slopes = match cfg.slope_estimator {
        SlopeEstimator::Jvp => model.tangent(&state, &mut cache, &u, Mode::Eval),
        SlopeEstimator::Fd => {
            model.fd_jvp_forward(&state, &train.x, &u, cfg.fd_eps, &base_logits, Mode::Eval)
        }
    };
    let slopes: Vec<f64> = slopes.as_vec().iter().map(|&a| a as f64).collect();
    let delta_a = radius::set_rho_a(
        &radius::spreads_of_rows(&slopes, model.classes),
        radius::Aggregation::Max,
    )
    .delta_a;
    let rho_a = radius::rho_a_tempered(delta_a, temperature);

    let base_pred = argmax_rows(&base_logits);
    let tau_max = (cfg.tau_max_rho_factor * rho_a).max(cfg.tau_max_floor);
    let tau = geomspace(cfg.tau_min, tau_max, cfg.tau_points);
    let (mut loss_ratio, mut flip) = (Vec::with_capacity(tau.len()), Vec::with_capacity(tau.len()));
    for logits in model.logits_on_line(&state, &train.x, &u, &tau) {
        let pred = argmax_rows(&logits);
        let loss = model.loss_of_logits(&logits, &train);
        // A diverged step is a result: inf loss ratio, flips still counted.
        loss_ratio.push(if loss.is_finite() {
            loss / base_loss
        } else {
            f64::INFINITY
        });
        flip.push(
            pred.iter().zip(&base_pred).filter(|(a, b)| a != b).count() as f64 / pred.len() as f64,
        );
    }
    let r_t = tau
        .iter()
        .map(|&t| radius::normalized_step_tempered(t, delta_a, temperature))
        .collect();
    Ok(TemperatureRun {
        temperature,
        seed,
        train_accuracy: accuracy(&base_logits, &train.labels),
        base_loss,
        delta_a,
        rho_a,
        tau,
        r_t,
        loss_ratio,
        flip,
    })
}

impl Study for TemperatureFingerprint {
    const ID: &'static str = "temperature-fingerprint";
    const TITLE: &'static str = "Temperature fingerprint and threshold spread (Fig 9)";
    type Config = TemperatureConfig;
    type Spec = (f64, u64);
    type Inputs = data::Digits;
    type Run = TemperatureRun;
    type Summary = FingerprintSummary;

    fn inputs(_: &TemperatureConfig) -> Result<data::Digits> {
        Ok(data::load_default_digits()?)
    }

    fn jobs(cfg: &TemperatureConfig) -> Vec<Job<(f64, u64)>> {
        jobs(cfg)
    }

    fn run_one(
        cfg: &TemperatureConfig,
        digits: &data::Digits,
        &(t, seed): &(f64, u64),
    ) -> Result<TemperatureRun> {
        one_run(cfg, digits, t, seed)
    }

    fn note(run: &TemperatureRun) -> String {
        format!(
            "Delta_a = {:.2}, rho_a(T) = {:.4}, train acc {:.1}%",
            run.delta_a,
            run.rho_a,
            100.0 * run.train_accuracy
        )
    }

    fn to_frame(run: &TemperatureRun) -> Result<DataFrame> {
        to_frame(run)
    }

    fn from_frame(_: &TemperatureConfig, _: &(f64, u64), f: &DataFrame) -> Result<TemperatureRun> {
        from_frame(f)
    }

    fn summarize(cfg: &TemperatureConfig, runs: &[TemperatureRun]) -> FingerprintSummary {
        summary::summarize(cfg, runs)
    }

    fn config(summary: &FingerprintSummary) -> &TemperatureConfig {
        &summary.config
    }

    fn render(
        ctx: &Context,
        summary: &FingerprintSummary,
        runs: &[TemperatureRun],
    ) -> Result<Section> {
        render::render(ctx, summary, runs)
    }
}
