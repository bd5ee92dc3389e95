//! `temperature-fingerprint` (paper Fig 9): the temperature law
//! ρa(T) = π·T/Δa, and the threshold-spread statistics.
//!
//! Protocol (spec §6.5, the author's code):
//! 1. For each temperature T and seed: a fresh MLP-GELU trained with the
//!    tempered loss CE(z/T, y) (Adam lr 0.01, 120 steps, batches of 256
//!    drawn without replacement) on the 80% training part of a stratified
//!    split with split seed = run seed.
//! 2. At the trained θ: u = −g/‖g‖ (g = gradient of the tempered mean CE on
//!    the whole training part), Δa = max over training samples of the
//!    spread of the untempered logit slopes a = J_z u (exact JVP; the
//!    author's forward difference ε = 1e-4 is the `fd` option), and
//!    ρa(T) = π·T/Δa.
//! 3. One step θ + τu for τ on 80 geometric points in [1e-4, max(4ρa, 2)]:
//!    the tempered training loss ratio and the flip fraction, against raw τ
//!    (panel A) and against r_T = τ·Δa/(π·T) (panel B).
//! 4. Onset = first grid point with loss ratio ≥ 2, per (T, seed), in τ and
//!    in r_T. The threshold spread (our definition; the paper does not give
//!    one): the sample standard deviation over temperatures of log10 of the
//!    per-temperature median onset, in each coordinate, with a bootstrap CI
//!    over seeds. Temperature scaling predicts the r_T onsets collapse.

use crate::paper_numbers::{Comparisons, PaperNumbers, Tolerance};
use crate::runner::{load_runs, run_jobs, Computed, Job};
use crate::{Context, Experiment};
use analysis::plot::{Band, Figure, Panel, Scatter, Series, VLine};
use analysis::polars::prelude::{df, DataFrame};
use analysis::report::Section;
use analysis::runs::{f64_column, f64_scalar, RunKey};
use analysis::stats::{
    band, bootstrap_ci_by_unit, first_grid_onset, geomspace, nan_median, overlap, std,
};
use analysis::store::nullable_f64;
use analysis::table::{fmt_sig, Table};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use zoo::model::{accuracy, argmax_rows};
use zoo::train::{fit, Recipe};
use zoo::{ArchConfig, Batch, Mode};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 1;

/// The experiment (registered in [`crate::registry`]).
pub struct TemperatureFingerprint;

/// How Δa is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlopeEstimator {
    /// Exact forward-mode JVP (tangent pass).
    Jvp,
    /// The author's forward difference (z(θ + εu) − z(θ))/ε in float32.
    Fd,
}

/// Settings of the experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemperatureConfig {
    /// Registry name of the model (outputs untempered logits).
    pub arch: String,
    /// Temperatures of the figure and of the main spread statistic.
    pub temperatures: Vec<f64>,
    /// Further temperatures (the paper's caption lists 16 and 64 too): run
    /// and reported as a second spread statistic over all temperatures.
    pub extra_temperatures: Vec<f64>,
    /// Seeds: initialisation, split and batch order.
    pub seeds: Vec<u64>,
    /// Held-out fraction of the stratified split (only the rest is used).
    pub test_ratio: f64,
    /// Adam learning rate.
    pub lr: f64,
    /// Training steps.
    pub steps: usize,
    /// Samples per step, drawn without replacement.
    pub batch: usize,
    /// Points of the τ grid.
    pub tau_points: usize,
    /// Smallest τ of the grid.
    pub tau_min: f64,
    /// The grid ends at max(`tau_max_rho_factor`·ρa(T), `tau_max_floor`).
    pub tau_max_floor: f64,
    /// See `tau_max_floor`.
    pub tau_max_rho_factor: f64,
    /// Onset: first grid point with loss ratio ≥ this.
    pub onset_loss_ratio: f64,
    /// `jvp` (exact) or `fd` (the author's forward difference).
    pub slope_estimator: SlopeEstimator,
    /// ε of the `fd` estimator.
    pub fd_eps: f64,
    /// Bootstrap resamples of seeds for the spread CIs.
    pub bootstrap_resamples: usize,
    /// Confidence level of the CIs.
    pub ci_level: f64,
    /// Seed of the bootstrap.
    pub bootstrap_seed: u64,
    /// dfdx or the zoo's fast f32 path (same layers and θ; see `zoo::fast`).
    #[serde(default)]
    pub backend: zoo::Backend,
}

impl crate::config::Validate for TemperatureConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if zoo::arch::find(&self.arch).is_err() {
            return Err((
                "arch",
                format!(
                    "unknown architecture {:?}; see `ghosts zoo list`",
                    self.arch
                ),
            ));
        }
        if let Err(e) = zoo::arch::find(&self.arch)
            .and_then(|a| a.build_on::<f32>(&ArchConfig::default(), self.backend))
        {
            return Err(("backend", format!("{e:#}; use `backend: dfdx`")));
        }
        if self.temperatures.len() < 2 {
            return Err((
                "temperatures",
                "expected at least two temperatures (the spread is a std over them)".into(),
            ));
        }
        let all = self.temperatures.iter().chain(&self.extra_temperatures);
        if let Some(t) = all.clone().find(|t| !(**t > 0.0 && t.is_finite())) {
            return Err((
                "temperatures",
                format!("expected positive temperatures, got {t}"),
            ));
        }
        let mut sorted: Vec<f64> = all.cloned().collect();
        sorted.sort_by(f64::total_cmp);
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(("temperatures", "temperatures must be distinct".into()));
        }
        if self.seeds.is_empty() {
            return Err(("seeds", "expected at least one seed".into()));
        }
        if !(self.test_ratio > 0.0 && self.test_ratio < 1.0) {
            return Err((
                "test_ratio",
                format!("expected a fraction in (0, 1), got {}", self.test_ratio),
            ));
        }
        if self.tau_points < 2 || !(self.tau_min > 0.0 && self.tau_min < self.tau_max_floor) {
            return Err((
                "tau_points",
                "expected at least 2 points and 0 < tau_min < tau_max_floor".into(),
            ));
        }
        if !(self.ci_level > 0.0 && self.ci_level < 1.0) {
            return Err((
                "ci_level",
                format!("expected a level in (0, 1), got {}", self.ci_level),
            ));
        }
        Ok(())
    }
}

impl TemperatureConfig {
    /// Every temperature run, main list first.
    fn all_temperatures(&self) -> Vec<f64> {
        self.temperatures
            .iter()
            .chain(&self.extra_temperatures)
            .cloned()
            .collect()
    }
}

/// One (temperature, seed) run.
#[derive(Debug, Clone)]
pub struct TemperatureRun {
    /// Temperature T.
    pub temperature: f64,
    /// Seed.
    pub seed: u64,
    /// Training accuracy after training.
    pub train_accuracy: f64,
    /// Base tempered training CE.
    pub base_loss: f64,
    /// Δa: largest spread of untempered logit slopes over training samples.
    pub delta_a: f64,
    /// ρa(T) = π·T/Δa.
    pub rho_a: f64,
    /// τ grid.
    pub tau: Vec<f64>,
    /// r_T = τΔa/(πT) on the grid.
    pub r_t: Vec<f64>,
    /// Tempered training CE after the step / before.
    pub loss_ratio: Vec<f64>,
    /// Share of training samples whose predicted class changed.
    pub flip: Vec<f64>,
}

impl TemperatureRun {
    fn to_frame(&self) -> Result<DataFrame> {
        let n = self.tau.len();
        Ok(df!(
            "temperature" => vec![self.temperature; n],
            "seed" => vec![self.seed; n],
            "train_accuracy" => vec![self.train_accuracy; n],
            "base_loss" => vec![self.base_loss; n],
            "delta_a" => vec![self.delta_a; n],
            "rho_a" => vec![self.rho_a; n],
            "tau" => &self.tau,
            "r_t" => &self.r_t,
            "loss_ratio" => &self.loss_ratio,
            "flip" => &self.flip,
        )?)
    }

    fn from_frame(temperature: f64, seed: u64, f: &DataFrame) -> Result<Self> {
        Ok(TemperatureRun {
            temperature,
            seed,
            train_accuracy: f64_scalar(f, "train_accuracy")?,
            base_loss: f64_scalar(f, "base_loss")?,
            delta_a: f64_scalar(f, "delta_a")?,
            rho_a: f64_scalar(f, "rho_a")?,
            tau: f64_column(f, "tau")?,
            r_t: f64_column(f, "r_t")?,
            loss_ratio: f64_column(f, "loss_ratio")?,
            flip: f64_column(f, "flip")?,
        })
    }

    /// First grid τ with loss ratio ≥ `threshold` (NaN: none).
    fn onset_tau(&self, threshold: f64) -> f64 {
        first_grid_onset(&self.tau, &self.loss_ratio, threshold).unwrap_or(f64::NAN)
    }

    /// The same onset in r_T.
    fn onset_r(&self, threshold: f64) -> f64 {
        first_grid_onset(&self.r_t, &self.loss_ratio, threshold).unwrap_or(f64::NAN)
    }
}

/// The (temperature, seed) runs of a config.
fn jobs(cfg: &TemperatureConfig) -> Vec<Job<(f64, u64)>> {
    cfg.all_temperatures()
        .into_iter()
        .flat_map(|t| {
            cfg.seeds.iter().map(move |&seed| Job {
                key: RunKey::new(SCHEMA, cfg, &format!("T{t}-seed{seed}")),
                label: format!("T = {t} seed {seed}"),
                spec: (t, seed),
            })
        })
        .collect()
}

fn one_run(
    cfg: &TemperatureConfig,
    digits: &data::Digits,
    temperature: f64,
    seed: u64,
) -> Result<TemperatureRun> {
    let split = data::stratified_split(&digits.labels, cfg.test_ratio, seed);
    let model = zoo::arch::find(&cfg.arch)?
        .build::<f32>(&ArchConfig::default())
        .with_temperature(temperature)
        .with_backend(cfg.backend)?;
    let train: Batch<f32> = Batch::from_digits(digits, &split.train);
    let mut state = model.init(seed);
    let recipe = Recipe {
        lr: cfg.lr,
        steps: cfg.steps,
        batch: Some(cfg.batch),
        weight_decay: 0.0,
    };
    fit(&model, &mut state, &train, &recipe, seed.wrapping_add(17));

    // Descent direction of the tempered full-training-set loss.
    let step = model.loss_and_grad(&mut state.clone(), &train, Mode::Eval);
    let (base_loss, base_logits, mut cache) = (step.loss, step.logits, step.cache);
    let mut u = step.grad;
    u.scale(-1.0 / (u.norm() + 1e-12));
    let slopes = match cfg.slope_estimator {
        SlopeEstimator::Jvp => model.tangent(&state, &mut cache, &u, Mode::Eval),
        SlopeEstimator::Fd => {
            model.fd_jvp_forward(&state, &train.x, &u, cfg.fd_eps, &base_logits, Mode::Eval)
        }
    };
    let slopes: Vec<f64> = slopes.as_vec().iter().map(|&a| a as f64).collect();
    let delta_a = radius::set_rho_a(
        &radius::spreads_of_rows(&slopes, model.classes),
        radius::Aggregation::Max,
    )
    .delta_a;
    let rho_a = radius::rho_a_tempered(delta_a, temperature);

    let base_pred = argmax_rows(&base_logits);
    let tau_max = (cfg.tau_max_rho_factor * rho_a).max(cfg.tau_max_floor);
    let tau = geomspace(cfg.tau_min, tau_max, cfg.tau_points);
    let (mut loss_ratio, mut flip) = (Vec::with_capacity(tau.len()), Vec::with_capacity(tau.len()));
    for logits in model.logits_on_line(&state, &train.x, &u, &tau) {
        let pred = argmax_rows(&logits);
        let loss = model.loss_of_logits(&logits, &train);
        // A diverged step is a result: inf loss ratio, flips still counted.
        loss_ratio.push(if loss.is_finite() {
            loss / base_loss
        } else {
            f64::INFINITY
        });
        flip.push(
            pred.iter().zip(&base_pred).filter(|(a, b)| a != b).count() as f64 / pred.len() as f64,
        );
    }
    let r_t = tau
        .iter()
        .map(|&t| radius::normalized_step_tempered(t, delta_a, temperature))
        .collect();
    Ok(TemperatureRun {
        temperature,
        seed,
        train_accuracy: accuracy(&base_logits, &train.labels),
        base_loss,
        delta_a,
        rho_a,
        tau,
        r_t,
        loss_ratio,
        flip,
    })
}

/// Agreement of our per-temperature Delta_a and rho_a(T) medians with the
/// author's run: within this factor.
const PER_T_FACTOR: f64 = 1.25;
/// ... of the onsets (grid values, about 1.2 apart): within this factor.
const ONSET_FACTOR: f64 = 1.5;

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

impl TemperatureFingerprint {
    fn load_runs(&self, ctx: &Context, cfg: &TemperatureConfig) -> Result<Vec<TemperatureRun>> {
        let jobs = jobs(cfg);
        load_runs(ctx, self.id(), &jobs)?
            .iter()
            .zip(&jobs)
            .map(|(f, j)| TemperatureRun::from_frame(j.spec.0, j.spec.1, f))
            .collect()
    }
}

impl Experiment for TemperatureFingerprint {
    fn id(&self) -> &'static str {
        "temperature-fingerprint"
    }

    fn title(&self) -> &'static str {
        "Temperature fingerprint and threshold spread (Fig 9)"
    }

    fn run(&self, ctx: &Context) -> Result<()> {
        let loaded = ctx.load_config::<TemperatureConfig>(self.id())?;
        let cfg = loaded.value.clone();
        // Read (and checksum) the data once, not once per run.
        let digits = data::load_default_digits()?;
        run_jobs(ctx, self.id(), &jobs(&cfg), |&(t, seed)| {
            let run = one_run(&cfg, &digits, t, seed)?;
            Ok(Computed {
                frame: run.to_frame()?,
                note: format!(
                    "Delta_a = {:.2}, rho_a(T) = {:.4}, train acc {:.1}%",
                    run.delta_a,
                    run.rho_a,
                    100.0 * run.train_accuracy
                ),
            })
        })?;
        let runs = self.load_runs(ctx, &cfg)?;
        let thr = cfg.onset_loss_ratio;
        let per_temperature = cfg
            .all_temperatures()
            .iter()
            .map(|&t| {
                let mine: Vec<&TemperatureRun> =
                    runs.iter().filter(|r| r.temperature == t).collect();
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
        let main = spread_stats(&cfg, &runs, &cfg.temperatures);
        let extra = (!cfg.extra_temperatures.is_empty())
            .then(|| spread_stats(&cfg, &runs, &cfg.all_temperatures()));
        ctx.finish_run(
            self.id(),
            &FingerprintSummary {
                config: cfg,
                per_temperature,
                onset_std_raw: main.onset_std_raw,
                onset_std_scaled: main.onset_std_scaled,
                spread_reduction: main.spread_reduction,
                with_extra_temperatures: extra,
            },
            &loaded,
        )
    }

    fn run_keys(&self, ctx: &Context) -> Result<Vec<RunKey>> {
        let cfg = ctx.load_config::<TemperatureConfig>(self.id())?.value;
        Ok(jobs(&cfg).into_iter().map(|j| j.key).collect())
    }

    fn render(&self, ctx: &Context) -> Result<Section> {
        let summary: FingerprintSummary = ctx.read_summary(self.id())?;
        let cfg = &summary.config;
        let runs = self.load_runs(ctx, cfg)?;
        let paper = PaperNumbers::load_for_root(&ctx.root)?;
        let thr = cfg.onset_loss_ratio;

        // Panel A: against raw τ, on the overlap of the seeds' τ ranges.
        let mut raw = Panel::new("A: raw step", "step size tau", "loss ratio (post / pre)");
        // Panel B: against r_T, where the curves should collapse.
        let mut scaled = Panel::new(
            "B: normalised step r_T = tau Delta_a / (pi T)",
            "r_T",
            "loss ratio (post / pre)",
        );
        for p in [&mut raw, &mut scaled] {
            (p.x_log, p.y_log) = (true, true);
        }
        scaled.x_range = Some((1e-3, 10.0));
        let mut one = VLine::r_one();
        one.label = "r_T = 1".into();
        scaled.vlines.push(one);
        let r_grid = geomspace(1e-3, 10.0, 200);
        for (i, &t) in cfg.temperatures.iter().enumerate() {
            let mine: Vec<&TemperatureRun> = runs.iter().filter(|r| r.temperature == t).collect();
            let by_tau: Vec<(Vec<f64>, Vec<f64>)> = mine
                .iter()
                .map(|r| (r.tau.clone(), r.loss_ratio.clone()))
                .collect();
            if let Some((lo, hi)) = overlap(&by_tau) {
                let b = band(&by_tau, &geomspace(lo, hi, 100), true, 0.25, 0.75);
                raw.series.push(
                    Series::new(format!("T = {t}"), b.x.clone(), b.median.clone())
                        .color(analysis::style::distinct(i))
                        .width(2),
                );
                raw.bands
                    .push(Band::new("", b.x, b.lo, b.hi).color(analysis::style::distinct(i)));
            }
            let by_r: Vec<(Vec<f64>, Vec<f64>)> = mine
                .iter()
                .map(|r| (r.r_t.clone(), r.loss_ratio.clone()))
                .collect();
            let b = band(&by_r, &r_grid, true, 0.25, 0.75);
            scaled.series.push(
                Series::new(format!("T = {t}"), b.x.clone(), b.median.clone())
                    .color(analysis::style::distinct(i))
                    .width(2),
            );
            scaled
                .bands
                .push(Band::new("", b.x, b.lo, b.hi).color(analysis::style::distinct(i)));
        }
        let figs = ctx.figures_dir(self.id());
        let mut figures = Vec::new();
        let fig9 = Figure::grid(vec![raw, scaled], 2)
            .with_shared_legend()
            .titled(format!(
                "Fig 9: one descent step at temperature T, median and IQR over {} seeds",
                cfg.seeds.len()
            ));
        figures.extend(analysis::plot::render(
            &fig9,
            &figs.join("fig9_temperature_fingerprint"),
        )?);

        // The onsets themselves: the spread statistic made visible.
        let all_t = cfg.all_temperatures();
        let mut on_tau = Panel::new(
            format!("onset (loss ratio >= {thr}) in raw tau"),
            "temperature T",
            "onset tau",
        );
        let mut on_r = Panel::new(
            format!("onset (loss ratio >= {thr}) in r_T"),
            "temperature T",
            "onset r_T",
        );
        // Ticks at the temperatures run; a margin so no point sits on the frame.
        let (t_lo, t_hi) = all_t
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &t| (a.min(t), b.max(t)));
        for p in [&mut on_tau, &mut on_r] {
            (p.x_log, p.y_log) = (true, true);
            p.x_ticks = Some(all_t.clone());
            p.x_range = Some((t_lo / 1.5, t_hi * 1.5));
        }
        let pts = |f: &dyn Fn(&TemperatureRun) -> f64| -> (Vec<f64>, Vec<f64>) {
            runs.iter()
                .filter(|r| f(r).is_finite())
                .map(|r| (r.temperature, f(r)))
                .unzip()
        };
        let (x, y) = pts(&|r| r.onset_tau(thr));
        on_tau.scatters.push(Scatter::new("seeds", x, y).color(0));
        let (x, y) = pts(&|r| r.onset_r(thr));
        on_r.scatters.push(Scatter::new("seeds", x, y).color(0));
        let med = |f: fn(&TemperatureSummary) -> f64| -> Vec<f64> {
            summary.per_temperature.iter().map(f).collect()
        };
        on_tau.series.push(
            Series::new(
                "median over seeds",
                all_t.clone(),
                med(|s| s.onset_tau_median),
            )
            .color(1)
            .width(2)
            .markers(),
        );
        on_r.series.push(
            Series::new(
                "median over seeds",
                all_t.clone(),
                med(|s| s.onset_r_median),
            )
            .color(1)
            .width(2)
            .markers(),
        );
        let temps = |ts: &[f64]| {
            ts.iter()
                .map(|t| format!("{t}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let extra_note = if cfg.extra_temperatures.is_empty() {
            String::new()
        } else {
            format!("; T = {} also shown", temps(&cfg.extra_temperatures))
        };
        let fig_onsets = Figure::grid(vec![on_tau, on_r], 2).with_shared_legend().titled(format!(
            "Threshold spread over T = {}: std of log10 median onset = {} (tau) vs {} (r_T){extra_note}",
            temps(&cfg.temperatures),
            fmt_sig(summary.onset_std_raw.value, 3),
            fmt_sig(summary.onset_std_scaled.value, 3)
        ));
        figures.extend(analysis::plot::render(
            &fig_onsets,
            &figs.join("onset_spread"),
        )?);

        // Table 1: per temperature.
        let pget = |key: &str| paper.labelled(self.id(), key);
        let mut t = Table::new([
            "T",
            "train acc",
            "Delta_a",
            "rho_a(T)",
            "onset tau (median; min..max)",
            "onset r_T (median; min..max)",
            "author's run: Delta_a / rho_a / onset tau / onset r_T",
        ]);
        t.title = Some(format!(
            "Per temperature, medians over {} seeds; onset = first grid point with loss ratio >= {thr}",
            cfg.seeds.len()
        ));
        let n_seeds = cfg.seeds.len();
        let onset_cell = |med: f64, lo: f64, hi: f64, with: usize| {
            if with == 0 {
                "none on the grid".to_string()
            } else {
                let missing = if with < n_seeds {
                    format!(" ({with} of {n_seeds} seeds reach it)")
                } else {
                    String::new()
                };
                format!(
                    "{}; {}..{}{missing}",
                    fmt_sig(med, 3),
                    fmt_sig(lo, 3),
                    fmt_sig(hi, 3)
                )
            }
        };
        for s in &summary.per_temperature {
            t.push_row([
                format!("{}", s.temperature),
                format!("{:.1}%", 100.0 * s.train_accuracy_median),
                fmt_sig(s.delta_a_median, 4),
                fmt_sig(s.rho_a_median, 3),
                onset_cell(
                    s.onset_tau_median,
                    s.onset_tau_min,
                    s.onset_tau_max,
                    s.seeds_with_onset,
                ),
                onset_cell(
                    s.onset_r_median,
                    s.onset_r_min,
                    s.onset_r_max,
                    s.seeds_with_onset,
                ),
                pget(&format!("stored_T{}", s.temperature)),
            ]);
        }
        let mut md = t.to_markdown();
        // Table 2: the threshold-spread statistics.
        let mut st = Table::new([
            "statistic",
            "ours",
            &format!("{:.0}% CI (seed bootstrap)", 100.0 * cfg.ci_level),
            "paper",
            "author's stored run, our definition",
        ]);
        st.title = Some(
            "Threshold spread: sample std over temperatures of log10(median onset over seeds)"
                .into(),
        );
        let row = |name: &str, s: &Spread, key: &str, stored: &str| {
            [
                name.to_string(),
                fmt_sig(s.value, 3),
                format!("[{}, {}]", fmt_sig(s.ci_lo, 3), fmt_sig(s.ci_hi, 3)),
                pget(key),
                pget(stored),
            ]
        };
        let temps_label = |v: &[f64]| {
            v.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let main_t = temps_label(&cfg.temperatures);
        st.push_row(row(
            &format!("onset_std_raw (T = {main_t})"),
            &summary.onset_std_raw,
            "onset_std_raw",
            "stored_onset_std_raw",
        ));
        st.push_row(row(
            &format!("onset_std_scaled (T = {main_t})"),
            &summary.onset_std_scaled,
            "onset_std_scaled",
            "stored_onset_std_scaled",
        ));
        st.push_row(row(
            "spread_reduction (raw / scaled)",
            &summary.spread_reduction,
            "spread_reduction",
            "stored_spread_reduction",
        ));
        if let Some(x) = &summary.with_extra_temperatures {
            let all = temps_label(&x.temperatures);
            st.push_row(row(
                &format!("onset_std_raw (T = {all})"),
                &x.onset_std_raw,
                "-",
                "-",
            ));
            st.push_row(row(
                &format!("onset_std_scaled (T = {all})"),
                &x.onset_std_scaled,
                "-",
                "-",
            ));
            st.push_row(row(
                "spread_reduction (all temperatures)",
                &x.spread_reduction,
                "-",
                "-",
            ));
        }
        md.push('\n');
        md.push_str(&st.to_markdown());
        analysis::store::write_atomic(ctx.table_path(self.id()), md.as_bytes())?;

        let (raw_s, sc_s, red) = (
            &summary.onset_std_raw,
            &summary.onset_std_scaled,
            &summary.spread_reduction,
        );
        let collapses = sc_s.value < raw_s.value && red.ci_lo > 1.0;
        // Every reference number of the spread table against our CI.
        let ci = format!("{:.0}% CI", 100.0 * cfg.ci_level);
        let against = |key: &str, ours: &Spread| -> Option<(bool, String)> {
            let n = paper.get(self.id(), key).ok()?;
            let v = n.value?;
            // Inside up to the rounding of the printed reference (0.033 is
            // 0.0325..0.0335).
            let half = n.half_unit();
            let inside = v + half >= ours.ci_lo && v - half <= ours.ci_hi;
            Some((
                inside,
                format!(
                    "{} {} our {ci} [{}, {}]",
                    n.cell(),
                    if inside { "inside" } else { "outside" },
                    fmt_sig(ours.ci_lo, 3),
                    fmt_sig(ours.ci_hi, 3)
                ),
            ))
        };
        let compared: Vec<(bool, String)> = [
            ("onset_std_raw", raw_s),
            ("onset_std_scaled", sc_s),
            ("spread_reduction", red),
            ("stored_onset_std_raw", raw_s),
            ("stored_onset_std_scaled", sc_s),
            ("stored_spread_reduction", red),
        ]
        .iter()
        .filter_map(|(k, s)| against(k, s).map(|(i, t)| (i, format!("{k}: {t}"))))
        .collect();
        let inside = compared.iter().filter(|(i, _)| *i).count();
        // The author's per-temperature medians against ours.
        let mut per_t = Comparisons::new();
        let sig = |v: f64| fmt_sig(v, 3);
        for t in &summary.per_temperature {
            let k = |q: &str| format!("stored_T{}_{q}", t.temperature);
            let what = |q: &str| format!("T = {} {q}", t.temperature);
            let radius = Tolerance::Factor(PER_T_FACTOR);
            let onset = Tolerance::Factor(ONSET_FACTOR);
            per_t.add(
                &paper,
                (self.id(), &k("delta_a")),
                &what("Delta_a"),
                t.delta_a_median,
                sig,
                radius,
            );
            per_t.add(
                &paper,
                (self.id(), &k("rho_a")),
                &what("rho_a(T)"),
                t.rho_a_median,
                sig,
                radius,
            );
            per_t.add(
                &paper,
                (self.id(), &k("onset_tau")),
                &what("onset tau"),
                t.onset_tau_median,
                sig,
                onset,
            );
            per_t.add(
                &paper,
                (self.id(), &k("onset_r")),
                &what("onset r_T"),
                t.onset_r_median,
                sig,
                onset,
            );
        }
        let comparison = format!(
            "{inside} of {} reference spreads inside our {ci}: {}. The author's per-temperature medians (Delta_a and rho_a(T) within a factor of {PER_T_FACTOR}, onsets within a factor of {ONSET_FACTOR}; one step of the tau grid is a factor of at least {}): {}",
            compared.len(),
            compared.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("; "),
            fmt_sig((cfg.tau_max_floor / cfg.tau_min).powf(1.0 / (cfg.tau_points as f64 - 1.0)), 3),
            per_t.summary()
        );
        let all_inside = inside == compared.len() && per_t.all_agree();
        let verdict = if collapses {
            format!(
                "{}: rescaling by rho_a(T) collapses the onsets, spread {} -> {} ({}x, {ci} {}..{}). {comparison}",
                if all_inside { "reproduced" } else { "partly reproduced (the onsets collapse, but some reference numbers differ: below)" },
                fmt_sig(raw_s.value, 3),
                fmt_sig(sc_s.value, 3),
                fmt_sig(red.value, 2),
                fmt_sig(red.ci_lo, 2),
                fmt_sig(red.ci_hi, 2)
            )
        } else {
            format!(
                "differs: the r_T onsets do not collapse more than the raw ones with confidence (spread {} raw vs {} scaled, reduction {ci} {}..{}, which must exclude 1). {comparison}",
                fmt_sig(raw_s.value, 3),
                fmt_sig(sc_s.value, 3),
                fmt_sig(red.ci_lo, 2),
                fmt_sig(red.ci_hi, 2)
            )
        };
        // Where each point estimate sits in its CI (the note says so only
        // when it is so).
        let at_end = |s: &Spread| {
            if s.value <= s.ci_lo {
                "at its lower end"
            } else if s.value >= s.ci_hi {
                "at its upper end"
            } else {
                "inside"
            }
        };
        let ends = format!(
            "Point estimates within their {ci}s: raw spread {}, scaled spread {}, reduction {}. With {} seeds the percentile bootstrap of a median-based spread can be lopsided (an estimate at its CI's end); read such a CI as how far the value could plausibly move in the other direction.",
            at_end(raw_s),
            at_end(sc_s),
            at_end(red),
            cfg.seeds.len()
        );
        Ok(Section {
            id: self.id().into(),
            title: self.title().into(),
            figures: ctx.report_figures(&figures),
            table_markdown: md,
            verdict,
            notes: ctx
                .config_note(self.id())
                .into_iter()
                .chain([
                    format!(
                        "The paper does not define its \"collapse std\" ({} vs {}) and the author's code does not compute it; we use the spec's proposal: onset(T, seed) = first grid point with loss ratio >= {thr}, per T the median over seeds, spread = sample std (ddof 1) over temperatures of log10(median onset), in tau and in r_T, with a percentile bootstrap over seeds (all temperatures resampled together). On the author's stored run this definition gives {} vs {} ({}).",
                        paper.cell(self.id(), "onset_std_raw"),
                        paper.cell(self.id(), "onset_std_scaled"),
                        paper.cell(self.id(), "stored_onset_std_raw"),
                        paper.cell(self.id(), "stored_onset_std_scaled"),
                        paper.cell(self.id(), "stored_spread_reduction")
                    ),
                    ends,
                    format!(
                        "Delta_a by {} on the whole training part (the author: forward difference, eps = 1e-4, float32); the paper's caption lists T up to 64 while its figure and code use {{0.25..8}}: the figure uses the code's list, the extra temperatures enter the second spread statistic.",
                        match cfg.slope_estimator {
                            SlopeEstimator::Jvp => "the exact JVP",
                            SlopeEstimator::Fd => "forward differences",
                        }
                    ),
                ])
                .collect(),
        })
    }
}
