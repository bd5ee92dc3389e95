//! `phase-transition` (paper Figs 1 and 7): one gradient step at
//! normalised size r = τ/ρa from each converged architecture.
//!
//! Protocol (spec §6.2, the proposal that follows the paper's text):
//! 1. Train each architecture with its recipe (`zoo::train::Recipe`) on the
//!    stratified 70/30 split (seed 42), one run per seed.
//! 2. At the converged θ: g = ∇ of the mean training CE (eval mode),
//!    v = −g/‖g‖ (a descent step), a = J_z v on the training split by the
//!    exact JVP, ρa = π / max_x Δa(x).
//! 3. For r on 61 log-spaced points in [1e-2, 1e2]: θ' = θ + r·ρa·v;
//!    record test accuracy retained (%) and test loss inflation
//!    CE(θ')/CE(θ).
//! Failure (ours, as the spec proposes): retained accuracy < 90% or loss
//! inflation > 2. The paper's claim: no architecture fails for r < 1.

mod render;
pub(crate) use render::paper_arch;
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
use analysis::stats::{logspace, nan_median};
use analysis::store::nullable_f64;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use zoo::model::accuracy;
use zoo::train::{fit, Recipe};
use zoo::{ArchConfig, Batch, Mode};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 2;

/// The experiment (registered in [`crate::registry`]).
pub struct PhaseTransition;

/// Settings of the experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseTransitionConfig {
    /// Registry names, in plotting order.
    pub archs: Vec<String>,
    /// Training seeds (initialisation and batch order).
    pub seeds: Vec<u64>,
    /// Seed of the stratified split.
    pub split_seed: u64,
    /// Test fraction of the split.
    pub test_ratio: f64,
    /// r grid: `r_points` log-spaced points from 10^`log10_r_min` to 10^`log10_r_max`.
    pub log10_r_min: f64,
    /// Upper end of the r grid (log10).
    pub log10_r_max: f64,
    /// Number of r points.
    pub r_points: usize,
    /// Training steps override (quick mode); `None` uses each recipe's.
    pub steps: Option<usize>,
    /// Failure: retained test accuracy below this percentage...
    pub fail_retained_pct: f64,
    /// ... or loss inflation above this factor.
    pub fail_inflation: f64,
}

impl crate::config::Validate for PhaseTransitionConfig {
    fn validate(&self) -> Check {
        check::non_empty("archs", &self.archs)?;
        for a in &self.archs {
            check::arch("archs", a)?;
        }
        check::distinct("archs", &self.archs)?;
        check::non_empty("seeds", &self.seeds)?;
        check::distinct("seeds", &self.seeds)?;
        check::fraction("test_ratio", self.test_ratio)?;
        check::at_least("r_points", self.r_points, 2)?;
        check::that(
            self.log10_r_min < self.log10_r_max,
            "log10_r_min",
            "expected log10_r_min < log10_r_max",
        )?;
        check::that(
            self.steps != Some(0),
            "steps",
            "expected at least 1 step (or leave it out)",
        )?;
        check::that(
            self.fail_retained_pct > 0.0 && self.fail_retained_pct <= 100.0,
            "fail_retained_pct",
            format!(
                "expected a percentage in (0, 100], got {}",
                self.fail_retained_pct
            ),
        )?;
        check::that(
            self.fail_inflation > 1.0,
            "fail_inflation",
            format!("expected a factor above 1, got {}", self.fail_inflation),
        )
    }
}

/// One (architecture, seed) run, stored as one row per r (run-level values
/// repeated).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseRun {
    /// Registry name.
    pub arch: String,
    /// Training seed.
    pub seed: u64,
    /// Test accuracy of the converged model.
    pub base_accuracy: f64,
    /// Test CE of the converged model.
    pub base_loss: f64,
    /// ρa on the training split along the descent direction.
    pub rho_a: f64,
    /// The r grid.
    pub r: Vec<f64>,
    /// Test accuracy retained (%) at each r (NaN if the step diverged).
    pub retained_pct: Vec<f64>,
    /// Test loss inflation at each r.
    pub inflation: Vec<f64>,
}

/// Smallest grid r where the failure criterion holds.
fn first_failure(cfg: &PhaseTransitionConfig, run: &PhaseRun) -> Option<f64> {
    (0..run.r.len())
        .find(|&i| {
            !(run.retained_pct[i] >= cfg.fail_retained_pct) || run.inflation[i] > cfg.fail_inflation
        })
        .map(|i| run.r[i])
}

/// Per-architecture summary.
#[derive(Debug, Serialize, Deserialize)]
pub struct ArchSummary {
    /// Median ρa over seeds.
    #[serde(with = "nullable_f64")]
    pub rho_a_median: f64,
    /// Median converged test accuracy.
    #[serde(with = "nullable_f64")]
    pub base_accuracy_median: f64,
    /// Smallest failing r over all seeds (None: no failure on the grid).
    pub min_failure_r: Option<f64>,
    /// Median over seeds of each seed's first failing r.
    pub median_failure_r: Option<f64>,
    /// Median loss inflation at the largest r.
    #[serde(with = "nullable_f64")]
    pub inflation_at_rmax_median: f64,
}

/// `results/phase-transition/summary.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PhaseSummary {
    /// Settings used.
    pub config: PhaseTransitionConfig,
    /// Per architecture.
    pub archs: BTreeMap<String, ArchSummary>,
    /// True if any architecture and seed failed below r = 1.
    pub any_failure_below_r1: bool,
}

/// The training and test splits every run reads.
pub struct Splits {
    train: Batch<f32>,
    test: Batch<f32>,
}

impl Study for PhaseTransition {
    const ID: &'static str = "phase-transition";
    const TITLE: &'static str = "Phase transition at r = 1 (Figs 1, 7)";
    type Config = PhaseTransitionConfig;
    type Spec = (String, u64);
    type Inputs = Splits;
    type Run = PhaseRun;
    type Summary = PhaseSummary;

    fn inputs(cfg: &PhaseTransitionConfig) -> Result<Splits> {
        let digits = data::load_default_digits()?;
        let split = data::stratified_split(&digits.labels, cfg.test_ratio, cfg.split_seed);
        let all: Batch<f32> = Batch::from_digits(&digits, &(0..digits.len()).collect::<Vec<_>>());
        Ok(Splits {
            train: all.subset(&split.train),
            test: all.subset(&split.test),
        })
    }

    /// One job per (architecture, seed).
    fn jobs(cfg: &PhaseTransitionConfig) -> Vec<Job<(String, u64)>> {
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

    /// Train, take the descent direction and its ρa, then one step of each
    /// size r·ρa from the trained θ.
    fn run_one(
        cfg: &PhaseTransitionConfig,
        Splits { train, test }: &Splits,
        (arch, seed): &(String, u64),
    ) -> Result<PhaseRun> {
        let seed = *seed;
        let model = zoo::arch::find(arch)?.build::<f32>(&ArchConfig::default());
        let mut recipe = Recipe::for_arch(arch);
        if let Some(steps) = cfg.steps {
            recipe = recipe.with_steps(steps);
        }
        let mut state = model.init(seed);
        fit(&model, &mut state, train, &recipe, seed.wrapping_add(1000));
        let base_logits = model.logits(&state, &test.x);
        let (base_accuracy, base_loss) = (
            accuracy(&base_logits, &test.labels),
            model.loss_of_logits(&base_logits, test),
        );
        let step = model.loss_and_grad(&mut state.clone(), train, Mode::Eval);
        let mut v = step.grad.normalized();
        v.scale(-1.0);
        let slopes: Vec<f64> = model
            .jvp(&state, &train.x, &v)
            .slopes
            .as_vec()
            .iter()
            .map(|&a| a as f64)
            .collect();
        let rho_a = radius::set_rho_a(
            &radius::spreads_of_rows(&slopes, model.classes),
            radius::Aggregation::Max,
        )
        .rho_a;
        let r = logspace(cfg.log10_r_min, cfg.log10_r_max, cfg.r_points);
        let (mut retained_pct, mut inflation) = (Vec::new(), Vec::new());
        for &ri in &r {
            let mut moved = state.clone();
            moved.params.axpy(ri * rho_a, &v);
            let logits = model.logits(&moved, &test.x);
            let loss = model.loss_of_logits(&logits, test);
            // A diverged step (non-finite loss) is a result, recorded as NaN accuracy.
            retained_pct.push(if loss.is_finite() {
                100.0 * accuracy(&logits, &test.labels) / base_accuracy
            } else {
                f64::NAN
            });
            inflation.push(if loss.is_finite() {
                loss / base_loss
            } else {
                f64::INFINITY
            });
        }
        Ok(PhaseRun {
            arch: arch.clone(),
            seed,
            base_accuracy,
            base_loss,
            rho_a,
            r,
            retained_pct,
            inflation,
        })
    }

    fn note(run: &PhaseRun) -> String {
        format!(
            "rho_a = {:.4}, test acc {:.1}%",
            run.rho_a,
            100.0 * run.base_accuracy
        )
    }

    fn to_frame(run: &PhaseRun) -> Result<DataFrame> {
        to_frame(run)
    }

    fn from_frame(_: &PhaseTransitionConfig, _: &(String, u64), f: &DataFrame) -> Result<PhaseRun> {
        from_frame(f)
    }

    fn summarize(cfg: &PhaseTransitionConfig, runs: &[PhaseRun]) -> PhaseSummary {
        let mut archs = BTreeMap::new();
        let mut any_below = false;
        for arch in &cfg.archs {
            let mine: Vec<&PhaseRun> = runs.iter().filter(|r| &r.arch == arch).collect();
            let fails: Vec<f64> = mine.iter().filter_map(|r| first_failure(cfg, r)).collect();
            any_below |= fails.iter().any(|&f| f < 1.0);
            let med = |v: Vec<f64>| nan_median(&v);
            archs.insert(
                arch.clone(),
                ArchSummary {
                    rho_a_median: med(mine.iter().map(|r| r.rho_a).collect()),
                    base_accuracy_median: med(mine.iter().map(|r| r.base_accuracy).collect()),
                    min_failure_r: fails.iter().cloned().reduce(f64::min),
                    median_failure_r: if fails.len() == mine.len() {
                        Some(med(fails.clone()))
                    } else {
                        None
                    },
                    inflation_at_rmax_median: med(mine
                        .iter()
                        .map(|r| *r.inflation.last().unwrap_or(&f64::NAN))
                        .collect()),
                },
            );
        }
        PhaseSummary {
            config: cfg.clone(),
            archs,
            any_failure_below_r1: any_below,
        }
    }

    fn config(summary: &PhaseSummary) -> &PhaseTransitionConfig {
        &summary.config
    }

    fn render(ctx: &Context, summary: &PhaseSummary, runs: &[PhaseRun]) -> Result<Section> {
        render::render(ctx, summary, runs)
    }
}
