//! The statistics of `crossover-margin` (`summary.json`): the per-sample
//! crossover test τ_H(x) against ρ(x), the empirical crossover margin, the
//! least-squares fits against ln η, and per-η medians over seeds.

use super::{CrossoverMarginConfig, CrossoverRun};
use analysis::stats::nan_median;
use analysis::store::nullable_f64;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// τ_H(x)/ρ(x) of one sample along a direction (App. 5, spec T10): the
/// logistic quadratic step τ_H(x) = 2/(σ(δ)(1−σ(δ))·Δ_yc²) over the ghost
/// radius ρ(x) = π/|Δ_yc|, i.e. 2/(π·σ(1−σ)·|Δ_yc|). +∞ when Δ_yc = 0.
pub fn hessian_over_radius(margin: f64, slope_gap: f64) -> f64 {
    2.0 / (PI * radius::logistic::logistic_curvature(margin) * slope_gap.abs())
}

/// The empirical crossover margin over samples (δ_x, Δ_yc(x)): the
/// threshold m on |δ_x| that best separates the samples with
/// τ_H(x) < ρ(x) (expected below m: the Hessian step is the smaller one)
/// from those with τ_H(x) ≥ ρ(x) (expected above m), i.e. that minimises
/// #{|δ| < m, τ_H ≥ ρ} + #{|δ| > m, τ_H < ρ}. m is the midpoint between the
/// two |δ| values around the best split; among equally good splits the
/// middle one (the lower of two middles). Returns (m, share of samples on
/// the expected side); m is NaN when every sample is on one side (no
/// crossover among the samples).
pub fn empirical_crossover(margins: &[f64], slope_gaps: &[f64]) -> (f64, f64) {
    let mut pts: Vec<(f64, bool)> = margins
        .iter()
        .zip(slope_gaps)
        .map(|(&d, &s)| (d.abs(), hessian_over_radius(d, s) < 1.0))
        .filter(|(d, _)| d.is_finite())
        .collect();
    let n = pts.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let below = pts.iter().filter(|p| p.1).count();
    if below == 0 || below == n {
        return (f64::NAN, 1.0);
    }
    // Split j puts the j smallest |δ| below m: errors = (τ_H ≥ ρ among
    // them) + (τ_H < ρ among the rest).
    let mut errors = Vec::with_capacity(n + 1);
    let (mut above_left, mut below_right) = (0usize, below);
    errors.push(below_right);
    for p in &pts {
        if p.1 {
            below_right -= 1;
        } else {
            above_left += 1;
        }
        errors.push(above_left + below_right);
    }
    let best = *errors.iter().min().unwrap_or(&0);
    // Only splits between two distinct |δ| values (or at the ends) are real.
    let splits: Vec<usize> = (0..=n)
        .filter(|&j| errors[j] == best && (j == 0 || j == n || pts[j - 1].0 < pts[j].0))
        .collect();
    let j = splits[(splits.len() - 1) / 2];
    let m = match j {
        0 => pts[0].0,
        j if j == n => pts[n - 1].0,
        j => 0.5 * (pts[j - 1].0 + pts[j].0),
    };
    (m, 1.0 - best as f64 / n as f64)
}

/// A least-squares line y = A + B·x with its coefficient of determination.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// Intercept A.
    #[serde(with = "nullable_f64")]
    pub intercept: f64,
    /// Slope B.
    #[serde(with = "nullable_f64")]
    pub slope: f64,
    /// R² = 1 − SS_res/SS_tot (NaN when every y is equal or fewer than 3 points).
    #[serde(with = "nullable_f64")]
    pub r_squared: f64,
    /// Points fitted (finite x and y).
    pub points: usize,
}

/// Ordinary least squares of `y` on `x` over the pairs where both are finite.
pub fn fit_line(x: &[f64], y: &[f64]) -> Fit {
    let pts: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(&a, &b)| (a, b))
        .collect();
    let n = pts.len() as f64;
    let nan = Fit {
        intercept: f64::NAN,
        slope: f64::NAN,
        r_squared: f64::NAN,
        points: pts.len(),
    };
    if pts.len() < 2 {
        return nan;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx == 0.0 {
        return nan;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss_res: f64 = pts
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let r_squared = if pts.len() >= 3 && syy > 0.0 {
        1.0 - ss_res / syy
    } else {
        f64::NAN
    };
    Fit {
        intercept,
        slope,
        r_squared,
        points: pts.len(),
    }
}

/// One learning rate: medians over its converged seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateSummary {
    /// η.
    pub eta: f64,
    /// Seeds that reached the loss target.
    pub converged: usize,
    /// Seeds run.
    pub seeds: usize,
    /// Median GD steps to the target.
    pub steps_median: f64,
    /// Median training accuracy at convergence.
    pub train_accuracy_median: f64,
    /// Median ρa along −g.
    #[serde(with = "nullable_f64")]
    pub rho_a_median: f64,
    /// Median binding-sample margin δ_b.
    #[serde(with = "nullable_f64")]
    pub binding_margin_median: f64,
    /// Median binding-sample |Δ_yc|.
    #[serde(with = "nullable_f64")]
    pub binding_slope_gap_median: f64,
    /// Median δ* = ln(π|Δ_yc(b)|/2).
    #[serde(with = "nullable_f64")]
    pub delta_star_median: f64,
    /// Median empirical crossover margin δ_emp (NaN seeds left out).
    #[serde(with = "nullable_f64")]
    pub delta_emp_median: f64,
    /// Median share of samples on the expected side of δ_emp.
    #[serde(with = "nullable_f64")]
    pub delta_emp_agreement_median: f64,
    /// Median share of samples with τ_H(x) < ρ(x).
    #[serde(with = "nullable_f64")]
    pub share_tau_h_below_rho_median: f64,
    /// Median τ_H = 2/vᵀHv along −g.
    #[serde(with = "nullable_f64")]
    pub tau_h_median: f64,
}

/// `results/crossover-margin/summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrossoverSummary {
    /// Settings used.
    pub config: CrossoverMarginConfig,
    /// Per η, increasing.
    pub rates: Vec<RateSummary>,
    /// Runs that reached the loss target, of all runs.
    pub converged_runs: (usize, usize),
    /// δ* = A + B·ln η over every converged run (the paper's claim).
    pub delta_star_fit: Fit,
    /// The same fit over the per-η medians.
    pub delta_star_fit_of_medians: Fit,
    /// δ_emp = A' + B'·ln η over every converged run with a crossover.
    pub delta_emp_fit: Fit,
    /// ln τ_H = A'' + B''·ln η along −g (edge of stability: B'' ≈ 1).
    pub log_tau_h_fit: Fit,
}

/// The per-run derived values the summary and render use: (δ_emp,
/// agreement, share of samples with τ_H(x) < ρ(x)).
pub fn run_crossover(run: &CrossoverRun) -> (f64, f64, f64) {
    let (m, agree) = empirical_crossover(&run.sample_margin, &run.sample_slope_gap);
    let below = run
        .sample_margin
        .iter()
        .zip(&run.sample_slope_gap)
        .filter(|(&d, &s)| hessian_over_radius(d, s) < 1.0)
        .count();
    (
        m,
        agree,
        below as f64 / run.sample_margin.len().max(1) as f64,
    )
}

pub(super) fn summarize(cfg: &CrossoverMarginConfig, runs: &[CrossoverRun]) -> CrossoverSummary {
    let mut etas = cfg.learning_rates.clone();
    etas.sort_by(f64::total_cmp);
    let conv: Vec<&CrossoverRun> = runs.iter().filter(|r| r.converged).collect();
    let derived: Vec<(f64, f64, f64)> = conv.iter().map(|r| run_crossover(r)).collect();
    let rates = etas
        .iter()
        .map(|&eta| {
            let idx: Vec<usize> = (0..conv.len()).filter(|&i| conv[i].eta == eta).collect();
            let med = |f: &dyn Fn(usize) -> f64| {
                nan_median(&idx.iter().map(|&i| f(i)).collect::<Vec<_>>())
            };
            RateSummary {
                eta,
                converged: idx.len(),
                seeds: runs.iter().filter(|r| r.eta == eta).count(),
                steps_median: med(&|i| conv[i].steps as f64),
                train_accuracy_median: med(&|i| conv[i].train_accuracy),
                rho_a_median: med(&|i| conv[i].rho_a),
                binding_margin_median: med(&|i| conv[i].binding_margin),
                binding_slope_gap_median: med(&|i| conv[i].binding_slope_gap.abs()),
                delta_star_median: med(&|i| conv[i].delta_star),
                delta_emp_median: med(&|i| derived[i].0),
                delta_emp_agreement_median: med(&|i| derived[i].1),
                share_tau_h_below_rho_median: med(&|i| derived[i].2),
                tau_h_median: med(&|i| conv[i].tau_h),
            }
        })
        .collect::<Vec<_>>();
    let ln_eta: Vec<f64> = conv.iter().map(|r| r.eta.ln()).collect();
    let delta_star: Vec<f64> = conv.iter().map(|r| r.delta_star).collect();
    let delta_emp: Vec<f64> = derived.iter().map(|d| d.0).collect();
    let ln_tau: Vec<f64> = conv.iter().map(|r| r.tau_h.ln()).collect();
    let rate_ln: Vec<f64> = rates.iter().map(|r: &RateSummary| r.eta.ln()).collect();
    let rate_ds: Vec<f64> = rates.iter().map(|r| r.delta_star_median).collect();
    CrossoverSummary {
        config: cfg.clone(),
        converged_runs: (conv.len(), runs.len()),
        delta_star_fit: fit_line(&ln_eta, &delta_star),
        delta_star_fit_of_medians: fit_line(&rate_ln, &rate_ds),
        delta_emp_fit: fit_line(&ln_eta, &delta_emp),
        log_tau_h_fit: fit_line(&ln_eta, &ln_tau),
        rates,
    }
}
