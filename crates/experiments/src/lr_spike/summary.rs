//! The headline numbers of `lr-spike` (`summary.json`): per (base rate,
//! method), statistics over seeds.

use super::{rate_label, LrSpikeConfig, Method, SpikeRun};
use analysis::stats::{max_finite, nan_median, nan_quantiles};
use analysis::store::nullable_f64;
use serde::{Deserialize, Serialize};

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

pub(super) fn summarize(cfg: &LrSpikeConfig, runs: &[SpikeRun]) -> LrSpikeSummary {
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
                max_tau_median: med(&|r| max_finite(&r.tau)),
                max_r_median: med(&|r| max_finite(&r.r)),
                max_r_max: mine
                    .iter()
                    .map(|r| max_finite(&r.r))
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
        .map(|r| max_finite(&r.r))
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
