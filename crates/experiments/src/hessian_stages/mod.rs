//! `hessian-stages` (paper Appendix 5.4; the author's three-stage sweep,
//! spec §6.2 "The code's three-stage sweep" and §6.4): how far the Hessian
//! scale τ_H = 2/vᵀHv overestimates the safe step against the ghost radius
//! ρa = π/Δa, along the gradient and along random unit directions, at three
//! accuracy stages of MLP+LN-128; beside it the loss ratio along each
//! direction as a function of r = τ/ρa.
//!
//! Protocol (spec §6.2, the author's code):
//! 1. Stratified 70/30 split (seed 42). The eval set is 384 training samples
//!    drawn without replacement (`ChaCha8Rng` seed 1234); the stage test
//!    uses the 539 test samples.
//! 2. MLP+LN-128 from `model.init(seed)`, AdamW (lr 2.5e-3, weight decay
//!    1e-4, β 0.9/0.999), batches of 128 drawn without replacement at each
//!    step (batch RNG seed = seed + 101), at most 750 steps. Test accuracy is
//!    checked at every step that is a multiple of 10 (step 0 included),
//!    before that step's update; a stage's snapshot is the model the first
//!    time the accuracy reaches its threshold (early 0.84, mid 0.95, late
//!    0.98; one check may reach several). Training stops when every stage is
//!    reached; a stage never reached takes the final model (marked
//!    `reached = false`).
//! 3. Per stage, on the eval set (eval mode): base loss L0 (mean CE); the
//!    gradient direction v = +g/‖g‖ (ascent, the author's; `gradient_sign`)
//!    and 20 random unit directions (iid N(0, 1) per parameter, global norm).
//!    Per direction: ρa = π / max_x Δa(x) from the exact JVP a = J_z v;
//!    κ = vᵀHv (paper App. 5.4) by f64 central differences of exact
//!    gradients ([`zoo::curvature::directional_curvature`]); τ_H =
//!    2/max(κ, 1e-12); the ratio τ_H/ρa; on 42 log-spaced r in 1e-3..35,
//!    θ + r·ρa·v → loss ratio CE/L0.
//!
//! Random directions: the author seeds them with seed + (Python string hash
//! of the stage name mod 10000), which Python salts per process, so the
//! stored run's directions cannot be reproduced. Ours follow one documented
//! rule, the one `random-directions` uses: direction k (1..=20) of stage i
//! (0-based) of run `seed` is `ParamVec::random_unit` seeded with
//! splitmix64(splitmix64(splitmix64(seed) ^ i) ^ k)
//! ([`crate::random_directions::direction_seed`]).
//!
//! One run = one training seed (all stages and directions). Statistics are
//! in `summary.rs`, figures, table and verdict in `render.rs`.

mod render;
mod summary;
#[cfg(test)]
mod tests;

pub use summary::{HessianStagesSummary, SeedStage, StageSummary};

use crate::config::check::{self, Check};
use crate::random_directions::sweep::sweep_point;
use crate::random_directions::{direction_seed, GradientSign};
use crate::runner::Job;
use crate::study::Study;
use crate::Context;
use analysis::frame::{from_frame, to_frame};
use analysis::polars::prelude::DataFrame;
use analysis::report::Section;
use analysis::runs::RunKey;
use analysis::stats::logspace;
use anyhow::{bail, Context as _, Result};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use zoo::curvature::{cast_state, directional_curvature};
use zoo::model::argmax_rows;
use zoo::train::AdamW;
use zoo::{ArchConfig, Backend, Batch, Mode, Model, ParamVec, State};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 1;

/// κ is floored here before τ_H = 2/κ (spec §6.2: 2/max(κ, 1e-12)).
pub const KAPPA_FLOOR: f64 = 1e-12;

/// The experiment (registered in [`crate::registry`]).
pub struct HessianStages;

/// One accuracy stage: its name and the test accuracy that triggers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageTarget {
    /// Name (summary key, panel title), e.g. "early".
    pub name: String,
    /// Snapshot the first time the test accuracy is at least this (a fraction).
    pub accuracy: f64,
}

/// Settings of the experiment (spec §6.2, the code's three-stage sweep).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HessianStagesConfig {
    /// Registry name of the model (spec: MLP+LN-128, `mlp-ln`).
    pub arch: String,
    /// Training seeds (initialisation; batches use seed + `batch_seed_offset`).
    pub seeds: Vec<u64>,
    /// Seed of the stratified split.
    pub split_seed: u64,
    /// Test fraction of the split (the test part decides the stages).
    pub test_ratio: f64,
    /// Size of the eval set drawn from the training split.
    pub eval_samples: usize,
    /// RNG seed of the eval-set draw.
    pub eval_seed: u64,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Mini-batch size (drawn without replacement at each step).
    pub batch_size: usize,
    /// Batch RNG seed = training seed + this (spec: 101).
    pub batch_seed_offset: u64,
    /// Most optimiser steps.
    pub max_steps: usize,
    /// Test accuracy is checked at every step that is a multiple of this.
    pub check_every: usize,
    /// Stages in increasing accuracy order.
    pub stages: Vec<StageTarget>,
    /// Gradient direction: ascent (+g, the author's) or descent (−g).
    pub gradient_sign: GradientSign,
    /// Random unit directions per stage.
    pub random_directions: usize,
    /// First point of the log-spaced r grid.
    pub r_min: f64,
    /// Last point of the r grid.
    pub r_max: f64,
    /// Points of the r grid.
    pub r_points: usize,
    /// Onset = first grid r whose loss ratio is at least this (spec: 1.1).
    pub onset_ratio: f64,
    /// An onset "near 1" lies in this closed interval (spec: [0.8, 1.25]).
    pub near_one: [f64; 2],
    /// Central-difference step of κ = vᵀHv along the unit direction.
    pub hvp_eps: f64,
    /// Which implementation trains and sweeps the model: `fast` or `dfdx`
    /// (κ always uses the f64 dfdx model).
    pub backend: Backend,
}

impl crate::config::Validate for HessianStagesConfig {
    fn validate(&self) -> Check {
        check::arch("arch", &self.arch)?;
        check::backend("backend", &self.arch, self.backend)?;
        check::non_empty("seeds", &self.seeds)?;
        check::distinct("seeds", &self.seeds)?;
        check::fraction("test_ratio", self.test_ratio)?;
        check::at_least("eval_samples", self.eval_samples, 2)?;
        check::positive("lr", self.lr)?;
        check::that(
            self.weight_decay >= 0.0 && self.weight_decay.is_finite(),
            "weight_decay",
            format!("expected a finite value >= 0, got {}", self.weight_decay),
        )?;
        check::at_least("batch_size", self.batch_size, 1)?;
        check::at_least("max_steps", self.max_steps, 1)?;
        check::at_least("check_every", self.check_every, 1)?;
        check::non_empty("stages", &self.stages)?;
        for (i, s) in self.stages.iter().enumerate() {
            check::that(
                !s.name.is_empty()
                    && s.name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)),
                "stages",
                format!("stage name {:?} must be letters, digits, - or _", s.name),
            )?;
            check::that(
                !self.stages[..i].iter().any(|t| t.name == s.name),
                "stages",
                format!("stage name {:?} repeated", s.name),
            )?;
            check::that(
                s.accuracy > 0.0 && s.accuracy <= 1.0,
                "stages",
                format!(
                    "stage {:?}: accuracy {} must be in (0, 1]",
                    s.name, s.accuracy
                ),
            )?;
            check::that(
                i == 0 || s.accuracy > self.stages[i - 1].accuracy,
                "stages",
                "expected strictly increasing accuracy thresholds",
            )?;
        }
        check::at_least("random_directions", self.random_directions, 1)?;
        check::that(
            self.r_min > 0.0 && self.r_max > self.r_min && self.r_max.is_finite(),
            "r_min",
            "expected 0 < r_min < r_max (finite)",
        )?;
        check::at_least("r_points", self.r_points, 2)?;
        check::that(
            self.onset_ratio > 1.0 && self.onset_ratio.is_finite(),
            "onset_ratio",
            "expected a finite value > 1",
        )?;
        check::that(
            self.near_one[0] > 0.0 && self.near_one[0] <= 1.0 && self.near_one[1] >= 1.0,
            "near_one",
            "expected [lo, hi] with 0 < lo <= 1 <= hi",
        )?;
        check::that(
            self.hvp_eps > 0.0 && self.hvp_eps < 1.0,
            "hvp_eps",
            format!("expected a small positive step, got {}", self.hvp_eps),
        )
    }
}

impl HessianStagesConfig {
    /// The r grid: `r_points` log-spaced points `r_min`..`r_max` (spec: 42
    /// points 1e-3..35).
    pub fn r_grid(&self) -> Vec<f64> {
        logspace(self.r_min.log10(), self.r_max.log10(), self.r_points)
    }

    /// Index of the grid point nearest r = 1 in log r (0.983 on the spec's grid).
    pub fn r_near_one_index(&self) -> usize {
        let r = self.r_grid();
        (0..r.len())
            .min_by(|&i, &j| r[i].ln().abs().total_cmp(&r[j].ln().abs()))
            .unwrap_or(0)
    }
}

/// Everything measured along one direction at one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectionResult {
    /// 0 = gradient, 1..=K random.
    pub direction: usize,
    /// ρa = π / max_x Δa(x) on the eval set (paper Eq. 6).
    pub rho_a: f64,
    /// κ = vᵀHv of the mean eval CE (paper App. 5.4).
    pub kappa: f64,
    /// τ_H = 2 / max(κ, 1e-12).
    pub tau_h: f64,
    /// τ_H / ρa.
    pub hess_ratio: f64,
    /// CE(θ + r·ρa·v) / L0 at each grid r.
    pub loss_ratio: Vec<f64>,
}

/// One stage of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct StageResult {
    /// Stage name.
    pub name: String,
    /// True if the threshold was reached (else this is the final model).
    pub reached: bool,
    /// Optimiser steps before the snapshot.
    pub step: usize,
    /// Test accuracy at the snapshot (539 test samples at paper scale).
    pub test_accuracy: f64,
    /// Mean eval CE L0 at the snapshot.
    pub eval_loss: f64,
    /// Gradient first, then the random directions.
    pub directions: Vec<DirectionResult>,
}

impl StageResult {
    /// The gradient direction's result.
    pub fn gradient(&self) -> &DirectionResult {
        &self.directions[0]
    }
    /// The random directions' results.
    pub fn random(&self) -> &[DirectionResult] {
        &self.directions[1..]
    }
}

/// One training seed: every stage.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedRun {
    /// Training seed.
    pub seed: u64,
    /// The r grid.
    pub r: Vec<f64>,
    /// Stages in config order.
    pub stages: Vec<StageResult>,
}

/// The data every run reads.
pub struct Splits {
    /// The training split (batches).
    pub train: Batch<f32>,
    /// The test split (stage thresholds).
    pub test: Batch<f32>,
    /// `eval_samples` training samples drawn with `eval_seed` (ρa, κ, sweeps).
    pub eval: Batch<f32>,
    /// The eval set in f64 (κ).
    pub eval64: Batch<f64>,
}

impl Splits {
    /// The digits split and eval draw of `cfg`.
    ///
    /// # Errors
    /// The digits file cannot be read, or the eval set or a batch is larger
    /// than the training split.
    pub fn new(cfg: &HessianStagesConfig) -> Result<Splits> {
        let digits = data::load_default_digits()?;
        let split = data::stratified_split(&digits.labels, cfg.test_ratio, cfg.split_seed);
        let train: Batch<f32> = Batch::from_digits(&digits, &split.train);
        let test: Batch<f32> = Batch::from_digits(&digits, &split.test);
        if cfg.eval_samples > train.len() {
            bail!(
                "eval_samples = {} exceeds the training split ({} samples)",
                cfg.eval_samples,
                train.len()
            );
        }
        if cfg.batch_size > train.len() {
            bail!(
                "batch_size = {} exceeds the training split ({} samples)",
                cfg.batch_size,
                train.len()
            );
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.eval_seed);
        let pick = rand::seq::index::sample(&mut rng, train.len(), cfg.eval_samples).into_vec();
        let eval = train.subset(&pick);
        let eval64 = eval.cast();
        Ok(Splits {
            train,
            test,
            eval,
            eval64,
        })
    }
}

/// A snapshot taken during training: which stage, when, and the model.
struct Snapshot {
    reached: bool,
    step: usize,
    test_accuracy: f64,
    state: State<f32>,
}

/// Step 2: train one seed, taking each stage's snapshot the first time the
/// test accuracy reaches its threshold.
fn train_to_stages(
    cfg: &HessianStagesConfig,
    splits: &Splits,
    model: &Model<f32>,
    seed: u64,
) -> Result<Vec<Snapshot>> {
    let mut state = model.init(seed);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_add(cfg.batch_seed_offset));
    let mut opt = AdamW::new(model.num_params());
    let n = splits.train.len();
    let mut snaps: Vec<Option<Snapshot>> = cfg.stages.iter().map(|_| None).collect();
    let mut last_accuracy = f64::NAN;
    for step in 0..=cfg.max_steps {
        if step % cfg.check_every == 0 {
            let acc = zoo::train::evaluate(model, &state, &splits.test);
            last_accuracy = acc;
            for (target, snap) in cfg.stages.iter().zip(snaps.iter_mut()) {
                if snap.is_none() && acc >= target.accuracy {
                    *snap = Some(Snapshot {
                        reached: true,
                        step,
                        test_accuracy: acc,
                        state: state.clone(),
                    });
                }
            }
            if snaps.iter().all(Option::is_some) {
                break;
            }
        }
        if step == cfg.max_steps {
            break;
        }
        let idx = rand::seq::index::sample(&mut rng, n, cfg.batch_size).into_vec();
        let out = model.loss_and_grad(&mut state, &splits.train.subset(&idx), Mode::Train);
        if !out.loss.is_finite() {
            bail!("seed {seed}: training loss {} at step {step}", out.loss);
        }
        opt.step(&mut state.params, &out.grad, cfg.lr, cfg.weight_decay);
    }
    // A stage never reached takes the final model.
    let final_accuracy = if cfg.max_steps % cfg.check_every == 0 {
        last_accuracy
    } else {
        zoo::train::evaluate(model, &state, &splits.test)
    };
    Ok(snaps
        .into_iter()
        .map(|s| {
            s.unwrap_or_else(|| Snapshot {
                reached: false,
                step: cfg.max_steps,
                test_accuracy: final_accuracy,
                state: state.clone(),
            })
        })
        .collect())
}

/// What every direction of one stage reads.
struct StageInputs<'a> {
    model: &'a Model<f32>,
    model64: &'a Model<f64>,
    state: &'a State<f32>,
    state64: State<f64>,
    eval: &'a Batch<f32>,
    eval64: &'a Batch<f64>,
    r: &'a [f64],
    base_pred: Vec<usize>,
    base_loss: f64,
    hvp_eps: f64,
}

impl StageInputs<'_> {
    /// Step 3 along one unit direction `v`: ρa (exact JVP), κ (f64 central
    /// differences of exact gradients), τ_H, and the loss-ratio sweep.
    fn measure(&self, direction: usize, v: &ParamVec<f32>) -> DirectionResult {
        let k = self.model.classes;
        let jvp = self.model.jvp(self.state, &self.eval.x, v);
        let slopes: Vec<f64> = jvp.slopes.data.iter().map(|&a| a as f64).collect();
        let rho_a = radius::set_rho_a(
            &radius::spreads_of_rows(&slopes, k),
            radius::Aggregation::Max,
        )
        .rho_a;
        let kappa = directional_curvature(
            self.model64,
            &self.state64,
            self.eval64,
            &v.cast(),
            self.hvp_eps,
        );
        let tau_h = 2.0 / kappa.max(KAPPA_FLOOR);
        let taus: Vec<f64> = self.r.iter().map(|r| r * rho_a).collect();
        let inv_t = 1.0 / self.model.temperature;
        let mut scratch = Vec::new();
        let loss_ratio = self
            .model
            .logits_on_line(self.state, &self.eval.x, v, &taus)
            .iter()
            .map(|z| {
                let (loss, _, _) = sweep_point(
                    &z.data,
                    k,
                    &self.eval.labels,
                    &self.base_pred,
                    inv_t,
                    &mut scratch,
                );
                loss / self.base_loss
            })
            .collect();
        DirectionResult {
            direction,
            rho_a,
            kappa,
            tau_h,
            hess_ratio: tau_h / rho_a,
            loss_ratio,
        }
    }
}

/// Train one seed and measure every stage (steps 2 and 3).
///
/// # Errors
/// An unknown architecture, a non-finite training loss, or a zero or
/// non-finite gradient at a stage.
pub fn one_run(cfg: &HessianStagesConfig, splits: &Splits, seed: u64) -> Result<SeedRun> {
    let entry = zoo::arch::find(&cfg.arch)?;
    let model = entry.build_on::<f32>(&ArchConfig::default(), cfg.backend)?;
    let model64 = entry.build::<f64>(&ArchConfig::default());
    let r = cfg.r_grid();
    let snaps = train_to_stages(cfg, splits, &model, seed)?;
    let mut stages = Vec::with_capacity(snaps.len());
    for (si, (target, snap)) in cfg.stages.iter().zip(&snaps).enumerate() {
        // Gradient and base logits of the mean eval CE (eval mode).
        let full = model.loss_and_grad(&mut snap.state.clone(), &splits.eval, Mode::Eval);
        let base_pred = argmax_rows(&full.logits);
        let base_loss = sweep_point(
            &full.logits.data,
            model.classes,
            &splits.eval.labels,
            &base_pred,
            1.0 / model.temperature,
            &mut Vec::new(),
        )
        .0;
        let norm = full.grad.norm();
        if !(norm.is_finite() && norm > 0.0) {
            bail!("seed {seed}, stage {}: gradient norm {norm}", target.name);
        }
        let mut directions = vec![full.grad.normalized()];
        if cfg.gradient_sign == GradientSign::Descent {
            directions[0].scale(-1.0);
        }
        directions.extend(
            (1..=cfg.random_directions)
                .map(|k| ParamVec::random_unit(model.num_params(), direction_seed(seed, si, k))),
        );
        let inputs = StageInputs {
            model: &model,
            model64: &model64,
            state: &snap.state,
            state64: cast_state(&snap.state),
            eval: &splits.eval,
            eval64: &splits.eval64,
            r: &r,
            base_pred,
            base_loss,
            hvp_eps: cfg.hvp_eps,
        };
        // Directions in parallel, collected in order: each is a pure
        // function of its inputs, so rows do not depend on the thread count.
        let measured: Vec<DirectionResult> = directions
            .par_iter()
            .enumerate()
            .map(|(d, v)| inputs.measure(d, v))
            .collect();
        stages.push(StageResult {
            name: target.name.clone(),
            reached: snap.reached,
            step: snap.step,
            test_accuracy: snap.test_accuracy,
            eval_loss: base_loss,
            directions: measured,
        });
    }
    Ok(SeedRun { seed, r, stages })
}

/// One stored row: a (stage, direction, r) point with the stage's and the
/// direction's values repeated.
#[derive(Debug, Serialize, Deserialize)]
struct SweepRow {
    stage: String,
    reached: bool,
    step: u64,
    test_accuracy: f64,
    eval_loss: f64,
    direction: u64,
    rho_a: f64,
    kappa: f64,
    tau_h: f64,
    hess_ratio: f64,
    r: f64,
    loss_ratio: f64,
}

impl SeedRun {
    fn rows(&self) -> Vec<SweepRow> {
        let mut rows = Vec::new();
        for s in &self.stages {
            for d in &s.directions {
                for (i, &r) in self.r.iter().enumerate() {
                    rows.push(SweepRow {
                        stage: s.name.clone(),
                        reached: s.reached,
                        step: s.step as u64,
                        test_accuracy: s.test_accuracy,
                        eval_loss: s.eval_loss,
                        direction: d.direction as u64,
                        rho_a: d.rho_a,
                        kappa: d.kappa,
                        tau_h: d.tau_h,
                        hess_ratio: d.hess_ratio,
                        r,
                        loss_ratio: d.loss_ratio[i],
                    });
                }
            }
        }
        rows
    }

    fn from_rows(cfg: &HessianStagesConfig, seed: u64, rows: Vec<SweepRow>) -> Result<SeedRun> {
        let r = cfg.r_grid();
        let nr = r.len();
        if rows.len() % nr != 0 {
            bail!(
                "run seed {seed}: {} rows are not blocks of {nr} r values",
                rows.len()
            );
        }
        let mut stages: Vec<StageResult> = Vec::new();
        for block in rows.chunks(nr) {
            let b = &block[0];
            if block.iter().map(|x| x.r).ne(r.iter().copied()) {
                bail!("run seed {seed}: stored r grid differs from the config's");
            }
            let d = DirectionResult {
                direction: b.direction as usize,
                rho_a: b.rho_a,
                kappa: b.kappa,
                tau_h: b.tau_h,
                hess_ratio: b.hess_ratio,
                loss_ratio: block.iter().map(|x| x.loss_ratio).collect(),
            };
            match stages.last_mut() {
                Some(s) if s.name == b.stage => s.directions.push(d),
                _ => stages.push(StageResult {
                    name: b.stage.clone(),
                    reached: b.reached,
                    step: b.step as usize,
                    test_accuracy: b.test_accuracy,
                    eval_loss: b.eval_loss,
                    directions: vec![d],
                }),
            }
        }
        let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
        let want: Vec<&str> = cfg.stages.iter().map(|s| s.name.as_str()).collect();
        if names != want
            || stages
                .iter()
                .any(|s| s.directions.len() != cfg.random_directions + 1)
        {
            bail!("run seed {seed}: stored stages/directions do not match the config");
        }
        Ok(SeedRun { seed, r, stages })
    }
}

impl Study for HessianStages {
    const ID: &'static str = "hessian-stages";
    const TITLE: &'static str =
        "Hessian scale vs rho_a at three accuracy stages of MLP+LN-128 (App. 5.4; the author's three-stage sweep)";
    type Config = HessianStagesConfig;
    type Spec = u64;
    type Inputs = Splits;
    type Run = SeedRun;
    type Summary = HessianStagesSummary;

    fn inputs(cfg: &HessianStagesConfig) -> Result<Splits> {
        Splits::new(cfg)
    }

    fn jobs(cfg: &HessianStagesConfig) -> Vec<Job<u64>> {
        cfg.seeds
            .iter()
            .map(|&seed| Job {
                key: RunKey::new(SCHEMA, cfg, &format!("seed{seed}")),
                label: format!("seed {seed}"),
                spec: seed,
            })
            .collect()
    }

    fn run_one(cfg: &HessianStagesConfig, splits: &Splits, &seed: &u64) -> Result<SeedRun> {
        one_run(cfg, splits, seed).with_context(|| format!("hessian-stages seed {seed}"))
    }

    fn note(run: &SeedRun) -> String {
        run.stages
            .iter()
            .map(|s| {
                let med = analysis::stats::nan_median(
                    &s.random().iter().map(|d| d.hess_ratio).collect::<Vec<_>>(),
                );
                format!(
                    "{} step {} acc {:.1}% tau_H/rho_a {:.1}",
                    s.name,
                    s.step,
                    100.0 * s.test_accuracy,
                    med
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn to_frame(run: &SeedRun) -> Result<DataFrame> {
        to_frame(&run.rows())
    }

    fn from_frame(cfg: &HessianStagesConfig, &seed: &u64, f: &DataFrame) -> Result<SeedRun> {
        SeedRun::from_rows(cfg, seed, from_frame(f)?)
    }

    fn summarize(cfg: &HessianStagesConfig, runs: &[SeedRun]) -> HessianStagesSummary {
        summary::summarize(cfg, runs)
    }

    fn config(summary: &HessianStagesSummary) -> &HessianStagesConfig {
        &summary.config
    }

    fn render(ctx: &Context, summary: &HessianStagesSummary, runs: &[SeedRun]) -> Result<Section> {
        render::render(ctx, summary, runs)
    }
}
