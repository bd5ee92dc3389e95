//! `crossover-margin` (paper Appendix 5.5.3; no code or data of the author
//! exist, so this is the spec's PROPOSAL, §6.4): is the crossover margin at
//! convergence a linear function of ln η, δ* ≈ A + B·ln η with R² ≈ 1?
//!
//! Background (App. 5, spec T10): along a direction whose logit slopes give
//! a sample the margin slope Δ_yc = a_y − a_c, the scalar logistic picture
//! has curvature ℓ'' = σ(δ)(1 − σ(δ))·Δ_yc² at margin δ, so the quadratic
//! step is τ_H(x) = 2/(σ(1−σ)Δ_yc²), while the ghost radius is
//! ρ(x) = π/|Δ_yc|. The two are equal where σ(1−σ) = 2/(π|Δ_yc|), i.e. at
//! δ* ≈ ln(π|Δ_yc|/2): below δ* the Hessian step is the smaller one, above
//! it overshoots the radius.
//!
//! Protocol (ours, following the spec's proposal):
//! 1. Model: Linear 64 → 10 (`linear`). Its logits are affine in θ, so the
//!    logistic picture along a direction is exact (z(θ + τv) = z + τ·a), and
//!    a step costs ~0.1 ms, which lets plain GD at η = 0.01 run the tens of
//!    thousands of steps it needs; MLP+LN-128 would cost ~50× more per
//!    step (the config's `arch` accepts any registry model).
//! 2. Stratified 70/30 split (seed 42); plain full-batch gradient descent
//!    θ ← θ − η∇L on the mean training CE from `model.init(seed)`, for every
//!    η of `learning_rates` and every seed.
//! 3. Convergence (our definition; cross-entropy on separable data has no
//!    minimiser, so "converged" must be a level): the first step t at which
//!    the full-batch training loss L(θ_t) is at most `loss_target` (0.1),
//!    within `max_steps`. A run that does not get there is measured at its
//!    last θ, marked `converged = false` and left out of the fits.
//! 4. At θ_t, along the descent direction v = −g/‖g‖ on the training split
//!    (exact JVP a = J_z v): ρa = π / max_x Δa(x) and its binding sample b
//!    (argmax Δa(x)); per sample x (label y, c = argmax_{k≠y} z_k): the
//!    margin δ_x = z_y − z_c and Δ_yc(x) = a_y − a_c. The binding sample's
//!    predicted crossover δ* = ln(π|Δ_yc(b)|/2) (spec §6.4,
//!    `radius::logistic::crossover_margin`). The empirical crossover margin δ_emp: the
//!    threshold on |δ_x| that best separates the samples with
//!    τ_H(x) < ρ(x) (below) from those with τ_H(x) ≥ ρ(x) (above),
//!    `summary::empirical_crossover`. Also κ = vᵀHv along v (exact for the
//!    affine model: f64 central differences of exact gradients) and
//!    τ_H = 2/κ, against η (edge of stability: 2/κ ≈ η).
//! 5. Fits over the converged runs: δ* = A + B·ln η and δ_emp = A' + B'·ln η
//!    by least squares, with R² (`summary::fit_line`).

mod render;
mod summary;
#[cfg(test)]
mod tests;

pub use summary::{empirical_crossover, fit_line, CrossoverSummary, Fit, RateSummary};

use crate::config::check::{self, Check};
use crate::runner::Job;
use crate::study::Study;
use crate::Context;
use analysis::frame::{from_frame, to_frame};
use analysis::polars::prelude::DataFrame;
use analysis::report::Section;
use analysis::runs::RunKey;
use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use zoo::curvature::{cast_state, directional_curvature};
use zoo::{ArchConfig, Backend, Batch, Mode};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 1;

/// The experiment (registered in [`crate::registry`]).
pub struct CrossoverMargin;

/// Settings of the experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossoverMarginConfig {
    /// Registry name of the model (default `linear`, see the module docs).
    pub arch: String,
    /// Training seeds (initialisation; full-batch GD has no other randomness).
    pub seeds: Vec<u64>,
    /// Seed of the stratified split.
    pub split_seed: u64,
    /// Test fraction of the split (the test part is not used).
    pub test_ratio: f64,
    /// Learning rates η of plain GD (spec §6.4: 0.01, 0.02, 0.05, 0.1, 0.2, 0.5).
    pub learning_rates: Vec<f64>,
    /// Converged = the first step whose full-batch training loss is at most this.
    pub loss_target: f64,
    /// Most GD steps per run.
    pub max_steps: usize,
    /// Central-difference step of κ = vᵀHv along the unit direction.
    pub hvp_eps: f64,
    /// Which implementation runs the model: `fast` or `dfdx` (κ uses f64 dfdx).
    pub backend: Backend,
}

impl crate::config::Validate for CrossoverMarginConfig {
    fn validate(&self) -> Check {
        check::arch("arch", &self.arch)?;
        check::backend("backend", &self.arch, self.backend)?;
        check::non_empty("seeds", &self.seeds)?;
        check::distinct("seeds", &self.seeds)?;
        check::fraction("test_ratio", self.test_ratio)?;
        check::non_empty("learning_rates", &self.learning_rates)?;
        check::distinct_positive("learning_rates", &self.learning_rates)?;
        check::that(
            self.loss_target > 0.0 && self.loss_target.is_finite(),
            "loss_target",
            format!("expected a finite value > 0, got {}", self.loss_target),
        )?;
        check::at_least("max_steps", self.max_steps, 1)?;
        check::that(
            self.hvp_eps > 0.0 && self.hvp_eps < 1.0,
            "hvp_eps",
            format!("expected a small positive step, got {}", self.hvp_eps),
        )
    }
}

/// One (η, seed) run at its convergence point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossoverRun {
    /// Learning rate η.
    pub eta: f64,
    /// Training seed.
    pub seed: u64,
    /// The loss target was reached within `max_steps`.
    pub converged: bool,
    /// GD steps taken before the measurement.
    pub steps: u64,
    /// Mean training CE at the measurement.
    pub train_loss: f64,
    /// Training accuracy at the measurement.
    pub train_accuracy: f64,
    /// ‖∇L‖ at the measurement.
    pub grad_norm: f64,
    /// ρa = π / max_x Δa(x) along v = −g/‖g‖ on the training split.
    pub rho_a: f64,
    /// Index of the binding sample (argmax Δa(x)) in the training split.
    pub binding_sample: u64,
    /// The binding sample's margin δ_b = z_y − z_c.
    pub binding_margin: f64,
    /// The binding sample's margin slope Δ_yc = a_y − a_c.
    pub binding_slope_gap: f64,
    /// δ* = ln(π|Δ_yc(b)|/2) (App. 5.5.3; spec §6.4).
    pub delta_star: f64,
    /// κ = vᵀHv of the mean training CE along v.
    pub kappa: f64,
    /// τ_H = 2/κ along v.
    pub tau_h: f64,
    /// Per sample (training-split order): margin δ_x = z_y − z_c.
    pub sample_margin: Vec<f64>,
    /// Per sample: margin slope Δ_yc(x) = a_y − a_c.
    pub sample_slope_gap: Vec<f64>,
}

/// Plain full-batch GD from `model.init(seed)` until the training loss is at
/// most the target (steps 2-3), then the measurement of step 4.
///
/// # Errors
/// An unknown architecture, a non-finite loss (divergence, named with η and
/// the step), or a zero gradient at the measurement.
pub fn one_run(
    cfg: &CrossoverMarginConfig,
    train: &Batch<f32>,
    eta: f64,
    seed: u64,
) -> Result<CrossoverRun> {
    let entry = zoo::arch::find(&cfg.arch)?;
    let model = entry.build_on::<f32>(&ArchConfig::default(), cfg.backend)?;
    let model64 = entry.build::<f64>(&ArchConfig::default());
    let mut state = model.init(seed);
    let mut steps = 0usize;
    let (out, converged) = loop {
        let out = model.loss_and_grad(&mut state, train, Mode::Eval);
        if !out.loss.is_finite() {
            bail!(
                "eta {eta} seed {seed}: training loss {} at step {steps} (GD diverged)",
                out.loss
            );
        }
        if out.loss <= cfg.loss_target || steps == cfg.max_steps {
            let converged = out.loss <= cfg.loss_target;
            break (out, converged);
        }
        state.params.axpy(-eta, &out.grad);
        steps += 1;
    };
    let grad_norm = out.grad.norm();
    if !(grad_norm.is_finite() && grad_norm > 0.0) {
        bail!("eta {eta} seed {seed}: gradient norm {grad_norm} at the measurement");
    }
    let mut v = out.grad.normalized();
    v.scale(-1.0);
    let jvp = model.jvp(&state, &train.x, &v);
    let k = model.classes;
    let z: Vec<f64> = jvp.logits.data.iter().map(|&x| x as f64).collect();
    let a: Vec<f64> = jvp.slopes.data.iter().map(|&x| x as f64).collect();
    let set = radius::set_rho_a(&radius::spreads_of_rows(&a, k), radius::Aggregation::Max);
    let b = set
        .bottleneck
        .context("no binding sample (empty training set)")?;
    let (mut sample_margin, mut sample_slope_gap) = (
        Vec::with_capacity(train.len()),
        Vec::with_capacity(train.len()),
    );
    for (i, &y) in train.labels.iter().enumerate() {
        let (zi, ai) = (&z[i * k..(i + 1) * k], &a[i * k..(i + 1) * k]);
        let c = (0..k)
            .filter(|&j| j != y)
            .fold(None, |best: Option<usize>, j| match best {
                Some(m) if zi[m] >= zi[j] => Some(m),
                _ => Some(j),
            })
            .context("fewer than 2 classes")?;
        sample_margin.push(zi[y] - zi[c]);
        sample_slope_gap.push(ai[y] - ai[c]);
    }
    let kappa = directional_curvature(
        &model64,
        &cast_state(&state),
        &train.cast(),
        &v.cast(),
        cfg.hvp_eps,
    );
    Ok(CrossoverRun {
        eta,
        seed,
        converged,
        steps: steps as u64,
        train_loss: out.loss,
        train_accuracy: zoo::accuracy(&jvp.logits, &train.labels),
        grad_norm,
        rho_a: set.rho_a,
        binding_sample: b as u64,
        binding_margin: sample_margin[b],
        binding_slope_gap: sample_slope_gap[b],
        delta_star: radius::logistic::crossover_margin(sample_slope_gap[b]),
        kappa,
        tau_h: 2.0 / kappa,
        sample_margin,
        sample_slope_gap,
    })
}

impl Study for CrossoverMargin {
    const ID: &'static str = "crossover-margin";
    const TITLE: &'static str =
        "Crossover margin against the learning rate at convergence (App. 5.5.3; the spec's proposal)";
    type Config = CrossoverMarginConfig;
    type Spec = (f64, u64);
    type Inputs = Batch<f32>;
    type Run = CrossoverRun;
    type Summary = CrossoverSummary;

    fn inputs(cfg: &CrossoverMarginConfig) -> Result<Batch<f32>> {
        let digits = data::load_default_digits()?;
        let split = data::stratified_split(&digits.labels, cfg.test_ratio, cfg.split_seed);
        Ok(Batch::from_digits(&digits, &split.train))
    }

    /// One job per (η, seed); the smallest η (the most steps) first.
    fn jobs(cfg: &CrossoverMarginConfig) -> Vec<Job<(f64, u64)>> {
        let mut etas = cfg.learning_rates.clone();
        etas.sort_by(f64::total_cmp);
        etas.iter()
            .flat_map(|&eta| {
                cfg.seeds.iter().map(move |&seed| Job {
                    key: RunKey::new(SCHEMA, cfg, &format!("eta{eta}-seed{seed}")),
                    label: format!("eta {eta} seed {seed}"),
                    spec: (eta, seed),
                })
            })
            .collect()
    }

    /// GD steps scale as 1/η.
    fn cost(_: &CrossoverMarginConfig, &(eta, _): &(f64, u64)) -> f64 {
        1.0 / eta
    }

    fn run_one(
        cfg: &CrossoverMarginConfig,
        train: &Batch<f32>,
        &(eta, seed): &(f64, u64),
    ) -> Result<CrossoverRun> {
        one_run(cfg, train, eta, seed)
    }

    fn note(run: &CrossoverRun) -> String {
        format!(
            "{} steps{}, loss {:.4}, delta* {:.3}, tau_H {:.3}",
            run.steps,
            if run.converged {
                ""
            } else {
                " (not converged)"
            },
            run.train_loss,
            run.delta_star,
            run.tau_h
        )
    }

    /// One record: a row per training sample, the run's values repeated.
    fn to_frame(run: &CrossoverRun) -> Result<DataFrame> {
        to_frame(run)
    }

    fn from_frame(
        _: &CrossoverMarginConfig,
        _: &(f64, u64),
        f: &DataFrame,
    ) -> Result<CrossoverRun> {
        from_frame(f)
    }

    fn summarize(cfg: &CrossoverMarginConfig, runs: &[CrossoverRun]) -> CrossoverSummary {
        summary::summarize(cfg, runs)
    }

    fn config(summary: &CrossoverSummary) -> &CrossoverMarginConfig {
        &summary.config
    }

    fn render(ctx: &Context, summary: &CrossoverSummary, runs: &[CrossoverRun]) -> Result<Section> {
        render::render(ctx, summary, runs)
    }
}
