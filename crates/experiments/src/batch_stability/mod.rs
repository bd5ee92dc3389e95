//! `batch-stability` (paper Appendix 1.2.2, spec T5): how much Δa, and so
//! ρa = π/Δa, moves from one mini-batch to the next.
//!
//! The paper states that Δa varies little across mini-batches (coefficient
//! of variation about 1%) but shows no measurement. Protocol (ours):
//! 1. Train each architecture with its recipe (`zoo::train::Recipe`, as
//!    phase-transition) on the stratified 70/30 split; snapshots of the one
//!    trajectory at step 0, steps/4 and the end. A model with BatchNorm is
//!    measured on a copy whose running statistics are refreshed on the
//!    training split first (`zoo::train::recalibrate_running_stats`, as
//!    `fit` does after training), so eval mode sees the statistics its
//!    parameters produce.
//! 2. At each snapshot, on the training split D in eval mode: v_D = −g_D/‖g_D‖
//!    (g_D the gradient of the mean CE on D), one exact JVP along v_D over
//!    D gives every sample's spread Δa(x; v_D), and Δa(D; v_D) = max_x.
//! 3. `batches` mini-batches B of `batch_size` samples, each drawn without
//!    replacement. Same direction: Δa(B; v_D) = max over x ∈ B of the
//!    spreads of step 2 (the aggregation of T5 on a subset). Own
//!    direction: v_B = −g_B/‖g_B‖ from the batch's own gradient, one exact
//!    JVP along v_B over D gives Δa(B; v_B) (max over B, what a controller
//!    measuring on its batch sees) and Δa(D; v_B) (max over D).
//! 4. Per snapshot: the coefficient of variation (sample std / mean over
//!    the batches) of Δa(B; v_D) and of Δa(B; v_B); the median of
//!    Δa(B; v_D)/Δa(D; v_D) (≤ 1: a batch's radius is never below the
//!    set's, T5) and of Δa(D; v_B)/Δa(B; v_B) (≥ 1: how much a radius
//!    measured on the batch overestimates the training set's along the
//!    same step).

mod render;
#[cfg(test)]
mod tests;

use crate::config::check::{self, Check};
use crate::runner::Job;
use crate::study::Study;
use crate::Context;
use analysis::frame::{from_frame, to_frame};
use analysis::polars::prelude::DataFrame;
use analysis::report::Section;
use analysis::runs::RunKey;
use analysis::stats::{mean, median, nan_median, std};
use analysis::store::nullable_f64;
use anyhow::{bail, Result};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use zoo::model::accuracy;
use zoo::train::{fit_observed, recalibrate_running_stats, Recipe, RECALIBRATION_PASSES};
use zoo::{ArchConfig, Batch, Mode, Model, ParamVec, State};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 1;

/// The snapshot stages, in order (steps 0, steps/4, steps).
pub const STAGES: [&str; 3] = ["untrained", "mid", "final"];

/// The experiment (registered in [`crate::registry`]).
pub struct BatchStability;

/// Settings of the experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchStabilityConfig {
    /// Registry names, in table order.
    pub archs: Vec<String>,
    /// Training seeds (initialisation and batch order).
    pub seeds: Vec<u64>,
    /// Seed of the stratified split.
    pub split_seed: u64,
    /// Test fraction of the split (the test part only gives the accuracy).
    pub test_ratio: f64,
    /// Training steps override (quick mode); `None` uses each recipe's.
    pub steps: Option<usize>,
    /// Mini-batches drawn per snapshot.
    pub batches: usize,
    /// Samples per mini-batch (drawn without replacement).
    pub batch_size: usize,
    /// The batch RNG of a snapshot is seeded with
    /// seed + `batch_seed_offset` + 1000·stage index.
    pub batch_seed_offset: u64,
    /// dfdx or the zoo's fast f32 path (same layers and θ; see `zoo::fast`).
    pub backend: zoo::Backend,
}

impl crate::config::Validate for BatchStabilityConfig {
    fn validate(&self) -> Check {
        check::non_empty("archs", &self.archs)?;
        for a in &self.archs {
            check::arch("archs", a)?;
            check::backend("backend", a, self.backend)?;
        }
        check::distinct("archs", &self.archs)?;
        check::non_empty("seeds", &self.seeds)?;
        check::distinct("seeds", &self.seeds)?;
        check::fraction("test_ratio", self.test_ratio)?;
        check::that(
            self.steps.is_none_or(|s| s >= 4),
            "steps",
            "expected at least 4 steps, so that steps/4 is a snapshot of its own (or leave it out)",
        )?;
        check::at_least("batches", self.batches, 2)?;
        check::at_least("batch_size", self.batch_size, 1)
    }
}

impl BatchStabilityConfig {
    /// The training recipe of `arch` (with the steps override).
    pub fn recipe(&self, arch: &str) -> Recipe {
        let recipe = Recipe::for_arch(arch);
        match self.steps {
            Some(steps) => recipe.with_steps(steps),
            None => recipe,
        }
    }

    /// The snapshot steps of `arch`: 0, steps/4, steps.
    pub fn snapshot_steps(&self, arch: &str) -> [usize; 3] {
        let steps = self.recipe(arch).steps;
        [0, steps / 4, steps]
    }
}

/// One mini-batch of one snapshot of one (architecture, seed) run: a row
/// of the stored frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRow {
    /// Registry name.
    pub arch: String,
    /// Training seed.
    pub seed: u64,
    /// Stage name ([`STAGES`]).
    pub stage: String,
    /// Training step of the snapshot.
    pub step: u64,
    /// Eval-mode test accuracy at the snapshot.
    pub test_accuracy: f64,
    /// Δa(D; v_D): the training set's spread along its own descent direction.
    pub delta_a_full: f64,
    /// Index of the mini-batch.
    pub batch: u64,
    /// Δa(B; v_D): the batch's spread along the training set's direction.
    pub delta_a_batch_same_direction: f64,
    /// Δa(B; v_B): the batch's spread along its own descent direction.
    pub delta_a_batch_own_direction: f64,
    /// Δa(D; v_B): the training set's spread along the batch's direction.
    pub delta_a_full_along_batch: f64,
}

/// One (architecture, seed) run: every snapshot's mini-batches.
#[derive(Debug, Clone, PartialEq)]
pub struct StabilityRun {
    /// Registry name.
    pub arch: String,
    /// Training seed.
    pub seed: u64,
    /// `batches` rows per stage, stages in order.
    pub rows: Vec<BatchRow>,
}

/// The training and test splits every run reads.
pub struct Splits {
    train: Batch<f32>,
    test: Batch<f32>,
}

/// The largest per-sample spread Δa(x) over `rows` of `spreads`.
fn max_over(spreads: &[f64], rows: &[usize]) -> f64 {
    rows.iter().map(|&i| spreads[i]).fold(f64::NEG_INFINITY, |m, s| {
        if m.is_nan() || s.is_nan() {
            f64::NAN
        } else {
            m.max(s)
        }
    })
}

/// −g/‖g‖ of the mean CE on `data` (eval mode), and the per-sample
/// spreads Δa(x; v) over `over` along it (one exact JVP).
fn descent_spreads(
    model: &Model<f32>,
    state: &State<f32>,
    data: &Batch<f32>,
    over: &Batch<f32>,
) -> (ParamVec<f32>, Vec<f64>) {
    let mut v = model.loss_and_grad(&mut state.clone(), data, Mode::Eval).grad.normalized();
    v.scale(-1.0);
    let spreads = spreads_along(model, state, over, &v);
    (v, spreads)
}

/// Per-sample spreads Δa(x; v) = max_k a_k − min_k a_k over `over`, a = J_z v.
fn spreads_along(model: &Model<f32>, state: &State<f32>, over: &Batch<f32>, v: &ParamVec<f32>) -> Vec<f64> {
    let slopes: Vec<f64> = model
        .jvp(state, &over.x, v)
        .slopes
        .as_vec()
        .iter()
        .map(|&a| a as f64)
        .collect();
    radius::spreads_of_rows(&slopes, model.classes)
}

/// The rows of one snapshot (spec: protocol steps 2-3 in the module docs).
fn measure(
    cfg: &BatchStabilityConfig,
    model: &Model<f32>,
    trained: &State<f32>,
    splits: &Splits,
    (arch, seed): (&str, u64),
    (stage, step): (usize, usize),
) -> Vec<BatchRow> {
    let mut state = trained.clone();
    if !state.buffers.is_empty() {
        recalibrate_running_stats(model, &mut state, &splits.train, RECALIBRATION_PASSES);
    }
    let train = &splits.train;
    let test_accuracy = accuracy(&model.logits(&state, &splits.test.x), &splits.test.labels);
    let (_, spreads_d) = descent_spreads(model, &state, train, train);
    let all: Vec<usize> = (0..train.len()).collect();
    let delta_a_full = max_over(&spreads_d, &all);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
        seed.wrapping_add(cfg.batch_seed_offset)
            .wrapping_add(1000 * stage as u64),
    );
    let size = cfg.batch_size.min(train.len());
    (0..cfg.batches)
        .map(|b| {
            let rows = rand::seq::index::sample(&mut rng, train.len(), size).into_vec();
            let batch = train.subset(&rows);
            let (_, spreads_b) = descent_spreads(model, &state, &batch, train);
            BatchRow {
                arch: arch.into(),
                seed,
                stage: STAGES[stage].into(),
                step: step as u64,
                test_accuracy,
                delta_a_full,
                batch: b as u64,
                delta_a_batch_same_direction: max_over(&spreads_d, &rows),
                delta_a_batch_own_direction: max_over(&spreads_b, &rows),
                delta_a_full_along_batch: max_over(&spreads_b, &all),
            }
        })
        .collect()
}

/// Train `arch` from `seed` with its recipe, measuring at the snapshots.
///
/// # Errors
/// An unknown architecture, or a training run that stopped on a non-finite
/// loss before the last snapshot.
pub fn one_run(cfg: &BatchStabilityConfig, splits: &Splits, arch: &str, seed: u64) -> Result<StabilityRun> {
    let model = zoo::arch::find(arch)?.build_on::<f32>(&ArchConfig::default(), cfg.backend)?;
    let recipe = cfg.recipe(arch);
    let at = cfg.snapshot_steps(arch);
    let mut state = model.init(seed);
    let mut rows = Vec::new();
    let mut seen = 0;
    let last = fit_observed(&model, &mut state, &splits.train, &recipe, seed.wrapping_add(1000), |step, s| {
        while seen < STAGES.len() && at[seen] == step {
            rows.extend(measure(cfg, &model, s, splits, (arch, seed), (seen, step)));
            seen += 1;
        }
    });
    if !last.is_finite() || seen < STAGES.len() {
        bail!(
            "{arch} seed {seed}: training stopped on a non-finite loss ({last}) before the {} snapshot",
            STAGES[seen.min(STAGES.len() - 1)]
        );
    }
    Ok(StabilityRun {
        arch: arch.into(),
        seed,
        rows,
    })
}

/// A snapshot's statistics over its mini-batches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SnapshotStats {
    /// Training step.
    pub step: u64,
    /// Eval-mode test accuracy.
    #[serde(with = "nullable_f64")]
    pub test_accuracy: f64,
    /// Δa(D; v_D).
    #[serde(with = "nullable_f64")]
    pub delta_a_full: f64,
    /// Coefficient of variation (sample std / mean) of Δa(B; v_D).
    #[serde(with = "nullable_f64")]
    pub cv_same_direction: f64,
    /// Coefficient of variation of Δa(B; v_B).
    #[serde(with = "nullable_f64")]
    pub cv_own_direction: f64,
    /// Median over batches of Δa(B; v_D)/Δa(D; v_D) (≤ 1).
    #[serde(with = "nullable_f64")]
    pub batch_over_full_median: f64,
    /// Median over batches of Δa(D; v_B)/Δa(B; v_B) (≥ 1): the factor by
    /// which ρa measured on the batch overestimates the training set's.
    #[serde(with = "nullable_f64")]
    pub overestimate_median: f64,
    /// The largest such factor over the batches.
    #[serde(with = "nullable_f64")]
    pub overestimate_max: f64,
}

/// Sample std / mean (NaN if the mean is not positive).
pub fn coefficient_of_variation(xs: &[f64]) -> f64 {
    let m = mean(xs);
    if m > 0.0 {
        std(xs) / m
    } else {
        f64::NAN
    }
}

impl SnapshotStats {
    /// The statistics of one snapshot's rows (all of one stage and seed).
    pub fn of(rows: &[&BatchRow]) -> SnapshotStats {
        let col = |f: fn(&BatchRow) -> f64| rows.iter().map(|r| f(r)).collect::<Vec<f64>>();
        let same = col(|r| r.delta_a_batch_same_direction);
        let own = col(|r| r.delta_a_batch_own_direction);
        let full = rows.first().map_or(f64::NAN, |r| r.delta_a_full);
        let over: Vec<f64> = rows
            .iter()
            .map(|r| r.delta_a_full_along_batch / r.delta_a_batch_own_direction)
            .collect();
        SnapshotStats {
            step: rows.first().map_or(0, |r| r.step),
            test_accuracy: rows.first().map_or(f64::NAN, |r| r.test_accuracy),
            delta_a_full: full,
            cv_same_direction: coefficient_of_variation(&same),
            cv_own_direction: coefficient_of_variation(&own),
            batch_over_full_median: median(&same.iter().map(|s| s / full).collect::<Vec<f64>>()),
            overestimate_median: median(&over),
            overestimate_max: finite_max(&over),
        }
    }
}

/// Per (architecture, stage): the snapshot statistics' medians over seeds
/// and, for the coefficients of variation, their range.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageSummary {
    /// Training step of the snapshot.
    pub step: u64,
    /// Median test accuracy over seeds.
    #[serde(with = "nullable_f64")]
    pub test_accuracy_median: f64,
    /// Median Δa(D; v_D) over seeds.
    #[serde(with = "nullable_f64")]
    pub delta_a_full_median: f64,
    /// Median over seeds of the CV of Δa(B; v_D).
    #[serde(with = "nullable_f64")]
    pub cv_same_direction_median: f64,
    /// Smallest such CV over seeds.
    #[serde(with = "nullable_f64")]
    pub cv_same_direction_min: f64,
    /// Largest such CV over seeds.
    #[serde(with = "nullable_f64")]
    pub cv_same_direction_max: f64,
    /// Median over seeds of the CV of Δa(B; v_B).
    #[serde(with = "nullable_f64")]
    pub cv_own_direction_median: f64,
    /// Smallest such CV over seeds.
    #[serde(with = "nullable_f64")]
    pub cv_own_direction_min: f64,
    /// Largest such CV over seeds.
    #[serde(with = "nullable_f64")]
    pub cv_own_direction_max: f64,
    /// Median over seeds of the median Δa(B; v_D)/Δa(D; v_D).
    #[serde(with = "nullable_f64")]
    pub batch_over_full_median: f64,
    /// Median over seeds of the median Δa(D; v_B)/Δa(B; v_B).
    #[serde(with = "nullable_f64")]
    pub overestimate_median: f64,
    /// Largest Δa(D; v_B)/Δa(B; v_B) over seeds and batches.
    #[serde(with = "nullable_f64")]
    pub overestimate_max: f64,
}

/// `results/batch-stability/summary.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StabilitySummary {
    /// Settings used.
    pub config: BatchStabilityConfig,
    /// `archs[arch][stage]`.
    pub archs: BTreeMap<String, BTreeMap<String, StageSummary>>,
}

/// Smallest finite value (NaN if none).
fn finite_min(xs: &[f64]) -> f64 {
    xs.iter().cloned().filter(|x| x.is_finite()).reduce(f64::min).unwrap_or(f64::NAN)
}

/// Largest finite value (NaN if none).
fn finite_max(xs: &[f64]) -> f64 {
    xs.iter().cloned().filter(|x| x.is_finite()).reduce(f64::max).unwrap_or(f64::NAN)
}

/// Every snapshot's statistics of `runs` for `arch` and `stage`, in seed order.
pub fn snapshot_stats(runs: &[StabilityRun], arch: &str, stage: &str) -> Vec<SnapshotStats> {
    runs.iter()
        .filter(|r| r.arch == arch)
        .map(|r| SnapshotStats::of(&r.rows.iter().filter(|b| b.stage == stage).collect::<Vec<_>>()))
        .collect()
}

fn summarize(cfg: &BatchStabilityConfig, runs: &[StabilityRun]) -> StabilitySummary {
    let mut archs = BTreeMap::new();
    for arch in &cfg.archs {
        let mut stages = BTreeMap::new();
        for stage in STAGES {
            let s = snapshot_stats(runs, arch, stage);
            let col = |f: fn(&SnapshotStats) -> f64| s.iter().map(f).collect::<Vec<f64>>();
            stages.insert(
                stage.to_string(),
                StageSummary {
                    step: s.first().map_or(0, |x| x.step),
                    test_accuracy_median: nan_median(&col(|x| x.test_accuracy)),
                    delta_a_full_median: nan_median(&col(|x| x.delta_a_full)),
                    cv_same_direction_median: nan_median(&col(|x| x.cv_same_direction)),
                    cv_same_direction_min: finite_min(&col(|x| x.cv_same_direction)),
                    cv_same_direction_max: finite_max(&col(|x| x.cv_same_direction)),
                    cv_own_direction_median: nan_median(&col(|x| x.cv_own_direction)),
                    cv_own_direction_min: finite_min(&col(|x| x.cv_own_direction)),
                    cv_own_direction_max: finite_max(&col(|x| x.cv_own_direction)),
                    batch_over_full_median: nan_median(&col(|x| x.batch_over_full_median)),
                    overestimate_median: nan_median(&col(|x| x.overestimate_median)),
                    overestimate_max: finite_max(&col(|x| x.overestimate_max)),
                },
            );
        }
        archs.insert(arch.clone(), stages);
    }
    StabilitySummary {
        config: cfg.clone(),
        archs,
    }
}

impl Study for BatchStability {
    const ID: &'static str = "batch-stability";
    const TITLE: &'static str = "Mini-batch stability of Delta_a (Appendix 1.2.2)";
    type Config = BatchStabilityConfig;
    type Spec = (String, u64);
    type Inputs = Splits;
    type Run = StabilityRun;
    type Summary = StabilitySummary;

    fn inputs(cfg: &BatchStabilityConfig) -> Result<Splits> {
        let digits = data::load_default_digits()?;
        let split = data::stratified_split(&digits.labels, cfg.test_ratio, cfg.split_seed);
        let all: Batch<f32> = Batch::from_digits(&digits, &(0..digits.len()).collect::<Vec<_>>());
        Ok(Splits {
            train: all.subset(&split.train),
            test: all.subset(&split.test),
        })
    }

    /// One job per (architecture, seed).
    fn jobs(cfg: &BatchStabilityConfig) -> Vec<Job<(String, u64)>> {
        cfg.archs
            .iter()
            .flat_map(|a| {
                cfg.seeds.iter().map(move |&seed| Job {
                    key: RunKey::new(SCHEMA, cfg, &format!("{a}-seed{seed}")),
                    label: format!("{a} seed {seed}"),
                    spec: (a.clone(), seed),
                })
            })
            .collect()
    }

    fn run_one(cfg: &BatchStabilityConfig, splits: &Splits, (arch, seed): &(String, u64)) -> Result<StabilityRun> {
        one_run(cfg, splits, arch, *seed)
    }

    fn note(run: &StabilityRun) -> String {
        let cvs: Vec<String> = STAGES
            .iter()
            .map(|stage| {
                let s = SnapshotStats::of(&run.rows.iter().filter(|b| b.stage == *stage).collect::<Vec<_>>());
                format!("{:.1}%", 100.0 * s.cv_same_direction)
            })
            .collect();
        format!("CV of Delta_a over batches (same direction) {}", cvs.join(" / "))
    }

    fn to_frame(run: &StabilityRun) -> Result<DataFrame> {
        to_frame(&run.rows)
    }

    fn from_frame(_: &BatchStabilityConfig, (arch, seed): &(String, u64), f: &DataFrame) -> Result<StabilityRun> {
        Ok(StabilityRun {
            arch: arch.clone(),
            seed: *seed,
            rows: from_frame(f)?,
        })
    }

    fn summarize(cfg: &BatchStabilityConfig, runs: &[StabilityRun]) -> StabilitySummary {
        summarize(cfg, runs)
    }

    fn config(summary: &StabilitySummary) -> &BatchStabilityConfig {
        &summary.config
    }

    fn render(ctx: &Context, summary: &StabilitySummary, runs: &[StabilityRun]) -> Result<Section> {
        render::render(ctx, summary, runs)
    }
}
