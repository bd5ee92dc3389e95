//! The headline numbers of `transformer-radii` (`summary.json`): Table 2
//! (the all-radii runs, pooled over seeds) and the final values per mode.

use super::{Binding, RadiiRun, RunMode, TransformerRadiiConfig};
use analysis::stats::{nan_median, nan_quantiles};
use analysis::store::nullable_f64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The radii of Table 2, in its column order, with their binding labels.
pub const TABLE2_RADII: [(&str, Binding); 3] = [
    ("rho_ffn", Binding::Ffn),
    ("rho_out", Binding::Out),
    ("rho_attn", Binding::Attn),
];

/// One radius in one phase of Table 2.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table2Cell {
    /// Logged points (all seeds of the all-radii mode) at which this radius
    /// attains ρ_net.
    pub binding: usize,
    /// Median of the radius over those logged points (every point of the
    /// phase, pooled over seeds; NaN points left out).
    #[serde(with = "nullable_f64")]
    pub median: f64,
}

/// One mode at the last logged step, over seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinalSummary {
    /// Median of the training loss logged at the last step.
    #[serde(with = "nullable_f64")]
    pub loss_median: f64,
    /// Its 25th percentile.
    #[serde(with = "nullable_f64")]
    pub loss_q25: f64,
    /// Its 75th percentile.
    #[serde(with = "nullable_f64")]
    pub loss_q75: f64,
    /// Median test accuracy after the last step.
    #[serde(with = "nullable_f64")]
    pub acc_median: f64,
    /// Its 25th percentile.
    #[serde(with = "nullable_f64")]
    pub acc_q25: f64,
    /// Its 75th percentile.
    #[serde(with = "nullable_f64")]
    pub acc_q75: f64,
    /// Median lr_eff of the last step.
    #[serde(with = "nullable_f64")]
    pub lr_eff_median: f64,
    /// Median lr_eff over the logged points of the last phase of Table 2
    /// (steps 800-1200 at paper scale), pooled over seeds: the level a
    /// reader takes off the figure's jagged curve.
    #[serde(with = "nullable_f64")]
    pub lr_eff_late_median: f64,
    /// Median lr_eff of the first step.
    #[serde(with = "nullable_f64")]
    pub lr_eff_first_median: f64,
    /// Smallest and largest lr_eff logged by any seed (the adaptive modes'
    /// range).
    #[serde(with = "nullable_f64")]
    pub lr_eff_min: f64,
    /// See `lr_eff_min`.
    #[serde(with = "nullable_f64")]
    pub lr_eff_max: f64,
    /// Median over seeds of the first logged training loss.
    #[serde(with = "nullable_f64")]
    pub loss_first_median: f64,
    /// Seeds run.
    pub seeds: usize,
    /// Seeds whose run stopped on a refused step.
    pub seeds_stopped: usize,
    /// Largest |τ/ρ_net − 1| over the logged steps of every seed (adaptive
    /// modes: 0 up to rounding, r = 1).
    #[serde(with = "nullable_f64")]
    pub max_r_error: f64,
}

/// The binding term at the first and last logged step of one all-radii seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedBinding {
    /// The seed.
    pub seed: u64,
    /// Binding term at the first logged step.
    pub first: Binding,
    /// Binding term at the last logged step.
    pub last: Binding,
}

/// `results/transformer-radii/summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransformerRadiiSummary {
    /// Settings used.
    pub config: TransformerRadiiConfig,
    /// Table 2 of the all-radii runs: phase → radius (`rho_ffn`,
    /// `rho_out`, `rho_attn`) → how often it binds and its median. Empty
    /// without an all-radii mode.
    pub table2: BTreeMap<String, BTreeMap<String, Table2Cell>>,
    /// Logged points per phase, pooled over the all-radii seeds.
    pub table2_points: BTreeMap<String, usize>,
    /// The binding term at each all-radii seed's first and last point.
    pub bindings: Vec<SeedBinding>,
    /// Per mode (by name): the final loss, accuracy and lr_eff over seeds.
    #[serde(rename = "final")]
    pub final_: BTreeMap<String, FinalSummary>,
    /// Runs that stopped early: "mode seed s: stopped at step t".
    pub stopped_runs: Vec<String>,
}

pub(super) fn summarize(
    cfg: &TransformerRadiiConfig,
    runs: &[RadiiRun],
) -> TransformerRadiiSummary {
    let all: Vec<&RadiiRun> = runs
        .iter()
        .filter(|r| r.mode == RunMode::AllRadii)
        .collect();
    let mut table2 = BTreeMap::new();
    let mut table2_points = BTreeMap::new();
    if !all.is_empty() {
        for phase in &cfg.phases {
            // Every logged point of the phase, pooled over seeds.
            let points: Vec<(&RadiiRun, usize)> = all
                .iter()
                .flat_map(|r| {
                    (0..r.step.len())
                        .filter(|&i| cfg.phase_of(r.step[i]).name == phase.name)
                        .map(move |i| (*r, i))
                })
                .collect();
            table2_points.insert(phase.name.clone(), points.len());
            let mut cells = BTreeMap::new();
            for (name, term) in TABLE2_RADII {
                let values: Vec<f64> = points
                    .iter()
                    .map(|&(r, i)| match term {
                        Binding::Ffn => r.rho_ffn[i],
                        Binding::Out => r.rho_out[i],
                        _ => r.rho_attn[i],
                    })
                    .collect();
                cells.insert(
                    name.to_string(),
                    Table2Cell {
                        binding: points
                            .iter()
                            .filter(|&&(r, i)| r.binding[i] == term)
                            .count(),
                        median: nan_median(&values),
                    },
                );
            }
            table2.insert(phase.name.clone(), cells);
        }
    }
    let bindings = all
        .iter()
        .map(|r| SeedBinding {
            seed: r.seed,
            first: r.binding.first().copied().unwrap_or(Binding::None),
            last: r.binding.last().copied().unwrap_or(Binding::None),
        })
        .collect();
    let late_start = cfg.phases.last().map_or(0, |p| p.start);
    let mut final_ = BTreeMap::new();
    for &mode in &cfg.modes {
        let mine: Vec<&RadiiRun> = runs.iter().filter(|r| r.mode == mode).collect();
        let lasts = |f: fn(&RadiiRun) -> &Vec<f64>| -> Vec<f64> {
            mine.iter().map(|r| RadiiRun::last(f(r))).collect()
        };
        let loss = nan_quantiles(&lasts(|r| &r.loss), &[0.25, 0.5, 0.75]);
        let acc = nan_quantiles(&lasts(|r| &r.test_acc), &[0.25, 0.5, 0.75]);
        let lr_all: Vec<f64> = mine
            .iter()
            .flat_map(|r| r.lr_eff.iter().copied())
            .filter(|x| x.is_finite())
            .collect();
        let max_r_error = if mode.adaptive() {
            mine.iter()
                .flat_map(|r| r.tau.iter().zip(&r.rho_net))
                .map(|(t, rho)| (t / rho - 1.0).abs())
                .filter(|e| !e.is_nan())
                .fold(0.0, f64::max)
        } else {
            f64::NAN
        };
        final_.insert(
            mode.name(),
            FinalSummary {
                loss_median: loss[1],
                loss_q25: loss[0],
                loss_q75: loss[2],
                acc_median: acc[1],
                acc_q25: acc[0],
                acc_q75: acc[2],
                lr_eff_median: nan_median(&lasts(|r| &r.lr_eff)),
                lr_eff_late_median: nan_median(
                    &mine
                        .iter()
                        .flat_map(|r| r.step.iter().zip(&r.lr_eff))
                        .filter(|(&t, _)| t as usize >= late_start)
                        .map(|(_, &lr)| lr)
                        .collect::<Vec<_>>(),
                ),
                lr_eff_first_median: nan_median(
                    &mine
                        .iter()
                        .map(|r| r.lr_eff.first().copied().unwrap_or(f64::NAN))
                        .collect::<Vec<_>>(),
                ),
                lr_eff_min: lr_all.iter().copied().reduce(f64::min).unwrap_or(f64::NAN),
                lr_eff_max: lr_all.iter().copied().reduce(f64::max).unwrap_or(f64::NAN),
                loss_first_median: nan_median(
                    &mine
                        .iter()
                        .map(|r| r.loss.first().copied().unwrap_or(f64::NAN))
                        .collect::<Vec<_>>(),
                ),
                seeds: mine.len(),
                seeds_stopped: mine.iter().filter(|r| r.stop_step.is_some()).count(),
                max_r_error,
            },
        );
    }
    let stopped_runs = runs
        .iter()
        .filter_map(|r| {
            r.stop_step
                .map(|t| format!("{} seed {}: stopped at step {t}", r.mode.name(), r.seed))
        })
        .collect();
    TransformerRadiiSummary {
        config: cfg.clone(),
        table2,
        table2_points,
        bindings,
        final_,
        stopped_runs,
    }
}
