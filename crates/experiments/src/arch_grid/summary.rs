//! The headline numbers of `arch-grid` (`summary.json`): per (architecture,
//! spike, method) statistics over seeds, and Table 1.

use super::{ArchGridConfig, GridRun, Method};
use analysis::stats::{max_finite, nan_quantiles, per_index_quantiles};
use analysis::store::nullable_f64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Per (architecture, spike, method): statistics over seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellSummary {
    /// Architecture.
    pub arch: String,
    /// Spike multiplier.
    pub spike: f64,
    /// Method.
    pub method: Method,
    /// Seeds run.
    pub seeds: usize,
    /// Seeds that stopped on a non-finite loss or ended with loss above the
    /// divergence threshold.
    pub divergent_seeds: usize,
    /// Seeds that stopped on a non-finite loss.
    pub stopped_seeds: usize,
    /// Median final test accuracy over seeds that did not stop.
    #[serde(with = "nullable_f64")]
    pub acc_median: f64,
    /// Its 25th percentile.
    #[serde(with = "nullable_f64")]
    pub acc_q25: f64,
    /// Its 75th percentile.
    #[serde(with = "nullable_f64")]
    pub acc_q75: f64,
    /// Median over seeds of the lowest test accuracy from the spike on.
    #[serde(with = "nullable_f64")]
    pub min_acc_after_spike_median: f64,
    /// The lowest point from the spike on of the median-over-seeds accuracy
    /// curve (the curve Fig 10 draws, and what its dips are read off).
    #[serde(with = "nullable_f64", default = "nan")]
    pub median_curve_min_after_spike: f64,
    /// Median final training loss.
    #[serde(with = "nullable_f64")]
    pub final_loss_median: f64,
    /// Median over seeds of the peak training loss from the spike on.
    #[serde(with = "nullable_f64")]
    pub peak_loss_median: f64,
    /// Largest r = τ/ρa of any step of any seed (ρ-cap only).
    #[serde(with = "nullable_f64")]
    pub max_r: f64,
    /// Largest lr_eff·‖g‖/ρa(−g) of any step (grad-norm-cap: what the
    /// author's code logs as τ/ρa).
    #[serde(with = "nullable_f64")]
    pub max_grad_r: f64,
    /// Median over seeds of each seed's largest lr_eff·‖g‖/ρa(−g): the
    /// statistic of the author's summary (`max_tau_over_rho`, per-seed
    /// maxima, then their median).
    #[serde(with = "nullable_f64", default = "nan")]
    pub max_grad_r_median: f64,
}

/// Missing numbers of summaries written before a field existed.
fn nan() -> f64 {
    f64::NAN
}

/// Table 1's entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table1Entry {
    /// Median final test accuracy at the largest spike (seeds that did not stop).
    #[serde(with = "nullable_f64")]
    pub acc_median: f64,
    /// Divergent seeds (stopped, or final loss above the threshold).
    pub divergent_seeds: usize,
}

/// `results/arch-grid/summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchGridSummary {
    /// Settings used.
    pub config: ArchGridConfig,
    /// Every cell, in (arch, spike, method) config order.
    pub cells: Vec<CellSummary>,
    /// Table 1: arch → method → entry at the largest spike.
    pub table1: BTreeMap<String, BTreeMap<String, Table1Entry>>,
}

pub(super) fn summarize(cfg: &ArchGridConfig, runs: &[GridRun]) -> ArchGridSummary {
    let mut cells = Vec::new();
    let mut table1: BTreeMap<String, BTreeMap<String, Table1Entry>> = BTreeMap::new();
    for arch in &cfg.archs {
        for &spike in &cfg.spikes {
            for &method in &cfg.methods {
                let mine: Vec<&GridRun> = runs
                    .iter()
                    .filter(|r| &r.arch == arch && r.spike == spike && r.method == method)
                    .collect();
                let med = |f: &dyn Fn(&GridRun) -> f64| {
                    nan_quantiles(&mine.iter().map(|r| f(r)).collect::<Vec<_>>(), &[0.5])[0]
                };
                let acc = nan_quantiles(
                    &mine.iter().map(|r| r.final_acc()).collect::<Vec<_>>(),
                    &[0.25, 0.5, 0.75],
                );
                let max_over = |f: &dyn Fn(&GridRun) -> f64| {
                    mine.iter()
                        .map(|r| f(r))
                        .filter(|x| !x.is_nan())
                        .reduce(f64::max)
                        .unwrap_or(f64::NAN)
                };
                // The grad-norm controller's lr_eff |g| / rho_a(-g), largest
                // over the run's steps (NaN for other methods).
                let grad_r = |r: &GridRun| {
                    let v: Vec<f64> = (0..r.lr.len())
                        .map(|t| r.lr[t] * r.scale[t] * r.grad_norm[t] / r.rho_a_grad[t])
                        .collect();
                    max_finite(&v)
                };
                let cell = CellSummary {
                    arch: arch.clone(),
                    spike,
                    method,
                    seeds: mine.len(),
                    divergent_seeds: mine
                        .iter()
                        .filter(|r| r.divergent(cfg.divergence_loss))
                        .count(),
                    stopped_seeds: mine.iter().filter(|r| r.stop_step().is_some()).count(),
                    acc_median: acc[1],
                    acc_q25: acc[0],
                    acc_q75: acc[2],
                    min_acc_after_spike_median: med(&|r| r.min_acc_from(cfg.spike_start)),
                    median_curve_min_after_spike: {
                        let at =
                            |r: &&GridRun, t: usize| r.test_acc.get(t).copied().unwrap_or(f64::NAN);
                        let median = &per_index_quantiles(&mine, cfg.steps, at, &[0.5])[0];
                        let tail: Vec<f64> =
                            median.iter().skip(cfg.spike_start).map(|a| -a).collect();
                        -max_finite(&tail)
                    },
                    final_loss_median: med(&|r| r.final_loss()),
                    peak_loss_median: med(&|r| {
                        r.loss
                            .iter()
                            .skip(cfg.spike_start)
                            .map(|&l| if l.is_finite() { l } else { f64::INFINITY })
                            .reduce(f64::max)
                            .unwrap_or(f64::NAN)
                    }),
                    max_r: max_over(&|r| max_finite(&r.r)),
                    max_grad_r: max_over(&grad_r),
                    max_grad_r_median: med(&grad_r),
                };
                if spike == cfg.table_spike() {
                    table1.entry(arch.clone()).or_default().insert(
                        method.name().to_string(),
                        Table1Entry {
                            acc_median: cell.acc_median,
                            divergent_seeds: cell.divergent_seeds,
                        },
                    );
                }
                cells.push(cell);
            }
        }
    }
    ArchGridSummary {
        config: cfg.clone(),
        cells,
        table1,
    }
}
