//! The headline numbers of `random-directions` (`summary.json`): per stage,
//! the first seed's value and the median over seeds, and the claims checked
//! over every seed and stage.

use super::{DirectionResult, RandomDirectionsConfig, SeedRun, StageResult};
use analysis::stats::nan_median;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Serde adapter for an `f64` that may be non-finite: written as a number,
/// or as the string "inf", "-inf" or "NaN" (JSON has no such numbers), and
/// read back exactly.
mod f64_or_text {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_str(&x.to_string())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Num {
            F(f64),
            S(String),
        }
        match Num::deserialize(d)? {
            Num::F(x) => Ok(x),
            Num::S(s) => s.parse().map_err(D::Error::custom),
        }
    }
}

/// A statistic as the first seed has it and as the median over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeedStat {
    /// The first seed's value (the paper shows one training seed).
    #[serde(with = "f64_or_text")]
    pub first_seed: f64,
    /// Median over all seeds.
    #[serde(with = "f64_or_text")]
    pub median_over_seeds: f64,
}

impl SeedStat {
    fn of(values: &[f64]) -> SeedStat {
        SeedStat {
            first_seed: values.first().copied().unwrap_or(f64::NAN),
            median_over_seeds: nan_median(values),
        }
    }
}

/// Per-stage statistics of one seed (medians over random directions).
#[derive(Debug, Clone, Copy)]
struct StageStats {
    stage_accuracy: f64,
    loss_ratio_at_r1_grad: f64,
    loss_ratio_at_r1_random: f64,
    flip_at_r1_grad: f64,
    flip_at_r1_random: f64,
    hessian_ratio_median: f64,
    hessian_ratio_grad: f64,
    rho_a_grad: f64,
    rho_a_random_median: f64,
    first_r_grad: f64,
    first_r_random_median: f64,
    fraction_rho_below_tau_h: f64,
}

/// First grid r whose loss ratio exceeds `threshold` (strict, as the
/// author's code; a NaN loss counts as exceeding); +∞ if none.
pub(super) fn first_r_above(r: &[f64], loss_ratio: &[f64], threshold: f64) -> f64 {
    r.iter()
        .zip(loss_ratio)
        .find(|(_, &l)| !(l <= threshold))
        .map_or(f64::INFINITY, |(&r, _)| r)
}

fn stage_stats(cfg: &RandomDirectionsConfig, r: &[f64], s: &StageResult) -> StageStats {
    let i1 = cfg.r_one_index();
    let g = s.gradient();
    let rand = s.random();
    let med =
        |f: &dyn Fn(&DirectionResult) -> f64| nan_median(&rand.iter().map(f).collect::<Vec<_>>());
    let thr = cfg.loss_ratio_threshold;
    StageStats {
        stage_accuracy: s.accuracy,
        loss_ratio_at_r1_grad: g.loss_ratio[i1],
        loss_ratio_at_r1_random: med(&|d| d.loss_ratio[i1]),
        flip_at_r1_grad: g.flip[i1],
        flip_at_r1_random: med(&|d| d.flip[i1]),
        hessian_ratio_median: med(&|d| d.hess_ratio),
        hessian_ratio_grad: g.hess_ratio,
        rho_a_grad: g.rho_a,
        rho_a_random_median: med(&|d| d.rho_a),
        first_r_grad: first_r_above(r, &g.loss_ratio, thr),
        first_r_random_median: med(&|d| first_r_above(r, &d.loss_ratio, thr)),
        fraction_rho_below_tau_h: rand.iter().filter(|d| d.rho_a < d.tau_h).count() as f64
            / rand.len() as f64,
    }
}

/// Per-stage summary: first seed and median over seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageSummary {
    /// SGD steps of the stage.
    pub steps: usize,
    /// Training accuracy.
    pub stage_accuracy: SeedStat,
    /// Loss ratio at r = 1 along the gradient direction.
    pub loss_ratio_at_r1_grad: SeedStat,
    /// Median over random directions of the loss ratio at r = 1.
    pub loss_ratio_at_r1_random: SeedStat,
    /// Flip fraction at r = 1 along the gradient.
    pub flip_at_r1_grad: SeedStat,
    /// Median over random directions of the flip fraction at r = 1.
    pub flip_at_r1_random: SeedStat,
    /// Median over random directions of τ_H/ρa.
    pub hessian_ratio_median: SeedStat,
    /// τ_H/ρa of the gradient direction.
    pub hessian_ratio_grad: SeedStat,
    /// ρa of the gradient direction.
    pub rho_a_grad: SeedStat,
    /// Median ρa over random directions.
    pub rho_a_random_median: SeedStat,
    /// First grid r with loss ratio > threshold along the gradient (inf: none).
    pub first_r_loss_ratio_above_2_grad: SeedStat,
    /// Median over random directions of that first r.
    pub first_r_loss_ratio_above_2_random_median: SeedStat,
    /// Share of random directions with ρa < τ_H.
    pub fraction_rho_below_tau_h: SeedStat,
}

/// The claims checked over every seed and stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checks {
    /// Loss ratio at r = 1 below the threshold for the gradient and the
    /// random median, at every stage of every seed.
    pub loss_ratio_at_r1_below_threshold: bool,
    /// ρa < τ_H for every direction (gradient included) of every stage and seed.
    pub rho_below_tau_h_every_direction: bool,
    /// Directions checked for the previous line.
    pub directions_checked: usize,
    /// The gradient crosses the threshold no later than the random median,
    /// at every stage of every seed ("the gradient degrades earlier").
    pub gradient_crosses_first: bool,
    /// Smallest and largest first crossing (random median) over seeds and stages.
    pub first_crossing_random_range: (f64, f64),
    /// Smallest and largest first crossing (gradient) over seeds and stages.
    pub first_crossing_grad_range: (f64, f64),
}

/// `results/random-directions/summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RandomDirectionsSummary {
    /// Settings used.
    pub config: RandomDirectionsConfig,
    /// The seed the figure shows (the first).
    pub first_seed: u64,
    /// Per stage, by config name.
    pub stages: BTreeMap<String, StageSummary>,
    /// The claims over all seeds and stages.
    pub checks: Checks,
}

pub(super) fn summarize(cfg: &RandomDirectionsConfig, runs: &[SeedRun]) -> RandomDirectionsSummary {
    let mut stages = BTreeMap::new();
    let (mut below, mut rho_ok, mut grad_first, mut checked) = (true, true, true, 0);
    let (mut fr, mut fg) = (Vec::new(), Vec::new());
    for (si, st) in cfg.stages.iter().enumerate() {
        let per: Vec<StageStats> = runs
            .iter()
            .map(|run| stage_stats(cfg, &run.r, &run.stages[si]))
            .collect();
        for (run, s) in runs.iter().zip(&per) {
            below &= s.loss_ratio_at_r1_grad < cfg.loss_ratio_threshold
                && s.loss_ratio_at_r1_random < cfg.loss_ratio_threshold;
            grad_first &= s.first_r_grad <= s.first_r_random_median;
            fr.push(s.first_r_random_median);
            fg.push(s.first_r_grad);
            for d in &run.stages[si].directions {
                rho_ok &= d.rho_a < d.tau_h;
                checked += 1;
            }
        }
        let stat = |f: fn(&StageStats) -> f64| SeedStat::of(&per.iter().map(f).collect::<Vec<_>>());
        stages.insert(
            st.name.clone(),
            StageSummary {
                steps: st.steps,
                stage_accuracy: stat(|s| s.stage_accuracy),
                loss_ratio_at_r1_grad: stat(|s| s.loss_ratio_at_r1_grad),
                loss_ratio_at_r1_random: stat(|s| s.loss_ratio_at_r1_random),
                flip_at_r1_grad: stat(|s| s.flip_at_r1_grad),
                flip_at_r1_random: stat(|s| s.flip_at_r1_random),
                hessian_ratio_median: stat(|s| s.hessian_ratio_median),
                hessian_ratio_grad: stat(|s| s.hessian_ratio_grad),
                rho_a_grad: stat(|s| s.rho_a_grad),
                rho_a_random_median: stat(|s| s.rho_a_random_median),
                first_r_loss_ratio_above_2_grad: stat(|s| s.first_r_grad),
                first_r_loss_ratio_above_2_random_median: stat(|s| s.first_r_random_median),
                fraction_rho_below_tau_h: stat(|s| s.fraction_rho_below_tau_h),
            },
        );
    }
    let range = |v: &[f64]| {
        (
            v.iter().cloned().fold(f64::INFINITY, f64::min),
            v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    RandomDirectionsSummary {
        config: cfg.clone(),
        first_seed: cfg.seeds[0],
        stages,
        checks: Checks {
            loss_ratio_at_r1_below_threshold: below,
            rho_below_tau_h_every_direction: rho_ok,
            directions_checked: checked,
            gradient_crosses_first: grad_first,
            first_crossing_random_range: range(&fr),
            first_crossing_grad_range: range(&fg),
        },
    }
}
