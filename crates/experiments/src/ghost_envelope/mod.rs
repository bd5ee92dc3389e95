//! `ghost-envelope` (the author's code, spec §6.10; the paper's future work
//! (i) and (ii), T13): where the zeros of the partition function lie in
//! the complex τ plane along the descent direction, per sample, at three
//! training stages, and how loose ρa is against the exact nearest zeros.
//!
//! Protocol (spec §6.10):
//! 1. Stratified 70/30 split (seed 42); the eval set is 768 training
//!    samples drawn without replacement (`ChaCha8Rng` seed 42).
//! 2. Each architecture (Linear, MLP+LN-128, CNN-2D, TinyTransformer-B) is
//!    trained from `model.init(seed)` with its recipe (`zoo::train::Recipe`:
//!    AdamW, weight decay 1e-4, batches of 128 drawn without replacement,
//!    batch RNG = seed) on the training split.
//! 3. Snapshots at steps 0, steps/4 and steps: on the eval set (eval mode),
//!    g = ∇ of the mean CE, v = −g/‖g‖, logits z and the exact JVP slopes
//!    a = J_z v (one tangent pass over the gradient's forward). Per sample
//!    (label y, c = argmax_{k≠y} z_k): the top-2 ghost (T4) with
//!    δ = z_y − z_c, s = a_c − a_y: Re = δ/s, Im = π/|s| (Im = ∞ when
//!    |s| < 1e-12); the certified nearest zero t* of
//!    F(t) = Σ_k exp(z_k + a_k t) (`radius::exact_radius`, ρ* = |t*|); the
//!    spread Δa(x). ρa = π / max_x Δa(x); eval accuracy.
//!
//! The runs store one row per (stage, sample); the statistics (envelopes,
//! far-angle, ρ*/ρa quantiles) are in `summary.rs`, figures and table in
//! `render.rs`.

mod render;
mod summary;
#[cfg(test)]
mod tests;

pub use summary::{far_angle, Envelope, GhostSummary, SeedSpread, StageStats};

use crate::config::check::{self, Check};
use crate::runner::Job;
use crate::study::Study;
use crate::Context;
use analysis::frame::{from_frame, to_frame};
use analysis::polars::prelude::DataFrame;
use analysis::report::Section;
use analysis::runs::RunKey;
use anyhow::{bail, Context as _, Result};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::time::Instant;
use zoo::train::{AdamW, Recipe};
use zoo::{ArchConfig, Backend, Batch, Mode, Model, State};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 1;

/// Below this |s| = |a_c − a_y| the top-2 pair has no ghost at finite
/// distance: Im = ∞ (spec §6.10, the author's threshold).
pub const MIN_SLOPE_GAP: f64 = 1e-12;

/// The three snapshot stages, in order (spec §6.10: steps 0, steps/4, steps).
pub const STAGES: [&str; 3] = ["untrained", "mid", "final"];

/// The experiment (registered in [`crate::registry`]).
pub struct GhostEnvelope;

/// Settings of the experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GhostEnvelopeConfig {
    /// Registry names, in plotting order (spec §6.10: linear, mlp-ln, cnn,
    /// tiny-transformer-b).
    pub archs: Vec<String>,
    /// Training seeds (initialisation and batch order).
    pub seeds: Vec<u64>,
    /// The seed compared with the author's stored run and drawn in the
    /// figures (spec §6.10: seed 0, the canonical run).
    pub canonical_seed: u64,
    /// Seed of the stratified split.
    pub split_seed: u64,
    /// Test fraction of the split.
    pub test_ratio: f64,
    /// Size of the eval set drawn from the training split.
    pub eval_samples: usize,
    /// RNG seed of the eval-set draw.
    pub eval_seed: u64,
    /// Training steps for every architecture (quick mode); `None` uses
    /// each recipe's own.
    pub steps: Option<usize>,
    /// Which implementation runs the models: `fast` or `dfdx`.
    pub backend: Backend,
}

impl crate::config::Validate for GhostEnvelopeConfig {
    fn validate(&self) -> Check {
        check::non_empty("archs", &self.archs)?;
        for a in &self.archs {
            check::arch("archs", a)?;
            check::backend("backend", a, self.backend)?;
        }
        check::distinct("archs", &self.archs)?;
        check::non_empty("seeds", &self.seeds)?;
        check::distinct("seeds", &self.seeds)?;
        check::that(
            self.seeds.contains(&self.canonical_seed),
            "canonical_seed",
            format!(
                "expected one of the seeds {:?}, got {}",
                self.seeds, self.canonical_seed
            ),
        )?;
        check::fraction("test_ratio", self.test_ratio)?;
        check::at_least("eval_samples", self.eval_samples, 2)?;
        check::that(
            self.steps.is_none_or(|s| s >= 4),
            "steps",
            "expected at least 4 steps, so that steps/4 is a snapshot of its own (or leave it out)",
        )
    }
}

impl GhostEnvelopeConfig {
    /// The recipe `arch` trains with (its own, steps replaced in quick mode).
    pub fn recipe(&self, arch: &str) -> Recipe {
        let r = Recipe::for_arch(arch);
        match self.steps {
            Some(s) => r.with_steps(s),
            None => r,
        }
    }

    /// The snapshot steps of `arch`: 0, steps/4, steps.
    pub fn snapshot_steps(&self, arch: &str) -> [usize; 3] {
        let n = self.recipe(arch).steps;
        [0, n / 4, n]
    }
}

/// One sample's ghosts at one snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleGhost {
    /// Index in the eval set.
    pub sample: u64,
    /// True label y.
    pub label: u64,
    /// δ = z_y − z_c, c the strongest wrong class.
    pub margin: f64,
    /// s = a_c − a_y.
    pub slope_gap: f64,
    /// Δa(x) = max_k a_k − min_k a_k.
    pub delta_a: f64,
    /// Top-2 ghost Re = δ/s (NaN when |s| < [`MIN_SLOPE_GAP`]).
    pub top2_re: f64,
    /// Top-2 ghost Im = π/|s| (∞ when |s| < [`MIN_SLOPE_GAP`]).
    pub top2_im: f64,
    /// The certified nearest zero t* of F (Im t* > 0): real part (NaN when
    /// F has no zero).
    pub exact_re: f64,
    /// Imaginary part of t* (NaN when F has no zero).
    pub exact_im: f64,
    /// ρ* = |t*| (∞ when F has no zero).
    pub rho_exact: f64,
}

impl SampleGhost {
    /// ρ_top2 = √(δ² + π²)/|s|, the modulus of the top-2 ghost (∞ without one).
    pub fn rho_top2(&self) -> f64 {
        if self.top2_im.is_finite() {
            self.margin.hypot(PI) / self.slope_gap.abs()
        } else {
            f64::INFINITY
        }
    }
}

/// The top-2 ghost of one sample (spec §6.10, T4): the label y and its
/// strongest competitor c = argmax_{k≠y} z_k (the first on ties), δ = z_y −
/// z_c, s = a_c − a_y; Re = δ/s, Im = π/|s| if |s| ≥ [`MIN_SLOPE_GAP`],
/// else Re = NaN, Im = ∞. Returns (δ, s, Re, Im).
///
/// # Panics
/// If `label` is not a class of `logits`, or fewer than 2 classes.
pub fn top2_ghost(logits: &[f64], slopes: &[f64], label: usize) -> (f64, f64, f64, f64) {
    assert!(logits.len() >= 2 && label < logits.len() && slopes.len() == logits.len());
    let mut c = usize::MAX;
    for k in 0..logits.len() {
        if k != label && (c == usize::MAX || logits[k] > logits[c]) {
            c = k;
        }
    }
    let margin = logits[label] - logits[c];
    let s = slopes[c] - slopes[label];
    if s.abs() >= MIN_SLOPE_GAP {
        (margin, s, margin / s, PI / s.abs())
    } else {
        (margin, s, f64::NAN, f64::INFINITY)
    }
}

/// One snapshot of one run: the stage's values and every eval sample's ghosts.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// One of [`STAGES`].
    pub stage: String,
    /// Optimiser steps taken before it.
    pub step: u64,
    /// Eval accuracy (argmax z = y on the eval set).
    pub accuracy: f64,
    /// Mean CE on the eval set.
    pub loss: f64,
    /// ρa = π / max_x Δa(x) on the eval set along v.
    pub rho_a: f64,
    /// Wall time of the exact-zero solver over the eval set (seconds; a
    /// measurement, not part of the method's output).
    pub exact_seconds: f64,
    /// Per sample, in eval-set order.
    pub samples: Vec<SampleGhost>,
}

/// One (architecture, seed) run: three snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct GhostRun {
    /// Registry name.
    pub arch: String,
    /// Training seed.
    pub seed: u64,
    /// Untrained, mid, final.
    pub snapshots: Vec<Snapshot>,
}

/// One stored row: a (stage, sample) with the stage's values repeated.
#[derive(Debug, Serialize, Deserialize)]
struct GhostRow {
    stage: String,
    step: u64,
    accuracy: f64,
    loss: f64,
    rho_a: f64,
    exact_seconds: f64,
    sample: u64,
    label: u64,
    margin: f64,
    slope_gap: f64,
    delta_a: f64,
    top2_re: f64,
    top2_im: f64,
    exact_re: f64,
    exact_im: f64,
    rho_exact: f64,
}

impl GhostRow {
    fn ghost(&self) -> SampleGhost {
        SampleGhost {
            sample: self.sample,
            label: self.label,
            margin: self.margin,
            slope_gap: self.slope_gap,
            delta_a: self.delta_a,
            top2_re: self.top2_re,
            top2_im: self.top2_im,
            exact_re: self.exact_re,
            exact_im: self.exact_im,
            rho_exact: self.rho_exact,
        }
    }
}

/// The splits every run reads: the training split and the eval set.
pub struct Splits {
    /// The training split (stratified, `split_seed`).
    pub train: Batch<f32>,
    /// `eval_samples` training samples drawn with `eval_seed`.
    pub eval: Batch<f32>,
}

impl Splits {
    /// The digits split and eval draw of `cfg`.
    ///
    /// # Errors
    /// The digits file cannot be read, or the eval set is larger than the
    /// training split.
    pub fn new(cfg: &GhostEnvelopeConfig) -> Result<Splits> {
        let digits = data::load_default_digits()?;
        let split = data::stratified_split(&digits.labels, cfg.test_ratio, cfg.split_seed);
        let train: Batch<f32> = Batch::from_digits(&digits, &split.train);
        if cfg.eval_samples > train.len() {
            bail!(
                "eval_samples = {} exceeds the training split ({} samples)",
                cfg.eval_samples,
                train.len()
            );
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.eval_seed);
        let pick = rand::seq::index::sample(&mut rng, train.len(), cfg.eval_samples).into_vec();
        let eval = train.subset(&pick);
        Ok(Splits { train, eval })
    }
}

/// A snapshot of `state` on `eval` (spec §6.10, step 3).
///
/// # Errors
/// A non-finite gradient, logit or slope, or an exact zero that cannot be
/// certified (named with the sample).
pub fn measure(
    model: &Model<f32>,
    state: &State<f32>,
    eval: &Batch<f32>,
    stage: &str,
    step: u64,
) -> Result<Snapshot> {
    let mut st = state.clone();
    let mut out = model.loss_and_grad(&mut st, eval, Mode::Eval);
    let norm = out.grad.norm();
    if !(norm.is_finite() && norm > 0.0) {
        bail!("{stage} (step {step}): gradient norm {norm}, no descent direction");
    }
    let mut v = out.grad.normalized();
    v.scale(-1.0);
    let slopes = model.tangent(&st, &mut out.cache, &v, Mode::Eval);
    let k = model.classes;
    let z: Vec<f64> = out.logits.data.iter().map(|&x| x as f64).collect();
    let a: Vec<f64> = slopes.data.iter().map(|&x| x as f64).collect();
    let spreads = radius::spreads_of_rows(&a, k);
    let rho_a = radius::set_rho_a(&spreads, radius::Aggregation::Max).rho_a;
    if !rho_a.is_finite() {
        bail!("{stage} (step {step}): rho_a = {rho_a} (non-finite slopes)");
    }
    let accuracy = zoo::accuracy(&out.logits, &eval.labels);
    let mut samples = Vec::with_capacity(eval.len());
    let mut exact_seconds = 0.0;
    for (i, &y) in eval.labels.iter().enumerate() {
        let (zi, ai) = (&z[i * k..(i + 1) * k], &a[i * k..(i + 1) * k]);
        let (margin, slope_gap, top2_re, top2_im) = top2_ghost(zi, ai, y);
        let t0 = Instant::now();
        let exact = radius::exact_radius(zi, ai)
            .with_context(|| format!("{stage} (step {step}), eval sample {i}: exact radius"))?;
        exact_seconds += t0.elapsed().as_secs_f64();
        let (exact_re, exact_im) = exact.ghost.map_or((f64::NAN, f64::NAN), |g| (g.re, g.im));
        samples.push(SampleGhost {
            sample: i as u64,
            label: y as u64,
            margin,
            slope_gap,
            delta_a: spreads[i],
            top2_re,
            top2_im,
            exact_re,
            exact_im,
            rho_exact: exact.rho_exact,
        });
    }
    Ok(Snapshot {
        stage: stage.into(),
        step,
        accuracy,
        loss: out.loss,
        rho_a,
        exact_seconds,
        samples,
    })
}

/// Train `arch` from seed `seed` with its recipe, measuring at the snapshot
/// steps (spec §6.10): the zoo's AdamW loop (`zoo::train::fit`'s, batch RNG
/// `ChaCha8Rng` = seed) with the snapshots taken in between.
///
/// # Errors
/// A non-finite training loss (named with the step), or a failed snapshot.
pub fn one_run(cfg: &GhostEnvelopeConfig, splits: &Splits, arch: &str, seed: u64) -> Result<GhostRun> {
    let model = zoo::arch::find(arch)?.build_on::<f32>(&ArchConfig::default(), cfg.backend)?;
    let recipe = cfg.recipe(arch);
    let at = cfg.snapshot_steps(arch);
    let mut state = model.init(seed);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut opt = AdamW::new(model.num_params());
    let n = splits.train.len();
    let mut snapshots = Vec::with_capacity(STAGES.len());
    for step in 0..=recipe.steps {
        for (stage, _) in STAGES.iter().zip(at).filter(|(_, s)| *s == step) {
            snapshots.push(
                measure(&model, &state, &splits.eval, stage, step as u64)
                    .with_context(|| format!("{arch} seed {seed}"))?,
            );
        }
        if step == recipe.steps {
            break;
        }
        let batch = match recipe.batch {
            Some(b) if b < n => splits
                .train
                .subset(&rand::seq::index::sample(&mut rng, n, b).into_vec()),
            _ => splits.train.clone(),
        };
        let out = model.loss_and_grad(&mut state, &batch, Mode::Train);
        if !out.loss.is_finite() {
            bail!("{arch} seed {seed}: training loss {} at step {step}", out.loss);
        }
        opt.step(&mut state.params, &out.grad, recipe.lr, recipe.weight_decay);
    }
    Ok(GhostRun {
        arch: arch.into(),
        seed,
        snapshots,
    })
}

impl GhostRun {
    fn rows(&self) -> Vec<GhostRow> {
        self.snapshots
            .iter()
            .flat_map(|s| {
                s.samples.iter().map(move |g| GhostRow {
                    stage: s.stage.clone(),
                    step: s.step,
                    accuracy: s.accuracy,
                    loss: s.loss,
                    rho_a: s.rho_a,
                    exact_seconds: s.exact_seconds,
                    sample: g.sample,
                    label: g.label,
                    margin: g.margin,
                    slope_gap: g.slope_gap,
                    delta_a: g.delta_a,
                    top2_re: g.top2_re,
                    top2_im: g.top2_im,
                    exact_re: g.exact_re,
                    exact_im: g.exact_im,
                    rho_exact: g.rho_exact,
                })
            })
            .collect()
    }

    fn from_rows(arch: &str, seed: u64, rows: Vec<GhostRow>) -> Result<GhostRun> {
        let mut snapshots: Vec<Snapshot> = Vec::new();
        for r in rows {
            let g = r.ghost();
            match snapshots.last_mut() {
                Some(s) if s.stage == r.stage => s.samples.push(g),
                _ => snapshots.push(Snapshot {
                    stage: r.stage,
                    step: r.step,
                    accuracy: r.accuracy,
                    loss: r.loss,
                    rho_a: r.rho_a,
                    exact_seconds: r.exact_seconds,
                    samples: vec![g],
                }),
            }
        }
        let names: Vec<&str> = snapshots.iter().map(|s| s.stage.as_str()).collect();
        if names != STAGES {
            bail!("run {arch} seed {seed}: stored stages {names:?}, expected {STAGES:?}");
        }
        Ok(GhostRun {
            arch: arch.into(),
            seed,
            snapshots,
        })
    }
}

impl Study for GhostEnvelope {
    const ID: &'static str = "ghost-envelope";
    const TITLE: &'static str = "Ghost envelope: top-2 and exact zeros across training (author's code, spec §6.10)";
    type Config = GhostEnvelopeConfig;
    type Spec = (String, u64);
    type Inputs = Splits;
    type Run = GhostRun;
    type Summary = GhostSummary;

    fn inputs(cfg: &GhostEnvelopeConfig) -> Result<Splits> {
        Splits::new(cfg)
    }

    /// One job per (architecture, seed); the transformer (the longest)
    /// first, then the CNN.
    fn jobs(cfg: &GhostEnvelopeConfig) -> Vec<Job<(String, u64)>> {
        let mut archs: Vec<&String> = cfg.archs.iter().collect();
        archs.sort_by(|a, b| Self::arch_cost(b).total_cmp(&Self::arch_cost(a)));
        archs
            .into_iter()
            .flat_map(|a| {
                cfg.seeds.iter().map(move |&seed| Job {
                    key: RunKey::new(SCHEMA, cfg, &format!("{a}-seed{seed}")),
                    label: format!("{a} seed {seed}"),
                    spec: (a.clone(), seed),
                })
            })
            .collect()
    }

    fn cost(cfg: &GhostEnvelopeConfig, (arch, _): &(String, u64)) -> f64 {
        Self::arch_cost(arch) * cfg.recipe(arch).steps as f64
    }

    fn run_one(cfg: &GhostEnvelopeConfig, splits: &Splits, (arch, seed): &(String, u64)) -> Result<GhostRun> {
        one_run(cfg, splits, arch, *seed)
    }

    fn note(run: &GhostRun) -> String {
        let last = run.snapshots.last();
        format!(
            "final rho_a = {:.4}, eval acc {:.1}%",
            last.map_or(f64::NAN, |s| s.rho_a),
            100.0 * last.map_or(f64::NAN, |s| s.accuracy)
        )
    }

    fn to_frame(run: &GhostRun) -> Result<DataFrame> {
        to_frame(&run.rows())
    }

    fn from_frame(_: &GhostEnvelopeConfig, (arch, seed): &(String, u64), f: &DataFrame) -> Result<GhostRun> {
        GhostRun::from_rows(arch, *seed, from_frame(f)?)
    }

    fn summarize(cfg: &GhostEnvelopeConfig, runs: &[GhostRun]) -> GhostSummary {
        summary::summarize(cfg, runs)
    }

    fn config(summary: &GhostSummary) -> &GhostEnvelopeConfig {
        &summary.config
    }

    fn render(ctx: &Context, summary: &GhostSummary, runs: &[GhostRun]) -> Result<Section> {
        render::render(ctx, summary, runs)
    }
}

impl GhostEnvelope {
    /// Forward cost per sample relative to Linear (spec §5's FLOPs), for
    /// ordering and sharding jobs.
    fn arch_cost(arch: &str) -> f64 {
        match arch {
            "linear" => 1.3,
            "cnn" => 184.0,
            a if a.contains("transformer") => 470.0,
            _ => 53.0,
        }
    }
}
