//! The headline numbers of `natural-instability` (`summary.json`): per
//! method, statistics over seeds, and Table 3.

use super::{MethodKind, NaturalInstabilityConfig, NaturalRun};
use analysis::stats::{max_finite, nan_median, nan_quantiles};
use analysis::store::nullable_f64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Median and IQR over seeds per epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochBands {
    /// 25th percentile per epoch (null where no seed has a value).
    pub q25: Vec<Option<f64>>,
    /// Median per epoch.
    pub median: Vec<Option<f64>>,
    /// 75th percentile per epoch.
    pub q75: Vec<Option<f64>>,
}

impl EpochBands {
    fn of(per_seed: &[Vec<f64>], epochs: usize) -> Self {
        let finite = |x: f64| x.is_finite().then_some(x);
        let mut b = EpochBands {
            q25: Vec::with_capacity(epochs),
            median: Vec::with_capacity(epochs),
            q75: Vec::with_capacity(epochs),
        };
        for e in 0..epochs {
            let xs: Vec<f64> = per_seed.iter().map(|v| v[e]).collect();
            let q = nan_quantiles(&xs, &[0.25, 0.5, 0.75]);
            b.q25.push(finite(q[0]));
            b.median.push(finite(q[1]));
            b.q75.push(finite(q[2]));
        }
        b
    }

    /// The medians with NaN for null.
    pub fn medians(&self) -> Vec<f64> {
        self.median.iter().map(|x| x.unwrap_or(f64::NAN)).collect()
    }

    /// (q25, q75) with NaN for null.
    pub fn iqr(&self) -> (Vec<f64>, Vec<f64>) {
        let nan = |v: &[Option<f64>]| v.iter().map(|x| x.unwrap_or(f64::NAN)).collect();
        (nan(&self.q25), nan(&self.q75))
    }
}

/// Per method: statistics over seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodSummary {
    /// The paper's row name ("eta 0.005", "ctrl r=1").
    pub method: String,
    /// Fixed rate or controller.
    pub kind: MethodKind,
    /// η or r_target.
    pub value: f64,
    /// Seeds run.
    pub seeds: usize,
    /// Seeds whose run stopped (non-finite loss or a refused step).
    pub seeds_stopped: usize,
    /// Logged points per run.
    pub logged_points: usize,
    /// Median over seeds of the largest logged r.
    #[serde(with = "nullable_f64")]
    pub max_r: f64,
    /// Median over seeds of the number of logged points with r > 1.
    #[serde(with = "nullable_f64")]
    pub r_gt_1: f64,
    /// Median final test accuracy (stopped seeds left out).
    #[serde(with = "nullable_f64")]
    pub acc_median: f64,
    /// Its 25th percentile.
    #[serde(with = "nullable_f64")]
    pub acc_q25: f64,
    /// Its 75th percentile.
    #[serde(with = "nullable_f64")]
    pub acc_q75: f64,
    /// Largest |r − r_target|/r_target over every controlled step of every
    /// seed (controllers only; NaN for fixed rates).
    #[serde(with = "nullable_f64")]
    pub max_target_deviation: f64,
    /// Median over seeds of ρa at the first and at the last logged point.
    #[serde(with = "nullable_f64")]
    pub rho_a_first: f64,
    /// See `rho_a_first`.
    #[serde(with = "nullable_f64")]
    pub rho_a_last: f64,
    /// Test CE per epoch.
    pub test_loss: EpochBands,
    /// Test accuracy per epoch.
    pub test_acc: EpochBands,
    /// Largest logged r per epoch.
    pub max_r_per_epoch: EpochBands,
}

/// The final test accuracy's IQR.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccIqr {
    /// 25th percentile.
    #[serde(with = "nullable_f64")]
    pub q25: f64,
    /// 75th percentile.
    #[serde(with = "nullable_f64")]
    pub q75: f64,
}

/// One row of Table 3.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table3Row {
    /// Median over seeds of the largest logged r.
    #[serde(with = "nullable_f64")]
    pub max_r: f64,
    /// Median count of logged points with r > 1.
    #[serde(with = "nullable_f64")]
    pub r_gt_1: f64,
    /// Median final test accuracy.
    #[serde(with = "nullable_f64")]
    pub acc_median: f64,
    /// Its IQR.
    pub acc_iqr: AccIqr,
}

/// `results/natural-instability/summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NaturalInstabilitySummary {
    /// Settings used (the CLI's `--data-root` applied).
    pub config: NaturalInstabilityConfig,
    /// Per method, in the paper's order (fixed rates, then controllers).
    pub methods: Vec<MethodSummary>,
    /// Table 3 by row name ("eta 0.005", "ctrl r=1").
    pub table3: BTreeMap<String, Table3Row>,
    /// Steps (over every run) at which measuring ρa moved the BatchNorm
    /// running statistics.
    pub probe_moved_buffers_steps: u64,
    /// Logged points (over every run) with 1 < r ≤ 1 + 1e-9: rounding,
    /// not counted in `r_gt_1`.
    pub rounding_exceedances: usize,
    /// Runs that stopped early: "label: stopped at step t".
    pub stopped_runs: Vec<String>,
}

pub(super) fn summarize(
    cfg: &NaturalInstabilityConfig,
    runs: &[NaturalRun],
) -> NaturalInstabilitySummary {
    let epochs = cfg.epochs;
    let mut methods = Vec::new();
    let mut table3 = BTreeMap::new();
    for method in cfg.table_order() {
        let mine: Vec<&NaturalRun> = runs.iter().filter(|r| r.method() == method).collect();
        let med = |f: &dyn Fn(&NaturalRun) -> f64| {
            nan_median(&mine.iter().map(|r| f(r)).collect::<Vec<_>>())
        };
        let acc: Vec<f64> = mine.iter().map(|r| r.final_test_acc()).collect();
        let q = nan_quantiles(&acc, &[0.25, 0.5, 0.75]);
        let deviation = match method.kind {
            MethodKind::Fixed => f64::NAN,
            MethodKind::RhoSet => max_finite(
                &mine
                    .iter()
                    .flat_map(|r| r.r.iter().map(|&x| (x - method.value).abs() / method.value))
                    .collect::<Vec<_>>(),
            ),
        };
        let first_last = |r: &NaturalRun, last: bool| {
            let logged: Vec<f64> = r
                .rho_a
                .iter()
                .zip(&r.logged)
                .filter(|(x, &l)| l == 1 && x.is_finite())
                .map(|(&x, _)| x)
                .collect();
            let pick = if last { logged.last() } else { logged.first() };
            pick.copied().unwrap_or(f64::NAN)
        };
        let bands = |f: &dyn Fn(&NaturalRun) -> Vec<f64>| {
            EpochBands::of(&mine.iter().map(|r| f(r)).collect::<Vec<_>>(), epochs)
        };
        let s = MethodSummary {
            method: method.label(),
            kind: method.kind,
            value: method.value,
            seeds: mine.len(),
            seeds_stopped: mine.iter().filter(|r| r.stop_step.is_some()).count(),
            logged_points: mine
                .first()
                .map_or(0, |r| r.logged.iter().filter(|&&l| l == 1).count()),
            max_r: med(&|r| r.max_logged_r()),
            r_gt_1: med(&|r| r.logged_r_above_one() as f64),
            acc_median: q[1],
            acc_q25: q[0],
            acc_q75: q[2],
            max_target_deviation: deviation,
            rho_a_first: med(&|r| first_last(r, false)),
            rho_a_last: med(&|r| first_last(r, true)),
            test_loss: bands(&|r| r.epoch_test_loss(epochs)),
            test_acc: bands(&|r| r.epoch_test_acc(epochs)),
            max_r_per_epoch: bands(&|r| r.epoch_max_r(epochs)),
        };
        table3.insert(
            s.method.clone(),
            Table3Row {
                max_r: s.max_r,
                r_gt_1: s.r_gt_1,
                acc_median: s.acc_median,
                acc_iqr: AccIqr {
                    q25: s.acc_q25,
                    q75: s.acc_q75,
                },
            },
        );
        methods.push(s);
    }
    let stopped_runs = runs
        .iter()
        .filter_map(|r| {
            r.stop_step.map(|t| {
                format!(
                    "{} seed {}: stopped at step {t} (loss {})",
                    r.method().label(),
                    r.seed,
                    r.loss[t]
                )
            })
        })
        .collect();
    NaturalInstabilitySummary {
        config: cfg.clone(),
        methods,
        table3,
        probe_moved_buffers_steps: runs.iter().map(|r| r.probe_moved_buffers).sum(),
        rounding_exceedances: runs.iter().map(|r| r.logged_r_rounding_above_one()).sum(),
        stopped_runs,
    }
}
