//! `overhead` (paper §8.6): what monitoring ρa costs per training step.
//!
//! For every digits architecture of the zoo, batch 128 on digits, and for
//! the CIFAR-10 models listed in the config (ResNet-8 and the paper's
//! ResNet-18 on synthetic 3×32×32 images, fast backend only), the median
//! wall time of
//! (a) one training step (taped forward, backward, AdamW update),
//! (b) the step plus ρa by forward finite differences (one extra forward at
//!     θ + εv, ε = 1e-4, against the step's own logits: the paper's estimator),
//! (c) the step plus ρa by the exact JVP (a tangent pass that reuses the
//!     step's forward cache),
//! each on both backends: dfdx (the reference) and the zoo's fast f32 path
//! (where the architecture has one).
//! v is the normalised gradient of the step; ρa = π / max over the batch of
//! the slope spread. The paper reports ResNet-18 on a GPU: 12.6 / 20.9 /
//! 28.7 ms (+66% / +129%). Our target: the exact JVP adds at most 50%.

mod render;

use crate::config::check::{self, Check};
use crate::{Context, Experiment};
use analysis::report::Section;
use anyhow::Result;
use radius::{set_rho_a, spreads_of_rows, Aggregation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;
use zoo::train::{AdamW, Recipe};
use zoo::{ArchConfig, Backend, Batch, Mode};

/// The experiment (registered in [`crate::registry`]).
pub struct Overhead;

/// Settings of the timing loops, read from `configs/overhead.yaml` (paper
/// scale: ≥ 50 timed steps after ≥ 10 warm-up) or
/// `configs/quick/overhead.yaml` (CI).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverheadConfig {
    /// Samples per step.
    pub batch: usize,
    /// Untimed steps before measuring.
    pub warmup: usize,
    /// Timed steps per variant (the median is reported).
    pub steps: usize,
    /// FD step ε.
    pub fd_eps: f64,
    /// Initialisation and batch seed.
    pub seed: u64,
    /// CIFAR-10 models (3×32×32) timed on synthetic images of that shape
    /// (normalised random bytes: a step's time does not depend on the
    /// pixels), on the fast backend only: dfdx takes minutes per ResNet-18
    /// step at batch 128. Default: none (results stored before these keys).
    #[serde(default)]
    pub cifar_archs: Vec<String>,
    /// Untimed steps per variant before measuring, CIFAR-10 models
    /// (default 2).
    #[serde(default = "two")]
    pub cifar_warmup: usize,
    /// Timed steps per variant, CIFAR-10 models (the median is reported;
    /// default 10).
    #[serde(default = "ten")]
    pub cifar_steps: usize,
}

fn two() -> usize {
    2
}

fn ten() -> usize {
    10
}

impl crate::config::Validate for OverheadConfig {
    fn validate(&self) -> Check {
        check::at_least("batch", self.batch, 1)?;
        check::at_least("steps", self.steps, 1)?;
        check::distinct("cifar_archs", &self.cifar_archs)?;
        for name in &self.cifar_archs {
            check::arch("cifar_archs", name)?;
            let cifar = zoo::arch::find(name).is_ok_and(|e| e.input == zoo::InputKind::Cifar10);
            check::that(
                cifar,
                "cifar_archs",
                format!("{name} does not read CIFAR-10 images"),
            )?;
            check::backend("cifar_archs", name, Backend::Fast)?;
        }
        check::at_least("cifar_steps", self.cifar_steps, 1)?;
        check::positive("fd_eps", self.fd_eps)
    }
}

/// Median times of one architecture, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchTiming {
    /// Trainable parameters.
    pub params: usize,
    /// (a) training step.
    pub step_ms: f64,
    /// (b) step + FD radius.
    pub fd_ms: f64,
    /// (c) step + exact-JVP radius.
    pub jvp_ms: f64,
    /// 100·(fd/step − 1).
    pub fd_overhead_pct: f64,
    /// 100·(jvp/step − 1).
    pub jvp_overhead_pct: f64,
}

/// One architecture on both backends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchTimings {
    /// On dfdx (`None`: not timed, a CIFAR-10 model).
    pub dfdx: Option<ArchTiming>,
    /// On the fast f32 backend, if the architecture has one.
    pub fast: Option<ArchTiming>,
    /// Why it has none (the build-time error), otherwise `None`.
    pub no_fast_path: Option<String>,
}

/// `results/overhead/summary.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct OverheadSummary {
    /// The settings used.
    pub config: OverheadConfig,
    /// Rayon threads available to the matmuls.
    pub threads: usize,
    /// Per architecture.
    pub archs: BTreeMap<String, ArchTimings>,
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Step,
    StepFd,
    StepJvp,
}

fn time_arch(
    model: &zoo::Model<f32>,
    entry: &zoo::ArchEntry,
    cfg: &OverheadConfig,
    train: &Batch<f32>,
    batches: &[Vec<usize>],
) -> ArchTiming {
    let recipe = Recipe::for_arch(entry.name);
    let batches: Vec<Batch<f32>> = batches.iter().map(|idx| train.subset(idx)).collect();
    // The three variants advance in lockstep, one step each per round in a
    // rotating order, so they see the same machine conditions (timings on a
    // shared CPU drift by ±15% over a run).
    let variants = [Variant::Step, Variant::StepFd, Variant::StepJvp];
    let mut states: Vec<_> = variants
        .iter()
        .map(|_| (model.init(cfg.seed), AdamW::new(model.num_params())))
        .collect();
    let mut times = vec![Vec::with_capacity(cfg.steps); variants.len()];
    for i in 0..cfg.warmup + cfg.steps {
        let batch = &batches[i % batches.len()];
        for r in 0..variants.len() {
            let which = (i + r) % variants.len();
            let variant = variants[which];
            let (state, opt) = &mut states[which];
            let start = Instant::now();
            let mut out = model.loss_and_grad(state, batch, Mode::Train);
            let slopes = match variant {
                Variant::Step => None,
                Variant::StepFd => Some(model.fd_jvp_forward(
                    state,
                    &batch.x,
                    &out.grad.normalized(),
                    cfg.fd_eps,
                    &out.logits,
                    Mode::Train,
                )),
                // The tangent is linear in v: run it along g and divide the
                // slopes by ‖g‖ instead of normalising the whole vector.
                Variant::StepJvp => {
                    Some(model.tangent(state, &mut out.cache, &out.grad, Mode::Train))
                }
            };
            if let Some(a) = slopes {
                let scale = if variant == Variant::StepJvp {
                    1.0 / out.grad.norm()
                } else {
                    1.0
                };
                let a: Vec<f64> = a.as_vec().iter().map(|&x| x as f64 * scale).collect();
                std::hint::black_box(set_rho_a(
                    &spreads_of_rows(&a, model.classes),
                    Aggregation::Max,
                ));
            }
            opt.step(&mut state.params, &out.grad, recipe.lr, recipe.weight_decay);
            if i >= cfg.warmup {
                times[which].push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let mut medians = times.iter().map(|t| analysis::stats::median(t));
    let (step_ms, fd_ms, jvp_ms) = (
        medians.next().unwrap(),
        medians.next().unwrap(),
        medians.next().unwrap(),
    );
    ArchTiming {
        params: model.num_params(),
        step_ms,
        fd_ms,
        jvp_ms,
        fd_overhead_pct: 100.0 * (fd_ms / step_ms - 1.0),
        jvp_overhead_pct: 100.0 * (jvp_ms / step_ms - 1.0),
    }
}

impl Experiment for Overhead {
    fn id(&self) -> &'static str {
        "overhead"
    }

    fn title(&self) -> &'static str {
        "Overhead of the radius per training step (paper Sec. 8.6)"
    }

    fn check_config(&self, path: &std::path::Path) -> Result<()> {
        crate::check_config_as::<OverheadConfig>(path)
    }

    fn run(&self, ctx: &Context) -> Result<()> {
        let loaded = ctx.load_config::<OverheadConfig>(self.id())?;
        let cfg = loaded.value.clone();
        let digits = data::load_default_digits()?;
        let split = data::stratified_split(&digits.labels, 0.3, 42);
        let train: Batch<f32> = Batch::from_digits(&digits, &split.train);
        if cfg.batch > train.len() {
            return Err(loaded
                .invalid(
                    "batch",
                    format!("expected at most {} (the training split)", train.len()),
                )
                .into());
        }
        // The same fixed batches for every architecture and variant.
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
        let batches: Vec<Vec<usize>> = (0..16)
            .map(|_| rand::seq::index::sample(&mut rng, train.len(), cfg.batch).into_vec())
            .collect();
        let mut archs = BTreeMap::new();
        let digits_archs = zoo::registry()
            .into_iter()
            .filter(|e| e.input == zoo::InputKind::Digits);
        for entry in digits_archs {
            let time = |model: &zoo::Model<f32>| {
                let t = time_arch(model, &entry, &cfg, &train, &batches);
                crate::note!(
                    "[overhead] {:<20} {:<4} step {:.3} ms, +FD {:.3} ms ({:+.0}%), +JVP {:.3} ms ({:+.0}%)",
                    entry.name, backend_name(model.backend()), t.step_ms, t.fd_ms, t.fd_overhead_pct, t.jvp_ms, t.jvp_overhead_pct
                );
                t
            };
            let dfdx = time(&entry.build::<f32>(&ArchConfig::default()));
            let (fast, no_fast_path) =
                match entry.build_on::<f32>(&ArchConfig::default(), Backend::Fast) {
                    Ok(model) => (Some(time(&model)), None),
                    Err(e) => (None, Some(format!("{e:#}"))),
                };
            archs.insert(
                entry.name.to_string(),
                ArchTimings {
                    dfdx: Some(dfdx),
                    fast,
                    no_fast_path,
                },
            );
        }
        // CIFAR-10 models: synthetic 3x32x32 images, fast backend only.
        let images: Batch<f32> = zoo::check::cifar_check_batch(2 * cfg.batch, cfg.seed).cast();
        let cifar_batches: Vec<Vec<usize>> = (0..4)
            .map(|_| rand::seq::index::sample(&mut rng, images.len(), cfg.batch).into_vec())
            .collect();
        let cifar_cfg = OverheadConfig {
            warmup: cfg.cifar_warmup,
            steps: cfg.cifar_steps,
            ..cfg.clone()
        };
        for name in &cfg.cifar_archs {
            let entry = zoo::arch::find(name)?;
            let model = entry.build_on::<f32>(&ArchConfig::default(), Backend::Fast)?;
            let t = time_arch(&model, &entry, &cifar_cfg, &images, &cifar_batches);
            crate::note!(
                "[overhead] {:<20} fast step {:.1} ms, +FD {:.1} ms ({:+.0}%), +JVP {:.1} ms ({:+.0}%)",
                name, t.step_ms, t.fd_ms, t.fd_overhead_pct, t.jvp_ms, t.jvp_overhead_pct
            );
            archs.insert(
                name.clone(),
                ArchTimings {
                    dfdx: None,
                    fast: Some(t),
                    no_fast_path: None,
                },
            );
        }
        let summary = OverheadSummary {
            config: cfg,
            threads: rayon_threads(),
            archs,
        };
        ctx.finish_run(self.id(), &summary, &loaded)
    }

    fn render(&self, ctx: &Context) -> Result<Section> {
        render::render(self, ctx, &ctx.read_summary(self.id())?)
    }
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Dfdx => "dfdx",
        Backend::Fast => "fast",
    }
}

fn rayon_threads() -> usize {
    // dfdx's matmuls run on rayon's current pool.
    rayon::current_num_threads()
}
