//! The headline numbers of `temperature-fingerprint` (`summary.json`):
//! per-temperature medians and the threshold-spread statistics.

use super::{TemperatureConfig, TemperatureRun};
use analysis::stats::{bootstrap_ci_by_unit, nan_median, std};
use analysis::store::nullable_f64;
use serde::{Deserialize, Serialize};

/// Threshold-spread statistic with its bootstrap CI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spread {
    /// Sample std (ddof 1) over temperatures of log10(median onset over
    /// seeds); NaN (`null`) when some temperature has no onset on its grid.
    #[serde(with = "nullable_f64")]
    pub value: f64,
    /// Lower end of the bootstrap CI over seeds (resampling seeds, all
    /// temperatures together).
    #[serde(with = "nullable_f64")]
    pub ci_lo: f64,
    /// Upper end of that CI.
    #[serde(with = "nullable_f64")]
    pub ci_hi: f64,
}

impl Spread {
    fn new(value: f64, (ci_lo, ci_hi): (f64, f64)) -> Self {
        Spread {
            value,
            ci_lo,
            ci_hi,
        }
    }
}

/// The three spread numbers for one temperature list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpreadStats {
    /// Temperatures used.
    pub temperatures: Vec<f64>,
    /// Spread of the onsets in raw τ (paper: 0.992).
    pub onset_std_raw: Spread,
    /// Spread of the onsets in r_T (paper: 0.164).
    pub onset_std_scaled: Spread,
    /// onset_std_raw / onset_std_scaled (paper: "a 6x reduction").
    pub spread_reduction: Spread,
}

/// Per-temperature summary (medians and quartiles over seeds).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemperatureSummary {
    /// Temperature.
    pub temperature: f64,
    /// Median Δa.
    #[serde(with = "nullable_f64")]
    pub delta_a_median: f64,
    /// Median ρa(T).
    #[serde(with = "nullable_f64")]
    pub rho_a_median: f64,
    /// Median training accuracy.
    #[serde(with = "nullable_f64")]
    pub train_accuracy_median: f64,
    /// Median onset in τ (NaN: the loss ratio never reached the threshold).
    #[serde(with = "nullable_f64")]
    pub onset_tau_median: f64,
    /// Median onset in r_T.
    #[serde(with = "nullable_f64")]
    pub onset_r_median: f64,
    /// Seeds whose loss ratio reached the threshold on the grid.
    pub seeds_with_onset: usize,
    /// Smallest τ onset over seeds (NaN: none).
    #[serde(with = "nullable_f64")]
    pub onset_tau_min: f64,
    /// Largest τ onset over seeds.
    #[serde(with = "nullable_f64")]
    pub onset_tau_max: f64,
    /// Smallest r_T onset over seeds.
    #[serde(with = "nullable_f64")]
    pub onset_r_min: f64,
    /// Largest r_T onset over seeds.
    #[serde(with = "nullable_f64")]
    pub onset_r_max: f64,
}

/// `results/temperature-fingerprint/summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FingerprintSummary {
    /// Settings used.
    pub config: TemperatureConfig,
    /// Per temperature (all runs, main list first).
    pub per_temperature: Vec<TemperatureSummary>,
    /// Spread over the main temperature list (the headline numbers).
    pub onset_std_raw: Spread,
    /// See [`SpreadStats::onset_std_scaled`].
    pub onset_std_scaled: Spread,
    /// See [`SpreadStats::spread_reduction`].
    pub spread_reduction: Spread,
    /// The same over main + extra temperatures (None without extras).
    pub with_extra_temperatures: Option<SpreadStats>,
}

/// log10 onsets per (seed, temperature): `units[seed][t]`, for the bootstrap.
fn onset_table(
    runs: &[TemperatureRun],
    temps: &[f64],
    seeds: &[u64],
    onset: impl Fn(&TemperatureRun) -> f64,
) -> Vec<Vec<f64>> {
    seeds
        .iter()
        .map(|&s| {
            temps
                .iter()
                .map(|&t| {
                    runs.iter()
                        .find(|r| r.seed == s && r.temperature == t)
                        .map_or(f64::NAN, |r| onset(r).log10())
                })
                .collect()
        })
        .collect()
}

/// Std over temperatures of the per-temperature median (over the given
/// seeds' rows) of log10 onsets. NaN if some temperature has no onset.
fn spread_of(units: &[&Vec<f64>]) -> f64 {
    let temps = units.first().map_or(0, |u| u.len());
    let per_t: Vec<f64> = (0..temps)
        .map(|t| nan_median(&units.iter().map(|u| u[t]).collect::<Vec<_>>()))
        .collect();
    if per_t.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    std(&per_t)
}

fn spread_stats(cfg: &TemperatureConfig, runs: &[TemperatureRun], temps: &[f64]) -> SpreadStats {
    let thr = cfg.onset_loss_ratio;
    let raw = onset_table(runs, temps, &cfg.seeds, |r| r.onset_tau(thr));
    let scaled = onset_table(runs, temps, &cfg.seeds, |r| r.onset_r(thr));
    let both: Vec<(Vec<f64>, Vec<f64>)> = raw.iter().cloned().zip(scaled.iter().cloned()).collect();
    let all_raw: Vec<&Vec<f64>> = raw.iter().collect();
    let all_scaled: Vec<&Vec<f64>> = scaled.iter().collect();
    let (b, level, seed) = (cfg.bootstrap_resamples, cfg.ci_level, cfg.bootstrap_seed);
    let ratio = |units: &[&(Vec<f64>, Vec<f64>)]| {
        let r: Vec<&Vec<f64>> = units.iter().map(|u| &u.0).collect();
        let s: Vec<&Vec<f64>> = units.iter().map(|u| &u.1).collect();
        spread_of(&r) / spread_of(&s)
    };
    let all_both: Vec<&(Vec<f64>, Vec<f64>)> = both.iter().collect();
    SpreadStats {
        temperatures: temps.to_vec(),
        onset_std_raw: Spread::new(
            spread_of(&all_raw),
            bootstrap_ci_by_unit(&raw, spread_of, b, level, seed),
        ),
        onset_std_scaled: Spread::new(
            spread_of(&all_scaled),
            bootstrap_ci_by_unit(&scaled, spread_of, b, level, seed),
        ),
        spread_reduction: Spread::new(
            ratio(&all_both),
            bootstrap_ci_by_unit(&both, ratio, b, level, seed),
        ),
    }
}

/// Reduce every run to the summary.
pub(super) fn summarize(cfg: &TemperatureConfig, runs: &[TemperatureRun]) -> FingerprintSummary {
    let thr = cfg.onset_loss_ratio;
    let per_temperature = cfg
        .all_temperatures()
        .iter()
        .map(|&t| {
            let mine: Vec<&TemperatureRun> = runs.iter().filter(|r| r.temperature == t).collect();
            let med = |f: &dyn Fn(&TemperatureRun) -> f64| {
                nan_median(&mine.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            // Extremes over the seeds that have an onset (NaN: none has).
            let extreme = |f: &dyn Fn(&TemperatureRun) -> f64, pick: fn(f64, f64) -> f64| {
                mine.iter()
                    .map(|r| f(r))
                    .filter(|x| !x.is_nan())
                    .reduce(pick)
                    .unwrap_or(f64::NAN)
            };
            TemperatureSummary {
                temperature: t,
                delta_a_median: med(&|r| r.delta_a),
                rho_a_median: med(&|r| r.rho_a),
                train_accuracy_median: med(&|r| r.train_accuracy),
                onset_tau_median: med(&|r| r.onset_tau(thr)),
                onset_r_median: med(&|r| r.onset_r(thr)),
                seeds_with_onset: mine.iter().filter(|r| !r.onset_tau(thr).is_nan()).count(),
                onset_tau_min: extreme(&|r| r.onset_tau(thr), f64::min),
                onset_tau_max: extreme(&|r| r.onset_tau(thr), f64::max),
                onset_r_min: extreme(&|r| r.onset_r(thr), f64::min),
                onset_r_max: extreme(&|r| r.onset_r(thr), f64::max),
            }
        })
        .collect();
    let main = spread_stats(cfg, runs, &cfg.temperatures);
    let extra = (!cfg.extra_temperatures.is_empty())
        .then(|| spread_stats(cfg, runs, &cfg.all_temperatures()));
    FingerprintSummary {
        config: cfg.clone(),
        per_temperature,
        onset_std_raw: main.onset_std_raw,
        onset_std_scaled: main.onset_std_scaled,
        spread_reduction: main.spread_reduction,
        with_extra_temperatures: extra,
    }
}
