//! `natural-instability` (paper Fig 12, Table 3): ResNets trained with SGD
//! and momentum at fixed learning rates against the ρ-set controller, and
//! how often the fixed rates step past the radius (r = τ/ρa > 1) without
//! any spike.
//!
//! Protocol (spec §6.9; the paper's ResNet-18 on CIFAR-10, or the spec's
//! scaled variants, chosen by the config):
//! 1. Per (method, seed): the model (`arch`) initialised from the seed, on
//!    the digits (stratified split, `split_seed`) or on CIFAR-10 read from
//!    the user's binary release (`data_root` or `--data-root`; optionally a
//!    fixed stratified subset, Variant B). Every method of a seed shares the
//!    initialisation, the batch order (a ChaCha8 permutation per epoch) and
//!    the augmentation (`data::augment_rng(seed, epoch, batch)`: CIFAR crop
//!    + flip, digits ±1-pixel shift).
//! 2. SGD with momentum 0.9, dampening 0, coupled weight decay 5e-4, train
//!    mode (BatchNorm on batch statistics), spec C4: v_eff is the momentum
//!    buffer this step produces, τ = lr_eff·‖v_eff‖.
//! 3. Fixed rates: lr_eff = η. The ρ-set controller (spec C2): lr_eff =
//!    r_target·ρa/‖v_eff‖ every step, so τ = r_target·ρa (the target is
//!    honoured; the author's code always used r = 1).
//! 4. ρa along v = −v_eff/‖v_eff‖ on the current batch (at most
//!    `probe_samples` samples) by `estimator`: the exact JVP of the train-mode
//!    function the step evaluated (default) or the paper's forward
//!    difference (ε = 1e-4, running statistics moved as in the author's
//!    code; whether they moved is recorded). The controller measures every
//!    step; fixed rates at the logged points only (`log_every`: batches 0,
//!    k, 2k, ... of each epoch; the paper's 50).
//! 5. After every epoch: test cross-entropy (sum over samples / count) and
//!    accuracy in eval mode. A non-finite loss (or a refused step) stops the
//!    run; the rest is padded with NaN.
//! 6. Table 3 per method: median over seeds of the largest logged r, median
//!    count of logged points with r > 1, final test accuracy median and IQR.

mod render;
mod summary;
#[cfg(test)]
mod tests;

pub use summary::{MethodSummary, NaturalInstabilitySummary, Table3Row};

use crate::config::check::{self, Check};
use crate::config::ConfigError;
use crate::runner::Job;
use crate::study::Study;
use crate::Context;
use analysis::frame::{from_frame, to_frame};
use analysis::polars::prelude::DataFrame;
use analysis::report::Section;
use analysis::runs::RunKey;
use analysis::stats::max_finite;
use analysis::table::{fmt_pct, fmt_sig};
use anyhow::Result;
use control::{Controller, RadiusProbe, RhoEstimator, Schedule, Sgd, StepPolicy};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use zoo::{ArchConfig, Backend, Batch, InputKind, Mode, Model, State};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 1;

/// r above 1 by at most this much is rounding, not an exceedance (the
/// ρ-set controller at r = 1 computes τ/ρa = 1 to a few ulp).
pub const R_ROUNDING: f64 = 1e-9;

/// Test samples per eval-mode forward (bounds the memory of a CIFAR test
/// pass).
const TEST_CHUNK: usize = 1000;

/// The experiment (registered in [`crate::registry`]).
pub struct NaturalInstability;

/// Where the images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    /// The digits shipped with the project (1×8×8), stratified split.
    Digits,
    /// CIFAR-10 from the user's binary release under `data_root`.
    Cifar10,
}

/// A fixed stratified CIFAR-10 subset (spec §6.9 Variant B).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CifarSubset {
    /// Training images kept (the spec: 5,000).
    pub train: usize,
    /// Test images kept (the spec: 1,000).
    pub test: usize,
    /// Seed of the stratified choice ([`data::CifarSplits::stratified_subset`]).
    pub seed: u64,
}

/// How a run chooses its learning rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodKind {
    /// A fixed learning rate η.
    Fixed,
    /// The ρ-set controller: lr_eff = r_target·ρa/‖v_eff‖.
    RhoSet,
}

/// One method: a fixed rate or a controller target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Method {
    /// Fixed rate or controller.
    pub kind: MethodKind,
    /// η (fixed) or r_target (controller).
    pub value: f64,
}

impl Method {
    /// "eta 0.005" or "ctrl r=1" (the paper's row names).
    pub fn label(&self) -> String {
        match self.kind {
            MethodKind::Fixed => format!("eta {}", self.value),
            MethodKind::RhoSet => format!("ctrl r={}", self.value),
        }
    }

    /// The label's file-name form: "lr0.005", "r1".
    fn key(&self) -> String {
        match self.kind {
            MethodKind::Fixed => format!("lr{}", self.value),
            MethodKind::RhoSet => format!("r{}", self.value),
        }
    }
}

/// Settings of the experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NaturalInstabilityConfig {
    /// Printed beside every number this config produces, e.g. "scaled:
    /// ResNet-8 on digits" (empty for the paper's own setting).
    pub scale_label: String,
    /// Registry name of the model (`resnet8`, `resnet8-cifar`,
    /// `resnet18-cifar`); it must read the `data`.
    pub arch: String,
    /// The images.
    pub data: DataSource,
    /// CIFAR-10 only: the directory holding the binary release
    /// (`data_batch_1.bin` .. `test_batch.bin`, or the unpacked
    /// `cifar-10-batches-bin/` inside it); relative to the project root.
    /// `--data-root` overrides it. Not part of the run keys.
    #[serde(default)]
    pub data_root: Option<PathBuf>,
    /// CIFAR-10 only: a fixed stratified subset (`null`: the full sets).
    #[serde(default)]
    pub cifar_subset: Option<CifarSubset>,
    /// Digits only: test fraction of the stratified split.
    pub test_ratio: f64,
    /// Digits only: seed of the split (the same for every run).
    pub split_seed: u64,
    /// Train-time augmentation (CIFAR crop + flip; digits ±1-pixel shift).
    pub augment: bool,
    /// Training epochs.
    pub epochs: usize,
    /// Batch size (the last batch of an epoch is shorter).
    pub batch: usize,
    /// Momentum μ (spec C4: 0.9).
    pub momentum: f64,
    /// Coupled weight decay, added to the gradient (spec: 5e-4).
    pub weight_decay: f64,
    /// Fixed learning rates η (the paper: 0.005, 0.01, 0.1, 0.5).
    pub fixed_rates: Vec<f64>,
    /// Controller targets r (the paper: 0.5, 1, 2, 4).
    pub r_targets: Vec<f64>,
    /// The rate the controller's step is proposed at before it is rescaled
    /// (cancels; the author's placeholder 0.1).
    pub controller_lr: f64,
    /// Seeds: initialisation, batch order, augmentation.
    pub seeds: Vec<u64>,
    /// Logged points are batches 0, k, 2k, ... of each epoch (the paper's
    /// 50): fixed rates measure ρa there only; Table 3 counts r > 1 there
    /// for every method.
    pub log_every: usize,
    /// ρa on at most this many samples of the current batch (paper: 256).
    pub probe_samples: usize,
    /// How ρa is estimated (`step-mode-jvp`: exact, in the step's train
    /// mode; `forward-difference`: the paper's).
    pub estimator: RhoEstimator,
    /// `fast` (the zoo's f32 path) or `dfdx`.
    pub backend: Backend,
}

impl NaturalInstabilityConfig {
    /// The methods, controllers first (their runs are the longest: ρa every
    /// step), then the fixed rates, each in config order.
    pub fn methods(&self) -> Vec<Method> {
        let ctrl = self.r_targets.iter().map(|&value| Method {
            kind: MethodKind::RhoSet,
            value,
        });
        let fixed = self.fixed_rates.iter().map(|&value| Method {
            kind: MethodKind::Fixed,
            value,
        });
        ctrl.chain(fixed).collect()
    }

    /// The methods in the paper's table order: fixed rates, then controllers.
    pub fn table_order(&self) -> Vec<Method> {
        let mut m = self.methods();
        m.rotate_left(self.r_targets.len());
        m
    }

    /// The config without what does not change a run's result (where the
    /// data lives): what the run keys hash.
    fn keyed(&self) -> Self {
        NaturalInstabilityConfig {
            data_root: None,
            ..self.clone()
        }
    }
}

impl crate::config::Validate for NaturalInstabilityConfig {
    fn validate(&self) -> Check {
        check::arch("arch", &self.arch)?;
        let entry = zoo::arch::find(&self.arch).map_err(|e| ("arch", e.to_string()))?;
        let wanted = match self.data {
            DataSource::Digits => InputKind::Digits,
            DataSource::Cifar10 => InputKind::Cifar10,
        };
        check::that(
            entry.input == wanted,
            "arch",
            format!(
                "{} reads {:?} images but data is {:?}",
                self.arch, entry.input, self.data
            ),
        )?;
        check::that(
            self.data == DataSource::Cifar10 || self.cifar_subset.is_none(),
            "cifar_subset",
            "only for data: cifar10",
        )?;
        if let Some(s) = &self.cifar_subset {
            check::at_least("cifar_subset", s.train.min(s.test), 1)?;
        }
        check::fraction("test_ratio", self.test_ratio)?;
        check::at_least("epochs", self.epochs, 1)?;
        check::at_least("batch", self.batch, 1)?;
        check::that(
            (0.0..1.0).contains(&self.momentum),
            "momentum",
            format!("expected 0 <= momentum < 1, got {}", self.momentum),
        )?;
        check::that(
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "weight_decay",
            format!("expected a non-negative number, got {}", self.weight_decay),
        )?;
        check::that(
            !(self.fixed_rates.is_empty() && self.r_targets.is_empty()),
            "fixed_rates",
            "expected at least one fixed rate or controller target",
        )?;
        check::distinct_positive("fixed_rates", &self.fixed_rates)?;
        check::distinct_positive("r_targets", &self.r_targets)?;
        check::positive("controller_lr", self.controller_lr)?;
        check::non_empty("seeds", &self.seeds)?;
        check::distinct("seeds", &self.seeds)?;
        check::at_least("log_every", self.log_every, 1)?;
        check::at_least("probe_samples", self.probe_samples, 1)?;
        self.estimator
            .validate()
            .map_err(|e| ("estimator", e.to_string()))?;
        check::backend("backend", &self.arch, self.backend)
    }
}

/// One (method, seed) run: one row per step; the test metrics on each
/// epoch's last step (NaN on the other rows).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NaturalRun {
    /// Fixed rate or controller.
    pub kind: MethodKind,
    /// η or r_target.
    pub value: f64,
    /// Seed.
    pub seed: u64,
    /// The step at which the run stopped (non-finite loss or a refused
    /// step); `None`: it ran to the end.
    #[serde(with = "analysis::frame::option_as_nan")]
    pub stop_step: Option<usize>,
    /// Steps at which measuring ρa moved the BatchNorm running statistics
    /// (the paper's forward difference in train mode; 0 for the JVP).
    pub probe_moved_buffers: u64,
    /// Step index t.
    pub step: Vec<u64>,
    /// Epoch of the step.
    pub epoch: Vec<u64>,
    /// 1 at the logged points (batch index within the epoch divisible by
    /// `log_every`).
    pub logged: Vec<u64>,
    /// lr_eff of the step (NaN where no step was taken).
    pub lr_eff: Vec<f64>,
    /// τ = lr_eff·‖v_eff‖ (NaN where no step was taken).
    pub tau: Vec<f64>,
    /// ρa along the step (NaN where not measured).
    pub rho_a: Vec<f64>,
    /// r = τ/ρa.
    pub r: Vec<f64>,
    /// Minibatch CE before the update.
    pub loss: Vec<f64>,
    /// ‖g‖ of the minibatch gradient (without weight decay).
    pub grad_norm: Vec<f64>,
    /// Test CE after the epoch (on its last step's row; NaN elsewhere).
    pub test_loss: Vec<f64>,
    /// Test accuracy after the epoch (on its last step's row; NaN
    /// elsewhere).
    pub test_acc: Vec<f64>,
}

impl NaturalRun {
    /// The method of the run.
    pub fn method(&self) -> Method {
        Method {
            kind: self.kind,
            value: self.value,
        }
    }

    /// Per epoch (in order): `f` on the epoch's last row.
    fn per_epoch(&self, epochs: usize, v: &[f64]) -> Vec<f64> {
        let mut out = vec![f64::NAN; epochs];
        for (i, &e) in self.epoch.iter().enumerate() {
            let last = self.epoch.get(i + 1).is_none_or(|&n| n != e);
            if last && (e as usize) < epochs {
                out[e as usize] = v[i];
            }
        }
        out
    }

    /// Test CE after each epoch.
    pub fn epoch_test_loss(&self, epochs: usize) -> Vec<f64> {
        self.per_epoch(epochs, &self.test_loss)
    }

    /// Test accuracy after each epoch.
    pub fn epoch_test_acc(&self, epochs: usize) -> Vec<f64> {
        self.per_epoch(epochs, &self.test_acc)
    }

    /// r at the logged points (NaN where not measured or stopped).
    pub fn logged_r(&self) -> Vec<f64> {
        self.r
            .iter()
            .zip(&self.logged)
            .filter(|(_, &l)| l == 1)
            .map(|(&r, _)| r)
            .collect()
    }

    /// Largest logged r of each epoch (NaN if none is finite).
    pub fn epoch_max_r(&self, epochs: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; epochs];
        for ((&e, &r), &l) in self.epoch.iter().zip(&self.r).zip(&self.logged) {
            let e = e as usize;
            if l == 1 && r.is_finite() && e < epochs && (out[e].is_nan() || out[e] < r) {
                out[e] = r;
            }
        }
        out
    }

    /// Largest logged r.
    pub fn max_logged_r(&self) -> f64 {
        max_finite(&self.logged_r())
    }

    /// Logged points with r > 1 beyond rounding (r > 1 + [`R_ROUNDING`]:
    /// the r = 1 controller's τ/ρa lands a few ulp either side of 1; the
    /// paper's table also sets such "exceedances < 1e-15" apart).
    pub fn logged_r_above_one(&self) -> usize {
        self.logged_r()
            .iter()
            .filter(|&&r| r > 1.0 + R_ROUNDING)
            .count()
    }

    /// Logged points with 1 < r ≤ 1 + [`R_ROUNDING`] (rounding only).
    pub fn logged_r_rounding_above_one(&self) -> usize {
        self.logged_r()
            .iter()
            .filter(|&&r| r > 1.0 && r <= 1.0 + R_ROUNDING)
            .count()
    }

    /// Test accuracy after the last epoch (NaN if the run stopped before).
    pub fn final_test_acc(&self) -> f64 {
        self.test_acc
            .iter()
            .rev()
            .find(|x| !x.is_nan())
            .copied()
            .filter(|_| self.stop_step.is_none())
            .unwrap_or(f64::NAN)
    }
}

/// What one job computes.
#[derive(Debug, Clone, Copy)]
pub struct RunSpec {
    /// The method.
    pub method: Method,
    /// Seed.
    pub seed: u64,
}

/// The images every run reads, loaded once.
pub enum Images {
    /// The digits and the split (indices into them).
    Digits {
        /// All 1,797 images.
        digits: data::Digits,
        /// Training indices.
        train: Vec<usize>,
        /// Test indices.
        test: Vec<usize>,
    },
    /// CIFAR-10 (possibly the stratified subset).
    Cifar(data::CifarSplits),
}

impl Images {
    fn n_train(&self) -> usize {
        match self {
            Images::Digits { train, .. } => train.len(),
            Images::Cifar(c) => c.train.len(),
        }
    }

    fn n_test(&self) -> usize {
        match self {
            Images::Digits { test, .. } => test.len(),
            Images::Cifar(c) => c.test.len(),
        }
    }

    /// The training batch of positions `rows` (into the training part),
    /// augmented with `rng` when asked.
    fn train_batch(
        &self,
        rows: &[usize],
        augment: bool,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Batch<f32> {
        match self {
            Images::Digits { digits, train, .. } => {
                let idx: Vec<usize> = rows.iter().map(|&i| train[i]).collect();
                let b: Batch<f32> = Batch::from_digits(digits, &idx);
                if augment {
                    let x = data::shift_digits_batch(&b.x.data, rng);
                    Batch::new(x, data::N_PIXELS, b.labels, data::N_CLASSES)
                } else {
                    b
                }
            }
            Images::Cifar(c) => {
                let x = if augment {
                    c.train.augmented_batch(rows, rng)
                } else {
                    c.train.batch(rows)
                };
                Batch::new(
                    x,
                    data::cifar::CIFAR_FEATURES,
                    c.train.batch_labels(rows),
                    data::N_CLASSES,
                )
            }
        }
    }

    /// Test samples `range` as a batch.
    fn test_batch(&self, range: std::ops::Range<usize>) -> Batch<f32> {
        let rows: Vec<usize> = range.collect();
        match self {
            Images::Digits { digits, test, .. } => {
                let idx: Vec<usize> = rows.iter().map(|&i| test[i]).collect();
                Batch::from_digits(digits, &idx)
            }
            Images::Cifar(c) => Batch::new(
                c.test.batch(&rows),
                data::cifar::CIFAR_FEATURES,
                c.test.batch_labels(&rows),
                data::N_CLASSES,
            ),
        }
    }
}

/// Test CE (sum over samples / count) and accuracy in eval mode.
fn evaluate(model: &Model<f32>, state: &State<f32>, images: &Images) -> (f64, f64) {
    let n = images.n_test();
    let (mut ce_sum, mut correct) = (0.0, 0usize);
    for start in (0..n).step_by(TEST_CHUNK) {
        let batch = images.test_batch(start..(start + TEST_CHUNK).min(n));
        let logits = model.logits(state, &batch.x);
        ce_sum += model.loss_of_logits(&logits, &batch) * batch.len() as f64;
        correct += zoo::argmax_rows(&logits)
            .iter()
            .zip(&batch.labels)
            .filter(|(a, b)| a == b)
            .count();
    }
    (ce_sum / n as f64, correct as f64 / n as f64)
}

/// The (method, seed) runs of a config, controllers first.
fn jobs(cfg: &NaturalInstabilityConfig) -> Vec<Job<RunSpec>> {
    let keyed = cfg.keyed();
    let mut out = Vec::new();
    for method in cfg.methods() {
        for &seed in &cfg.seeds {
            out.push(Job {
                key: RunKey::new(SCHEMA, &keyed, &format!("{}-seed{seed}", method.key())),
                label: format!("{} seed {seed}", method.label()),
                spec: RunSpec { method, seed },
            });
        }
    }
    out
}

/// Train one (method, seed) run.
pub(crate) fn one_run(
    cfg: &NaturalInstabilityConfig,
    images: &Images,
    spec: &RunSpec,
) -> Result<NaturalRun> {
    let RunSpec { method, seed } = *spec;
    let model = zoo::arch::find(&cfg.arch)?.build_on::<f32>(&ArchConfig::default(), cfg.backend)?;
    let mut state = model.init(seed);
    let (policy, lr) = match method.kind {
        MethodKind::Fixed => (StepPolicy::Plain, method.value),
        MethodKind::RhoSet => (
            StepPolicy::RhoSet {
                r_target: method.value,
            },
            cfg.controller_lr,
        ),
    };
    let sgd = Sgd::with_momentum(cfg.momentum).with_weight_decay(cfg.weight_decay);
    let probe = RadiusProbe::on_current_batch()
        .with_estimator(cfg.estimator)
        .with_max_samples(cfg.probe_samples);
    let mut ctrl = Controller::new(sgd, policy, Schedule::constant(lr))
        .with_probe(probe)
        .with_mode(Mode::Train);

    let n = images.n_train();
    let per_epoch = n.div_ceil(cfg.batch);
    let steps = per_epoch * cfg.epochs;
    let nan_col = || vec![f64::NAN; steps];
    let mut run = NaturalRun {
        kind: method.kind,
        value: method.value,
        seed,
        stop_step: None,
        probe_moved_buffers: 0,
        step: (0..steps as u64).collect(),
        epoch: (0..steps).map(|t| (t / per_epoch) as u64).collect(),
        logged: (0..steps)
            .map(|t| u64::from((t % per_epoch).is_multiple_of(cfg.log_every)))
            .collect(),
        lr_eff: nan_col(),
        tau: nan_col(),
        rho_a: nan_col(),
        r: nan_col(),
        loss: nan_col(),
        grad_norm: nan_col(),
        test_loss: nan_col(),
        test_acc: nan_col(),
    };
    // One permutation stream per seed, shared by every method.
    let mut order_rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    'epochs: for epoch in 0..cfg.epochs {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut order_rng);
        for (b, rows) in order.chunks(cfg.batch).enumerate() {
            let t = epoch * per_epoch + b;
            let mut aug = data::augment_rng(seed, epoch as u64, b as u64);
            let batch = images.train_batch(rows, cfg.augment, &mut aug);
            // Fixed rates measure ρa at the logged points only.
            ctrl.log_rho_every = usize::from(run.logged[t] == 1);
            debug_assert_eq!(ctrl.next_step(), t);
            let log = ctrl.step(&model, &mut state, &batch);
            run.loss[t] = log.loss;
            run.grad_norm[t] = log.grad_norm;
            run.rho_a[t] = log.rho_a;
            run.probe_moved_buffers += u64::from(log.probe_moved_buffers);
            if log.applied {
                run.lr_eff[t] = log.lr_eff;
                run.tau[t] = log.tau;
                run.r[t] = log.r;
            }
            // Divergence is a result: the run stops, never a panic.
            if !log.applied || !log.loss.is_finite() {
                run.stop_step = Some(t);
                break 'epochs;
            }
        }
        let (test_loss, test_acc) = evaluate(&model, &state, images);
        let last = (epoch + 1) * per_epoch - 1;
        run.test_loss[last] = test_loss;
        run.test_acc[last] = test_acc;
    }
    Ok(run)
}

/// Load the images of `cfg` (CIFAR-10 from `data_root`).
fn load_images(cfg: &NaturalInstabilityConfig) -> Result<Images> {
    match cfg.data {
        DataSource::Digits => {
            let digits = data::load_default_digits()?;
            let split = data::stratified_split(&digits.labels, cfg.test_ratio, cfg.split_seed);
            Ok(Images::Digits {
                digits,
                train: split.train,
                test: split.test,
            })
        }
        DataSource::Cifar10 => {
            let root = cfg.data_root.as_ref().ok_or_else(|| ConfigError {
                file: "data_root".into(),
                location: None,
                message: "data: cifar10 needs the CIFAR-10 binary release: set data_root in the config or pass --data-root DIR (see README, \"Running on CIFAR-10\")".into(),
            })?;
            let splits = data::load_cifar10(root, Some(data::cifar::CIFAR_RECORDS_PER_FILE))
                .map_err(|e| ConfigError {
                    file: root.display().to_string(),
                    location: None,
                    message: format!("{e} (data_root / --data-root: the CIFAR-10 binary release)"),
                })?;
            Ok(Images::Cifar(match &cfg.cifar_subset {
                Some(s) => splits.stratified_subset(s.train, s.test, s.seed),
                None => splits,
            }))
        }
    }
}

impl Study for NaturalInstability {
    const ID: &'static str = "natural-instability";
    const TITLE: &'static str =
        "Natural instability: fixed rates vs the rho_a-controller, SGD with momentum (Fig 12, Table 3)";
    type Config = NaturalInstabilityConfig;
    type Spec = RunSpec;
    type Inputs = Images;
    type Run = NaturalRun;
    type Summary = NaturalInstabilitySummary;

    fn adapt(cfg: &mut NaturalInstabilityConfig, ctx: &Context) {
        if let Some(root) = &ctx.data_root {
            cfg.data_root = Some(root.clone());
        } else if let Some(root) = &cfg.data_root {
            if root.is_relative() {
                cfg.data_root = Some(ctx.root.join(root));
            }
        }
    }

    fn inputs(cfg: &NaturalInstabilityConfig) -> Result<Images> {
        load_images(cfg)
    }

    fn jobs(cfg: &NaturalInstabilityConfig) -> Vec<Job<RunSpec>> {
        jobs(cfg)
    }

    /// A training step (forward and backward) counts 1; measuring ρa (a
    /// forward and tangent pass) about half of one, every step for the
    /// controller, every `log_every`-th for a fixed rate.
    fn cost(cfg: &NaturalInstabilityConfig, spec: &RunSpec) -> f64 {
        match spec.method.kind {
            MethodKind::RhoSet => 1.5,
            MethodKind::Fixed => 1.0 + 0.5 / cfg.log_every as f64,
        }
    }

    fn run_one(
        cfg: &NaturalInstabilityConfig,
        images: &Images,
        spec: &RunSpec,
    ) -> Result<NaturalRun> {
        one_run(cfg, images, spec)
    }

    fn note(run: &NaturalRun) -> String {
        match run.stop_step {
            Some(t) => format!("stopped at step {t} (loss {})", run.loss[t]),
            None => format!(
                "final test acc {}, max logged r {}",
                fmt_pct(run.final_test_acc(), 1),
                fmt_sig(run.max_logged_r(), 3)
            ),
        }
    }

    fn to_frame(run: &NaturalRun) -> Result<DataFrame> {
        to_frame(run)
    }

    fn from_frame(_: &NaturalInstabilityConfig, _: &RunSpec, f: &DataFrame) -> Result<NaturalRun> {
        from_frame(f)
    }

    fn summarize(cfg: &NaturalInstabilityConfig, runs: &[NaturalRun]) -> NaturalInstabilitySummary {
        summary::summarize(cfg, runs)
    }

    fn config(summary: &NaturalInstabilitySummary) -> &NaturalInstabilityConfig {
        &summary.config
    }

    fn render(
        ctx: &Context,
        summary: &NaturalInstabilitySummary,
        runs: &[NaturalRun],
    ) -> Result<Section> {
        render::render(ctx, summary, runs)
    }
}
