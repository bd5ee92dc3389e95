//! `theory`: the paper's closed-form figures, computed from the radius core.
//!
//! No training. Figures 2-5 and 13, the Appendix 4 KL check, and a
//! calibration of the exact radius ρ* against the bound ρa (the paper's
//! future-work item (i)):
//!
//! - Fig 2: Taylor polynomials of 1/(x + a) diverge beyond the radius R = a.
//! - Fig 3: σ(x), the derivative of log(1 + e^x), with the radius π marked.
//! - Fig 4: the terms w_k e^{a_k t} of F at t = iy with Δa·y < π lie in an
//!   open half-plane, so their sum cannot vanish (half-plane lemma).
//! - Fig 5: the t-plane of an example: the zero-free strip |Im t| < π/Δa, the
//!   disk |t| < ρa, and the certified nearest zero outside it.
//! - Fig 13: the Hessian step scale 1/σ(1−σ) grows like e^δ, the radius
//!   √(δ² + π²) only like δ; the ratio at δ = 10 is computed, not typed.
//! - Appendix 4: exact forward KL remainder against |τ|³Δa³/(18√3).

mod render;
#[cfg(test)]
mod tests;

use crate::config::check::{self, Check};
use crate::{Context, Experiment};
use analysis::report::Section;
use analysis::store::{read_json, write_json_atomic};
use anyhow::Result;
use num_complex::Complex64;
use radius::kl::{self, KL_REVERSE_CONSTANT};
use radius::logistic::{hessian_vs_radius, logistic_curvature, logistic_radius};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// The experiment (registered in [`crate::registry`]).
pub struct Theory;

/// Settings of the theory figures, read from `configs/theory.yaml` (paper
/// scale) or `configs/quick/theory.yaml` (CI); see those files for each key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TheoryConfig {
    /// Pole offset a of f(x) = 1/(x + a) (Fig 2).
    pub pole: f64,
    /// Taylor orders drawn in Fig 2.
    pub taylor_orders: Vec<usize>,
    /// Terms of the Fig 4 snapshot: logits (weights w_k = e^{z_k}).
    pub arc_logits: Vec<f64>,
    /// Terms of the Fig 4 snapshot: slopes.
    pub arc_slopes: Vec<f64>,
    /// Example sample for Fig 5: logits.
    pub example_logits: Vec<f64>,
    /// Example sample for Fig 5: slopes.
    pub example_slopes: Vec<f64>,
    /// Random cases of the Appendix 4 KL check.
    pub kl_cases: usize,
    /// Random cases per class count in the ρ*/ρa calibration.
    pub calibration_cases: usize,
    /// Class counts of the calibration.
    pub calibration_classes: Vec<usize>,
    /// Seed of every random draw.
    pub seed: u64,
}

impl crate::config::Validate for TheoryConfig {
    fn validate(&self) -> Check {
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        check::positive("pole", self.pole)?;
        check::that(
            self.arc_logits.len() == self.arc_slopes.len() && self.arc_slopes.len() >= 2,
            "arc_slopes",
            "expected one slope per entry of arc_logits (at least 2)",
        )?;
        check::that(
            finite(&self.arc_logits)
                && finite(&self.arc_slopes)
                && radius::delta_a(&self.arc_slopes) > 0.0,
            "arc_slopes",
            "expected finite values, not all equal",
        )?;
        check::that(
            self.example_logits.len() == self.example_slopes.len()
                && self.example_slopes.len() >= 2,
            "example_slopes",
            "expected one slope per entry of example_logits (at least 2)",
        )?;
        check::that(
            finite(&self.example_logits)
                && finite(&self.example_slopes)
                && radius::delta_a(&self.example_slopes) > 0.0,
            "example_slopes",
            "expected finite values, not all equal",
        )?;
        check::at_least("calibration_cases", self.calibration_cases, 1)?;
        check::that(
            !self.calibration_classes.is_empty()
                && self.calibration_classes.iter().all(|&k| k >= 2),
            "calibration_classes",
            "expected class counts of at least 2",
        )
    }
}

/// Curves and point sets behind the figures (stored as `results/theory/data.json`).
#[derive(Debug, Serialize, Deserialize)]
pub struct TheoryData {
    config: TheoryConfig,
    taylor_x: Vec<f64>,
    taylor_f: Vec<f64>,
    /// |T_n(x)| for each order in `config.taylor_orders`.
    taylor_abs: Vec<Vec<f64>>,
    sigmoid_x: Vec<f64>,
    sigmoid_y: Vec<f64>,
    /// Fig 4: the imaginary time y of the snapshot and the terms' phasors.
    arc_y: f64,
    arc_terms: Vec<(f64, f64)>,
    arc_sum: (f64, f64),
    /// Fig 5 example.
    example_delta_a: f64,
    example_rho_a: f64,
    example_rho_exact: f64,
    example_ghost: (f64, f64),
    example_rho_top2: f64,
    example_top2_ghost: Option<(f64, f64)>,
    /// Fig 13 curves over the margin δ.
    margin: Vec<f64>,
    inverse_curvature: Vec<f64>,
    hessian_step: Vec<f64>,
    logistic_radius: Vec<f64>,
    /// Appendix 4 demo along τ for z = (1, 2, 0.5), a = (0.3, -0.5, 0.8).
    kl_tau: Vec<f64>,
    kl_forward: Vec<f64>,
    kl_quadratic: Vec<f64>,
    kl_remainder: Vec<f64>,
    kl_bound: Vec<f64>,
    /// Random cases (the first [`KL_CASES_STORED`] of them; the summary's
    /// maxima cover all): (bound, |forward remainder|, |reverse remainder|).
    kl_random: Vec<(f64, f64, f64)>,
    /// Calibration: per class count, sorted ρ*/ρa and sorted ρ_top2/ρ*.
    calibration: Vec<(usize, Vec<f64>, Vec<f64>)>,
}

/// Headline numbers (`results/theory/summary.json`).
#[derive(Debug, Serialize, Deserialize)]
pub struct TheorySummary {
    /// σ(π), Fig 3's annotation.
    pub sigmoid_at_pi: f64,
    /// |T_15(x) − f(x)| / f(x) at x = R/2 (inside the radius).
    pub taylor15_rel_error_inside: f64,
    /// |T_15(x) − f(x)| / f(x) at x = 2R (outside).
    pub taylor15_rel_error_outside: f64,
    /// 1/f''(10).
    pub inverse_curvature_at_margin_10: f64,
    /// 2/f''(10).
    pub hessian_step_at_margin_10: f64,
    /// √(10² + π²).
    pub radius_at_margin_10: f64,
    /// (2/f'')/R at δ = 10 (the "> 4000×").
    pub hessian_step_over_radius_at_margin_10: f64,
    /// (1/f'')/R at δ = 10.
    pub inverse_curvature_over_radius_at_margin_10: f64,
    /// (π/R)/f'' at δ = 10 (Fig 13 caption's ratio).
    pub caption_ratio_at_margin_10: f64,
    /// Number of random KL cases.
    pub kl_cases: usize,
    /// max |KL_fwd − (τ²/2)Var| / (|τ|³Δa³/(18√3)) over the cases (≤ 1 if the bound holds).
    pub kl_forward_max_ratio: f64,
    /// max |KL_rev − (τ²/2)Var| / (|τ|³Δa³/(36√3)).
    pub kl_reverse_max_ratio: f64,
    /// Remainder / bound at the extremal two-point law, τ = 0.1.
    pub kl_two_point_ratio_tau_0_1: f64,
    /// Remainder / bound at the extremal two-point law, τ = 1.
    pub kl_two_point_ratio_tau_1: f64,
    /// Example (Fig 5): ρa, ρ*, and the ghost.
    pub example_rho_a: f64,
    /// Example's exact radius.
    pub example_rho_exact: f64,
    /// Example's ghost (Re, Im).
    pub example_ghost: (f64, f64),
    /// Calibration cases in total.
    pub calibration_cases: usize,
    /// min over cases of ρ*/ρa (the lemma says ≥ 1).
    pub calibration_min_ratio: f64,
    /// Median ρ*/ρa per class count.
    pub calibration_median_ratio: Vec<(usize, f64)>,
    /// Median ρ_top2/ρ* per class count.
    pub calibration_median_top2_over_exact: Vec<(usize, f64)>,
}

/// How many random KL cases are stored for the scatter plot.
const KL_CASES_STORED: usize = 3_000;

fn taylor_partial_sum(x: f64, pole: f64, order: usize) -> f64 {
    (0..=order).map(|k| (-x / pole).powi(k as i32) / pole).sum()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn compute(cfg: &TheoryConfig) -> Result<(TheoryData, TheorySummary)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);

    // Fig 2.
    let taylor_x = analysis::stats::logspace(-2.0, 2.0, 400);
    let taylor_f: Vec<f64> = taylor_x.iter().map(|x| 1.0 / (x + cfg.pole)).collect();
    let taylor_abs = cfg
        .taylor_orders
        .iter()
        .map(|&n| {
            taylor_x
                .iter()
                .map(|&x| taylor_partial_sum(x, cfg.pole, n).abs())
                .collect()
        })
        .collect();
    let rel15 = |x: f64| {
        (taylor_partial_sum(x, cfg.pole, 15) - 1.0 / (x + cfg.pole)).abs() * (x + cfg.pole)
    };

    // Fig 3.
    let sigmoid_x = analysis::stats::logspace(-2.0, 2.0, 500);
    let sigmoid_y = sigmoid_x.iter().map(|&x| sigmoid(x)).collect();

    // Fig 4: the terms at t = iy with Δa·y = 0.8π < π (inside the zero-free strip).
    let arc_y = 0.8 * PI / radius::delta_a(&cfg.arc_slopes);
    let amin = cfg.arc_slopes.iter().cloned().fold(f64::INFINITY, f64::min);
    let arc_terms: Vec<(f64, f64)> = cfg
        .arc_logits
        .iter()
        .zip(&cfg.arc_slopes)
        .map(|(z, a)| {
            let v = Complex64::from_polar(z.exp(), (a - amin) * arc_y);
            (v.re, v.im)
        })
        .collect();
    let arc_sum = arc_terms
        .iter()
        .fold((0.0, 0.0), |s, t| (s.0 + t.0, s.1 + t.1));

    // Fig 5 on the example sample.
    let (z, a) = (&cfg.example_logits, &cfg.example_slopes);
    let delta = radius::delta_a(a);
    let exact = radius::exact_radius(z, a)?;
    let ghost = exact.ghost.expect("example has distinct slopes");
    let t2 = radius::top2(z, a, None).expect("example has >= 2 classes");

    // Fig 13.
    let margin = analysis::stats::logspace(-1.0, 30f64.log10(), 300);
    let inverse_curvature = margin
        .iter()
        .map(|&d| 1.0 / logistic_curvature(d))
        .collect();
    let hessian_step = margin
        .iter()
        .map(|&d| 2.0 / logistic_curvature(d))
        .collect();
    let logistic_r = margin.iter().map(|&d| logistic_radius(d)).collect();
    let h10 = hessian_vs_radius(10.0);

    // Appendix 4 demo.
    let (kz, ka) = ([1.0, 2.0, 0.5], [0.3, -0.5, 0.8]);
    let kl_tau = analysis::stats::linspace(0.0, 1.5, 151);
    let kd = radius::delta_a(&ka);
    let kl_forward: Vec<f64> = kl_tau
        .iter()
        .map(|&t| kl::kl_forward(&kz, &ka, t))
        .collect();
    let kl_quadratic: Vec<f64> = kl_tau
        .iter()
        .map(|&t| kl::kl_quadratic_term(&kz, &ka, t))
        .collect();
    let kl_remainder = kl_forward
        .iter()
        .zip(&kl_quadratic)
        .map(|(f, q)| (f - q).abs())
        .collect();
    let kl_bound = kl_tau
        .iter()
        .map(|&t| kl::kl_remainder_bound(kd, t))
        .collect();

    // Appendix 4 random check.
    let mut kl_random = Vec::with_capacity(KL_CASES_STORED);
    let (mut fwd_max, mut rev_max) = (0.0f64, 0.0f64);
    for _ in 0..cfg.kl_cases {
        let k = rng.gen_range(2..=9);
        let z: Vec<f64> = (0..k).map(|_| rng.gen_range(-3.0..3.0)).collect();
        let a: Vec<f64> = (0..k).map(|_| rng.gen_range(-3.0..3.0)).collect();
        let tau = 10f64.powf(rng.gen_range(-2.0..0.0));
        let d = radius::delta_a(&a);
        let q = kl::kl_quadratic_term(&z, &a, tau);
        let fwd = (kl::kl_forward(&z, &a, tau) - q).abs();
        let rev = (kl::kl_reverse(&z, &a, tau) - q).abs();
        let bound = kl::kl_remainder_bound(d, tau);
        fwd_max = fwd_max.max(fwd / bound);
        rev_max = rev_max.max(rev / (KL_REVERSE_CONSTANT * (tau * d).powi(3)));
        if kl_random.len() < KL_CASES_STORED {
            kl_random.push((bound, fwd, rev));
        }
    }
    let p = kl::extremal_two_point_p();
    let (tz, ta) = ([p.ln(), (1.0 - p).ln()], [0.0, 1.0]);
    let two_point = |tau: f64| {
        (kl::kl_forward(&tz, &ta, tau) - kl::kl_quadratic_term(&tz, &ta, tau)).abs()
            / kl::kl_remainder_bound(1.0, tau)
    };

    // Calibration of ρ* against ρa (and of the top-2 reduction against ρ*).
    let mut calibration = Vec::new();
    let mut min_ratio = f64::INFINITY;
    for &k in &cfg.calibration_classes {
        let mut ratios = Vec::with_capacity(cfg.calibration_cases);
        let mut top2_ratios = Vec::with_capacity(cfg.calibration_cases);
        for _ in 0..cfg.calibration_cases {
            let z: Vec<f64> = (0..k).map(|_| rng.gen_range(-5.0..5.0)).collect();
            let a: Vec<f64> = (0..k).map(|_| rng.gen_range(-3.0..3.0)).collect();
            let e = radius::exact_radius(&z, &a)?;
            let ratio = e.rho_exact / radius::rho_a(&a);
            min_ratio = min_ratio.min(ratio);
            ratios.push(ratio);
            if let Some(t) = radius::top2(&z, &a, None) {
                top2_ratios.push(t.rho_top2 / e.rho_exact);
            }
        }
        ratios.sort_by(f64::total_cmp);
        top2_ratios.sort_by(f64::total_cmp);
        calibration.push((k, ratios, top2_ratios));
    }

    let summary = TheorySummary {
        sigmoid_at_pi: sigmoid(PI),
        taylor15_rel_error_inside: rel15(cfg.pole / 2.0),
        taylor15_rel_error_outside: rel15(cfg.pole * 2.0),
        inverse_curvature_at_margin_10: 1.0 / h10.curvature,
        hessian_step_at_margin_10: h10.hessian_step,
        radius_at_margin_10: h10.radius,
        hessian_step_over_radius_at_margin_10: h10.hessian_step_over_radius,
        inverse_curvature_over_radius_at_margin_10: h10.inverse_curvature_over_radius,
        caption_ratio_at_margin_10: h10.caption_ratio,
        kl_cases: cfg.kl_cases,
        kl_forward_max_ratio: fwd_max,
        kl_reverse_max_ratio: rev_max,
        kl_two_point_ratio_tau_0_1: two_point(0.1),
        kl_two_point_ratio_tau_1: two_point(1.0),
        example_rho_a: radius::rho_a(a),
        example_rho_exact: exact.rho_exact,
        example_ghost: (ghost.re, ghost.im),
        calibration_cases: cfg.calibration_cases * cfg.calibration_classes.len(),
        calibration_min_ratio: min_ratio,
        calibration_median_ratio: calibration
            .iter()
            .map(|(k, r, _)| (*k, analysis::stats::median(r)))
            .collect(),
        calibration_median_top2_over_exact: calibration
            .iter()
            .map(|(k, _, t)| (*k, analysis::stats::median(t)))
            .collect(),
    };
    let data = TheoryData {
        config: cfg.clone(),
        taylor_x,
        taylor_f,
        taylor_abs,
        sigmoid_x,
        sigmoid_y,
        arc_y,
        arc_terms,
        arc_sum,
        example_delta_a: delta,
        example_rho_a: radius::rho_a(a),
        example_rho_exact: exact.rho_exact,
        example_ghost: (ghost.re, ghost.im),
        example_rho_top2: t2.rho_top2,
        example_top2_ghost: t2.ghost.map(|g| (g.re, g.im)),
        margin,
        inverse_curvature,
        hessian_step,
        logistic_radius: logistic_r,
        kl_tau,
        kl_forward,
        kl_quadratic,
        kl_remainder,
        kl_bound,
        kl_random,
        calibration,
    };
    Ok((data, summary))
}

impl Experiment for Theory {
    fn id(&self) -> &'static str {
        "theory"
    }

    fn title(&self) -> &'static str {
        "Theory figures (Figs 2-5, 13; Appendix 4; exact-radius calibration)"
    }

    fn check_config(&self, path: &std::path::Path) -> Result<()> {
        crate::check_config_as::<TheoryConfig>(path)
    }

    fn run(&self, ctx: &Context) -> Result<()> {
        let cfg = ctx.load_config::<TheoryConfig>(self.id())?;
        let (data, summary) = compute(&cfg.value)?;
        let dir = ctx.results_dir(self.id());
        write_json_atomic(dir.join("data.json"), &data)?;
        write_json_atomic(dir.join("summary.json"), &summary)?;
        ctx.save_config(self.id(), &cfg)
    }

    fn render(&self, ctx: &Context) -> Result<Section> {
        let dir = ctx.results_dir(self.id());
        let data: TheoryData = read_json(dir.join("data.json"))?;
        let summary: TheorySummary = read_json(dir.join("summary.json"))?;
        render::render(self, ctx, &data, &summary)
    }
}
