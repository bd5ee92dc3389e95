//! The statistics of `hessian-stages` (`summary.json`): per seed and stage
//! the author's per-stage numbers (median τ_H/ρa over the random
//! directions, onsets at loss ratio 1.1 of the gradient and the
//! random-median curves, loss ratios at the grid point nearest r = 1,
//! spec §6.2), their medians over seeds, and the claims of App. 5.4 over
//! every direction.

use super::{HessianStagesConfig, SeedRun, StageResult};
use analysis::stats::{nan_median, per_index_quantiles};
use analysis::store::nullable_f64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// First grid r whose loss ratio is at least `threshold` (a NaN loss counts
/// as reaching it); NaN if none (spec §6.2's onset).
pub fn onset(r: &[f64], loss_ratio: &[f64], threshold: f64) -> f64 {
    r.iter()
        .zip(loss_ratio)
        .find(|(_, &l)| !(l < threshold))
        .map_or(f64::NAN, |(&r, _)| r)
}

/// The pointwise median over curves of equal length (NaN-aware).
pub fn pointwise_median(curves: &[&[f64]]) -> Vec<f64> {
    let n = curves.first().map_or(0, |c| c.len());
    per_index_quantiles(curves, n, |c, i| c[i], &[0.5]).remove(0)
}

/// The random-median loss-ratio curve of a stage: per r, the median over
/// its random directions.
pub fn random_median_curve(s: &StageResult) -> Vec<f64> {
    let curves: Vec<&[f64]> = s.random().iter().map(|d| d.loss_ratio.as_slice()).collect();
    pointwise_median(&curves)
}

/// One seed at one stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedStage {
    /// Training seed.
    pub seed: u64,
    /// The threshold was reached (else the snapshot is the final model).
    pub reached: bool,
    /// Optimiser steps before the snapshot.
    pub step: usize,
    /// Test accuracy at the snapshot.
    pub test_accuracy: f64,
    /// Median over the random directions of τ_H/ρa.
    #[serde(with = "nullable_f64")]
    pub hess_ratio_random_median: f64,
    /// τ_H/ρa of the gradient direction.
    #[serde(with = "nullable_f64")]
    pub hess_ratio_gradient: f64,
    /// Smallest τ_H/ρa over the random directions.
    #[serde(with = "nullable_f64")]
    pub hess_ratio_random_min: f64,
    /// ρa of the gradient direction.
    pub rho_a_gradient: f64,
    /// Median ρa over the random directions.
    pub rho_a_random_median: f64,
    /// Onset (first r with loss ratio >= `onset_ratio`) of the gradient curve; NaN if none.
    #[serde(with = "nullable_f64")]
    pub onset_gradient: f64,
    /// Onset of the random-median curve; NaN if none.
    #[serde(with = "nullable_f64")]
    pub onset_random_median: f64,
    /// Loss ratio of the gradient at the grid point nearest r = 1.
    #[serde(with = "nullable_f64")]
    pub loss_ratio_near_one_gradient: f64,
    /// Random-median loss ratio at the grid point nearest r = 1.
    #[serde(with = "nullable_f64")]
    pub loss_ratio_near_one_random_median: f64,
    /// First grid r where the gradient's loss ratio is at least 2; NaN if none.
    #[serde(with = "nullable_f64")]
    pub first_r_ratio_2_gradient: f64,
    /// Random directions with ρa < τ_H.
    pub random_rho_below_tau_h: usize,
}

/// One stage over seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageSummary {
    /// Accuracy threshold of the stage.
    pub threshold: f64,
    /// Per seed, in config order.
    pub seeds: Vec<SeedStage>,
    /// Seeds that reached the threshold.
    pub reached: usize,
    /// Smallest and largest test accuracy over seeds.
    pub test_accuracy_range: (f64, f64),
    /// Smallest and largest snapshot step over seeds.
    pub step_range: (usize, usize),
    /// Median over seeds of the per-seed median τ_H/ρa (the author's "median τ_H/ρa").
    #[serde(with = "nullable_f64")]
    pub hess_ratio_median: f64,
    /// Median over seeds of the gradient's τ_H/ρa.
    #[serde(with = "nullable_f64")]
    pub hess_ratio_gradient_median: f64,
    /// Median over seeds of the gradient onset.
    #[serde(with = "nullable_f64")]
    pub onset_gradient_median: f64,
    /// Median over seeds of the random-median onset.
    #[serde(with = "nullable_f64")]
    pub onset_random_median: f64,
    /// Share of seeds whose random-median onset lies in `near_one` (spec: frac_near_1).
    pub frac_near_1: f64,
    /// Median over seeds of the gradient's loss ratio nearest r = 1.
    #[serde(with = "nullable_f64")]
    pub loss_ratio_near_one_gradient: f64,
    /// Median over seeds of the random-median loss ratio nearest r = 1.
    #[serde(with = "nullable_f64")]
    pub loss_ratio_near_one_random: f64,
    /// Random directions with ρa < τ_H, over all seeds.
    pub random_rho_below_tau_h: usize,
    /// Random directions, over all seeds.
    pub random_directions: usize,
}

/// `results/hessian-stages/summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HessianStagesSummary {
    /// Settings used.
    pub config: HessianStagesConfig,
    /// The grid point nearest r = 1.
    pub r_near_one: f64,
    /// Per stage, by config name.
    pub stages: BTreeMap<String, StageSummary>,
    /// Random directions with ρa < τ_H over every seed and stage (App. 5.4:
    /// "every time").
    pub random_rho_below_tau_h: usize,
    /// Gradient directions with ρa < τ_H over every seed and stage.
    pub gradient_rho_below_tau_h: usize,
    /// Directions of each kind checked: random, gradient.
    pub directions_checked: (usize, usize),
    /// Share of random directions (every seed and stage) with τ_H/ρa in
    /// [10, 100] (App. 5.4: "typically 10-100x").
    pub share_random_ratio_10_to_100: f64,
    /// Median τ_H/ρa over every random direction of every seed and stage.
    #[serde(with = "nullable_f64")]
    pub hess_ratio_all_random_median: f64,
}

fn seed_stage(cfg: &HessianStagesConfig, r: &[f64], seed: u64, s: &StageResult) -> SeedStage {
    let i1 = cfg.r_near_one_index();
    let g = s.gradient();
    let rand = s.random();
    let ratios: Vec<f64> = rand.iter().map(|d| d.hess_ratio).collect();
    let med_curve = random_median_curve(s);
    SeedStage {
        seed,
        reached: s.reached,
        step: s.step,
        test_accuracy: s.test_accuracy,
        hess_ratio_random_median: nan_median(&ratios),
        hess_ratio_gradient: g.hess_ratio,
        hess_ratio_random_min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
        rho_a_gradient: g.rho_a,
        rho_a_random_median: nan_median(&rand.iter().map(|d| d.rho_a).collect::<Vec<_>>()),
        onset_gradient: onset(r, &g.loss_ratio, cfg.onset_ratio),
        onset_random_median: onset(r, &med_curve, cfg.onset_ratio),
        loss_ratio_near_one_gradient: g.loss_ratio[i1],
        loss_ratio_near_one_random_median: med_curve[i1],
        first_r_ratio_2_gradient: onset(r, &g.loss_ratio, 2.0),
        random_rho_below_tau_h: rand.iter().filter(|d| d.rho_a < d.tau_h).count(),
    }
}

pub(super) fn summarize(cfg: &HessianStagesConfig, runs: &[SeedRun]) -> HessianStagesSummary {
    let r = cfg.r_grid();
    let mut stages = BTreeMap::new();
    let (mut rand_below, mut grad_below, mut n_rand, mut n_grad) = (0, 0, 0, 0);
    let mut all_ratios = Vec::new();
    for (si, target) in cfg.stages.iter().enumerate() {
        let per: Vec<SeedStage> = runs
            .iter()
            .map(|run| seed_stage(cfg, &r, run.seed, &run.stages[si]))
            .collect();
        for run in runs {
            let s = &run.stages[si];
            for d in s.random() {
                all_ratios.push(d.hess_ratio);
                rand_below += usize::from(d.rho_a < d.tau_h);
                n_rand += 1;
            }
            grad_below += usize::from(s.gradient().rho_a < s.gradient().tau_h);
            n_grad += 1;
        }
        let med = |f: fn(&SeedStage) -> f64| nan_median(&per.iter().map(f).collect::<Vec<_>>());
        let acc: Vec<f64> = per.iter().map(|s| s.test_accuracy).collect();
        let steps: Vec<usize> = per.iter().map(|s| s.step).collect();
        let [lo, hi] = cfg.near_one;
        let near = per
            .iter()
            .filter(|s| s.onset_random_median >= lo && s.onset_random_median <= hi)
            .count();
        stages.insert(
            target.name.clone(),
            StageSummary {
                threshold: target.accuracy,
                reached: per.iter().filter(|s| s.reached).count(),
                test_accuracy_range: (
                    acc.iter().copied().fold(f64::INFINITY, f64::min),
                    acc.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                ),
                step_range: (
                    steps.iter().copied().min().unwrap_or(0),
                    steps.iter().copied().max().unwrap_or(0),
                ),
                hess_ratio_median: med(|s| s.hess_ratio_random_median),
                hess_ratio_gradient_median: med(|s| s.hess_ratio_gradient),
                onset_gradient_median: med(|s| s.onset_gradient),
                onset_random_median: med(|s| s.onset_random_median),
                frac_near_1: near as f64 / per.len().max(1) as f64,
                loss_ratio_near_one_gradient: med(|s| s.loss_ratio_near_one_gradient),
                loss_ratio_near_one_random: med(|s| s.loss_ratio_near_one_random_median),
                random_rho_below_tau_h: per.iter().map(|s| s.random_rho_below_tau_h).sum(),
                random_directions: per.len() * cfg.random_directions,
                seeds: per,
            },
        );
    }
    let in_band = all_ratios
        .iter()
        .filter(|&&x| (10.0..=100.0).contains(&x))
        .count();
    HessianStagesSummary {
        config: cfg.clone(),
        r_near_one: r[cfg.r_near_one_index()],
        stages,
        random_rho_below_tau_h: rand_below,
        gradient_rho_below_tau_h: grad_below,
        directions_checked: (n_rand, n_grad),
        share_random_ratio_10_to_100: in_band as f64 / all_ratios.len().max(1) as f64,
        hess_ratio_all_random_median: nan_median(&all_ratios),
    }
}
