//! `transformer-radii` (paper Fig 11, Table 2): a tiny transformer trained
//! with its step set by the radius of the whole network (the all-radii
//! controller), by the logits' radius alone, or at a fixed learning rate.
//!
//! Protocol (spec §6.8, the author's code `experiments/tfmbottlenecks/run.py`):
//! 1. Data: one random permutation of the 1797 digits (seed 42, not
//!    stratified); its first ⌊0.3·1797⌋ = 539 rows are the test set, the
//!    other 1258 the training set (`data::permutation_split`). Every step
//!    is full batch on the training set.
//! 2. Model: TinyTransformer-A (26,154 parameters; spec §5) initialised
//!    from the seed (seeds 0..4), on the zoo's fast f32 backend.
//! 3. AdamW (β 0.9/0.999, ε 1e-8, decoupled weight decay 1e-4: θ ←
//!    θ(1 − lr_eff·wd), then the Adam step), steps 0..=1200.
//! 4. Modes. Fixed: `fixed-1x` (lr 2e-3) and `fixed-16x` (3.2e-2). Adaptive
//!    (ρ-set with r = 1, no base rate; spec C2, C3, C8): each step, u is
//!    Adam's exact update with this step's moments (weight decay not in u),
//!    v = −u/‖u‖, and ONE exact JVP along v over the training set with the
//!    layers' probes gives
//!    - ρ_out = π / max over samples of the logit-slope spread Δa,
//!    - ρ_attn = π / max over (layer, sample, head, query) of the spread
//!      over keys of the score tangents (scores q·k/√d_h before softmax),
//!    - ρ_ffn = the 1% quantile of |h|/max(|ḣ|, 1e-12) over every FFN
//!      pre-activation (both blocks, every sample, token and unit);
//!
//!    ρ_used = min(ρ_out, ρ_attn, ρ_ffn) (`all-radii`, the paper's
//!    ρ_net), min(ρ_out, ρ_attn) (`attn-out`, the author's code only) or
//!    ρ_out (`output-only`), and lr_eff = ρ_used/‖u‖, so the step length
//!    τ = lr_eff·‖u‖ equals ρ_used (r = 1). This is
//!    [`control::StepPolicy::RhoNet`] with [`control::WeightDecay::AdamW`]:
//!    the tangent pass reuses the step's forward record (the model has no
//!    BatchNorm, so the training forward is the eval-mode function).
//! 5. Logged at step % 20 == 0 and at the last step (61 points): the
//!    full-batch training CE before the step's update, the test accuracy
//!    after it, lr_eff, the three radii, ρ_net (the radius the mode used;
//!    NaN for the fixed modes) and the term that binds.
//! 6. A refused step (non-finite loss, gradient or radius) stops the run:
//!    divergence is a result, the remaining points are NaN.
//! 7. Summary: Table 2 (all-radii, pooled over seeds: per phase, how often
//!    each radius binds and the medians of the three radii), and the final
//!    loss, accuracy and lr_eff per mode.

mod render;
mod summary;
#[cfg(test)]
mod tests;

pub use summary::{FinalSummary, SeedBinding, Table2Cell, TransformerRadiiSummary};

use crate::config::check::{self, Check};
use crate::runner::Job;
use crate::study::Study;
use crate::Context;
use analysis::frame::{from_frame, to_frame};
use analysis::polars::prelude::DataFrame;
use analysis::report::Section;
use analysis::runs::RunKey;
use analysis::table::{fmt_pct, fmt_sig};
use anyhow::Result;
use control::{
    Adam, AdamConfig, Controller, NetTerms, RadiusProbe, RadiusTerm, Schedule, StepPolicy,
};
use serde::{Deserialize, Serialize};
use zoo::model::accuracy;
use zoo::{ArchConfig, Backend, Batch, Mode};

/// Version of the stored run format; part of every run key.
const SCHEMA: u32 = 1;

/// The experiment (registered in [`crate::registry`]).
pub struct TransformerRadii;

/// How a run sets its learning rate.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RunMode {
    /// lr_eff = min(ρ_out, ρ_attn, ρ_ffn)/‖u‖ (the paper's all-radii
    /// controller; the default only fills a run read back from its frame
    /// before the job's mode is set).
    #[default]
    AllRadii,
    /// lr_eff = min(ρ_out, ρ_attn)/‖u‖ (the author's code only).
    AttnOut,
    /// lr_eff = ρ_out/‖u‖.
    OutputOnly,
    /// lr = multiplier × `base_lr` every step (`fixed-1x`, `fixed-16x`).
    Fixed(f64),
}

impl RunMode {
    /// The mode's name, as the paper and the config write it.
    pub fn name(self) -> String {
        match self {
            RunMode::AllRadii => "all-radii".into(),
            RunMode::AttnOut => "attn-out".into(),
            RunMode::OutputOnly => "output-only".into(),
            RunMode::Fixed(m) => format!("fixed-{}x", fmt_multiplier(m)),
        }
    }

    /// The radii ρ_net is the minimum of (adaptive modes only).
    pub fn terms(self) -> Option<NetTerms> {
        match self {
            RunMode::AllRadii => Some(NetTerms::AllRadii),
            RunMode::AttnOut => Some(NetTerms::AttnOut),
            RunMode::OutputOnly => Some(NetTerms::OutputOnly),
            RunMode::Fixed(_) => None,
        }
    }

    /// True for the modes that set lr_eff from a radius.
    pub fn adaptive(self) -> bool {
        self.terms().is_some()
    }
}

/// `16` for 16.0, `0.5` for 0.5.
fn fmt_multiplier(m: f64) -> String {
    if m.fract() == 0.0 && m.abs() < 1e15 {
        format!("{}", m as i64)
    } else {
        format!("{m}")
    }
}

impl TryFrom<String> for RunMode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "all-radii" => Ok(RunMode::AllRadii),
            "attn-out" => Ok(RunMode::AttnOut),
            "output-only" => Ok(RunMode::OutputOnly),
            _ => s
                .strip_prefix("fixed-")
                .and_then(|m| m.strip_suffix('x'))
                .and_then(|m| m.parse::<f64>().ok())
                .filter(|m| m.is_finite() && *m > 0.0)
                .map(RunMode::Fixed)
                .ok_or_else(|| {
                    format!(
                        "unknown mode {s:?}; expected all-radii, attn-out, output-only or fixed-<N>x (N > 0)"
                    )
                }),
        }
    }
}

impl From<RunMode> for String {
    fn from(m: RunMode) -> String {
        m.name()
    }
}

/// One phase of Table 2: the logged steps from `start` up to the next
/// phase's start (the last phase: to the end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Its name in the table and the summary ("early", "middle", "late").
    pub name: String,
    /// Its first step.
    pub start: usize,
}

/// Settings of the experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerRadiiConfig {
    /// Registry name of the model.
    pub arch: String,
    /// The modes run, in plotting order.
    pub modes: Vec<RunMode>,
    /// The learning rate of `fixed-1x`; `fixed-<N>x` runs at N times it.
    pub base_lr: f64,
    /// Seeds (initialisation; the split is fixed).
    pub seeds: Vec<u64>,
    /// Seed of the unstratified permutation split.
    pub split_seed: u64,
    /// Test fraction: the first ⌊test_ratio·1797⌋ rows of the permutation.
    pub test_ratio: f64,
    /// Steps 0..=last_step are taken (the author: 1200, 1201 updates).
    pub last_step: usize,
    /// Log at step % log_every == 0 and at the last step.
    pub log_every: usize,
    /// Adam's constants and the weight decay (spec: `adamw: 1e-4`).
    pub adam: AdamConfig,
    /// The adaptive modes' τ/ρ_used (paper: 1).
    pub r_target: f64,
    /// ρ_ffn's quantile of the kink distances (spec C8: 0.01).
    pub ffn_quantile: f64,
    /// Table 2's phases, by first step (the first starts at 0).
    pub phases: Vec<Phase>,
    /// Which implementation runs the model: `fast` (the zoo's f32 path) or
    /// `dfdx` (the reference).
    pub backend: Backend,
}

impl crate::config::Validate for TransformerRadiiConfig {
    fn validate(&self) -> Check {
        check::arch("arch", &self.arch)?;
        check::non_empty("modes", &self.modes)?;
        check::distinct("modes", &self.modes)?;
        check::positive("base_lr", self.base_lr)?;
        check::non_empty("seeds", &self.seeds)?;
        check::distinct("seeds", &self.seeds)?;
        check::fraction("test_ratio", self.test_ratio)?;
        check::at_least("log_every", self.log_every, 1)?;
        let AdamConfig {
            beta1, beta2, eps, ..
        } = self.adam;
        check::that(
            (0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2) && eps > 0.0,
            "adam",
            format!(
                "expected 0 <= beta < 1 and eps > 0, got beta1 {beta1}, beta2 {beta2}, eps {eps}"
            ),
        )?;
        check::positive("r_target", self.r_target)?;
        check::that(
            (0.0..=1.0).contains(&self.ffn_quantile),
            "ffn_quantile",
            format!("expected a quantile in [0, 1], got {}", self.ffn_quantile),
        )?;
        check::non_empty("phases", &self.phases)?;
        check::that(
            self.phases[0].start == 0
                && self.phases.windows(2).all(|w| w[0].start < w[1].start)
                && self
                    .phases
                    .last()
                    .is_some_and(|p| p.start <= self.last_step),
            "phases",
            "expected increasing starts, the first at step 0 and the last at or before last_step",
        )?;
        let names: Vec<&str> = self.phases.iter().map(|p| p.name.as_str()).collect();
        check::distinct("phases", &names)?;
        check::that(
            names.iter().all(|n| !n.is_empty()),
            "phases",
            "expected a name for every phase",
        )?;
        check::backend("backend", &self.arch, self.backend)
    }
}

impl TransformerRadiiConfig {
    /// True if step `t` is logged.
    pub fn logs_at(&self, t: usize) -> bool {
        t.is_multiple_of(self.log_every) || t == self.last_step
    }

    /// The logged steps, in order.
    pub fn logged_steps(&self) -> Vec<u64> {
        (0..=self.last_step)
            .filter(|&t| self.logs_at(t))
            .map(|t| t as u64)
            .collect()
    }

    /// The phase step `t` belongs to.
    pub fn phase_of(&self, t: u64) -> &Phase {
        self.phases
            .iter()
            .rev()
            .find(|p| p.start as u64 <= t)
            .expect("validated: the first phase starts at 0")
    }

    /// The step policy and constant learning rate of `mode`.
    fn policy(&self, mode: RunMode) -> (StepPolicy, f64) {
        match mode.terms() {
            Some(terms) => (
                StepPolicy::RhoNet {
                    r_target: self.r_target,
                    terms,
                    ffn_quantile: self.ffn_quantile,
                },
                // ρ-set: the proposal's rate cancels (lr_eff = s·lr).
                1.0,
            ),
            None => {
                let RunMode::Fixed(m) = mode else {
                    unreachable!("a mode without radii is fixed")
                };
                (StepPolicy::Plain, m * self.base_lr)
            }
        }
    }
}

/// Which radius attains ρ_net at a logged step (stored as its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Binding {
    /// A fixed mode, a NaN radius, or a stopped run.
    None,
    /// ρ_out.
    Out,
    /// ρ_attn.
    Attn,
    /// ρ_ffn.
    Ffn,
}

impl From<Option<RadiusTerm>> for Binding {
    fn from(t: Option<RadiusTerm>) -> Self {
        match t {
            None => Binding::None,
            Some(RadiusTerm::Out) => Binding::Out,
            Some(RadiusTerm::Attn) => Binding::Attn,
            Some(RadiusTerm::Ffn) => Binding::Ffn,
        }
    }
}

/// One (mode, seed) run: one entry per logged step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RadiiRun {
    /// The mode (not stored: the run's key says it).
    #[serde(skip)]
    pub mode: RunMode,
    /// The seed (not stored).
    #[serde(skip)]
    pub seed: u64,
    /// The step at which the run stopped (a refused step: non-finite loss,
    /// gradient or radius); `None`: it ran to the end.
    #[serde(with = "analysis::frame::option_as_nan")]
    pub stop_step: Option<usize>,
    /// The logged step t of each entry.
    pub step: Vec<u64>,
    /// Full-batch training CE before step t's update.
    pub loss: Vec<f64>,
    /// Test accuracy after step t's update (NaN if the step was refused).
    pub test_acc: Vec<f64>,
    /// The learning rate the step used (ρ_used/‖u‖ for an adaptive mode).
    pub lr_eff: Vec<f64>,
    /// τ = lr_eff·‖u‖, the step's length without the decay.
    pub tau: Vec<f64>,
    /// ρ_out along v (NaN for a fixed mode).
    pub rho_out: Vec<f64>,
    /// ρ_attn along v (NaN for a fixed mode).
    pub rho_attn: Vec<f64>,
    /// ρ_ffn along v (NaN for a fixed mode).
    pub rho_ffn: Vec<f64>,
    /// ρ_net: the radius the mode used (min over its terms; NaN for a
    /// fixed mode).
    pub rho_net: Vec<f64>,
    /// The term attaining ρ_net.
    pub binding: Vec<Binding>,
}

impl RadiiRun {
    fn new(mode: RunMode, seed: u64, points: usize) -> Self {
        let v = || Vec::with_capacity(points);
        RadiiRun {
            mode,
            seed,
            stop_step: None,
            step: Vec::with_capacity(points),
            loss: v(),
            test_acc: v(),
            lr_eff: v(),
            tau: v(),
            rho_out: v(),
            rho_attn: v(),
            rho_ffn: v(),
            rho_net: v(),
            binding: Vec::with_capacity(points),
        }
    }

    fn push(&mut self, t: usize, log: &control::StepLog, test_acc: f64) {
        let taken = |x: f64| if log.applied { x } else { f64::NAN };
        self.step.push(t as u64);
        self.loss.push(log.loss);
        self.test_acc.push(test_acc);
        self.lr_eff.push(taken(log.lr_eff));
        self.tau.push(taken(log.tau));
        self.rho_out.push(log.radii.rho_out);
        self.rho_attn.push(log.radii.rho_attn);
        self.rho_ffn.push(log.radii.rho_ffn);
        self.rho_net.push(log.rho_a);
        self.binding.push(log.binding.into());
    }

    fn push_stopped(&mut self, t: usize) {
        self.step.push(t as u64);
        for v in [
            &mut self.loss,
            &mut self.test_acc,
            &mut self.lr_eff,
            &mut self.tau,
            &mut self.rho_out,
            &mut self.rho_attn,
            &mut self.rho_ffn,
            &mut self.rho_net,
        ] {
            v.push(f64::NAN);
        }
        self.binding.push(Binding::None);
    }

    /// The last logged value of `v` (NaN if none).
    pub fn last(v: &[f64]) -> f64 {
        v.last().copied().unwrap_or(f64::NAN)
    }
}

/// What one job computes.
#[derive(Debug, Clone, Copy)]
pub struct RunSpec {
    /// The mode.
    pub mode: RunMode,
    /// The seed.
    pub seed: u64,
}

/// One job per (mode, seed); the adaptive modes (one more tangent pass per
/// step) first.
fn jobs(cfg: &TransformerRadiiConfig) -> Vec<Job<RunSpec>> {
    let mut modes = cfg.modes.clone();
    modes.sort_by_key(|m| !m.adaptive());
    modes
        .iter()
        .flat_map(|&mode| {
            cfg.seeds.iter().map(move |&seed| Job {
                key: RunKey::new(SCHEMA, cfg, &format!("{}-seed{seed}", mode.name())),
                label: format!("{} seed {seed}", mode.name()),
                spec: RunSpec { mode, seed },
            })
        })
        .collect()
}

/// The training and test sets every run reads.
pub struct Splits {
    train: Batch<f32>,
    test: Batch<f32>,
}

impl Splits {
    /// The permutation split of the config.
    pub fn new(cfg: &TransformerRadiiConfig) -> Result<Self> {
        let digits = data::load_default_digits()?;
        let split = data::permutation_split(digits.len(), cfg.test_ratio, cfg.split_seed);
        Ok(Splits {
            train: Batch::from_digits(&digits, &split.train),
            test: Batch::from_digits(&digits, &split.test),
        })
    }
}

/// One (mode, seed) run: steps 0..=last_step, logging as the config says.
fn one_run(cfg: &TransformerRadiiConfig, splits: &Splits, spec: &RunSpec) -> Result<RadiiRun> {
    let RunSpec { mode, seed } = *spec;
    let model = zoo::arch::find(&cfg.arch)?.build_on::<f32>(&ArchConfig::default(), cfg.backend)?;
    let mut state = model.init(seed);
    let (policy, lr) = cfg.policy(mode);
    // The probe reads the current batch, the whole training set: the
    // tangent pass reuses the step's forward.
    let mut ctrl = Controller::new(
        Adam::with_config(model.num_params(), cfg.adam),
        policy,
        Schedule::constant(lr),
    )
    .with_probe(RadiusProbe::on_current_batch())
    .with_mode(Mode::Train);
    let mut run = RadiiRun::new(mode, seed, cfg.logged_steps().len());
    for t in 0..=cfg.last_step {
        if run.stop_step.is_some() {
            if cfg.logs_at(t) {
                run.push_stopped(t);
            }
            continue;
        }
        // Every radius at the logged steps; elsewhere only the mode's terms
        // (the same ρ_net, so the same run).
        ctrl.all_radii = cfg.logs_at(t);
        let log = ctrl.step(&model, &mut state, &splits.train);
        if !log.applied {
            run.stop_step = Some(t);
        }
        if cfg.logs_at(t) {
            let acc = if log.applied {
                accuracy(&model.logits(&state, &splits.test.x), &splits.test.labels)
            } else {
                f64::NAN
            };
            run.push(t, &log, acc);
        }
    }
    Ok(run)
}

impl Study for TransformerRadii {
    const ID: &'static str = "transformer-radii";
    const TITLE: &'static str =
        "Transformer radii: the all-radii controller and the binding radius by phase (Fig 11, Table 2)";
    type Config = TransformerRadiiConfig;
    type Spec = RunSpec;
    type Inputs = Splits;
    type Run = RadiiRun;
    type Summary = TransformerRadiiSummary;

    fn inputs(cfg: &TransformerRadiiConfig) -> Result<Splits> {
        Splits::new(cfg)
    }

    fn jobs(cfg: &TransformerRadiiConfig) -> Vec<Job<RunSpec>> {
        jobs(cfg)
    }

    fn run_one(cfg: &TransformerRadiiConfig, splits: &Splits, spec: &RunSpec) -> Result<RadiiRun> {
        one_run(cfg, splits, spec)
    }

    fn note(run: &RadiiRun) -> String {
        match run.stop_step {
            Some(t) => format!("stopped at step {t}"),
            None => format!(
                "final loss {}, test acc {}, lr_eff {}",
                fmt_sig(RadiiRun::last(&run.loss), 3),
                fmt_pct(RadiiRun::last(&run.test_acc), 1),
                fmt_sig(RadiiRun::last(&run.lr_eff), 3)
            ),
        }
    }

    fn to_frame(run: &RadiiRun) -> Result<DataFrame> {
        to_frame(run)
    }

    fn from_frame(cfg: &TransformerRadiiConfig, spec: &RunSpec, f: &DataFrame) -> Result<RadiiRun> {
        let mut run: RadiiRun = from_frame(f)?;
        anyhow::ensure!(
            run.step == cfg.logged_steps(),
            "logged steps differ from the config's ({} rows)",
            run.step.len()
        );
        (run.mode, run.seed) = (spec.mode, spec.seed);
        Ok(run)
    }

    fn summarize(cfg: &TransformerRadiiConfig, runs: &[RadiiRun]) -> TransformerRadiiSummary {
        summary::summarize(cfg, runs)
    }

    fn config(summary: &TransformerRadiiSummary) -> &TransformerRadiiConfig {
        &summary.config
    }

    fn render(
        ctx: &Context,
        summary: &TransformerRadiiSummary,
        runs: &[RadiiRun],
    ) -> Result<Section> {
        render::render(ctx, summary, runs)
    }
}
