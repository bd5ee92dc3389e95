//! # control: optimisers that propose a step, and step controllers
//!
//! *Ghosts of Softmax* (arXiv 2603.13552) bounds the loss's Taylor radius
//! along a step direction v by ρa = π/Δa, where Δa is the spread of the
//! logit slopes a = J_z v; the normalised step r = τ/ρa (τ = step norm)
//! predicts when one step breaks training. This crate uses that number to
//! decide how far to step:
//!
//! - [`Optimizer`]s ([`Sgd`] with or without momentum, [`Adam`]) first
//!   [`propose`](Optimizer::propose) the exact update p they would apply
//!   (this step's momentum buffer or moments included; spec C3/C4), then
//!   [`apply`](Optimizer::apply) s·p, committing moments from the true
//!   gradient whatever s is.
//! - A [`StepPolicy`] picks s: [`Plain`](StepPolicy::Plain),
//!   gradient clipping ([`ClipGrad`](StepPolicy::ClipGrad), C6),
//!   the paper's ρ-cap ([`RhoCap`](StepPolicy::RhoCap), Prop. 5.2, C1:
//!   s = min(1, r_target·ρa(v)/‖p‖)), ρ-set ([`RhoSet`](StepPolicy::RhoSet),
//!   C2: τ = r_target·ρa), the arch-grid code's gradient-norm variant
//!   ([`GradNormCap`](StepPolicy::GradNormCap), C5) and ρ-set on the
//!   transformer's network radius ρ_net = min(ρ_out, ρ_attn, ρ_ffn)
//!   ([`RhoNet`](StepPolicy::RhoNet), C8).
//! - A [`RadiusProbe`] measures ρa(v) by one exact eval-mode JVP
//!   ([`zoo::Model::jvp`]) on a sample set, aggregated by
//!   [`radius::set_rho_a`] (worst sample, or a quantile).
//! - A [`Schedule`] gives lr(t), with an optional spike (C7).
//! - A [`Controller`] runs one step of all this and returns a [`StepLog`]
//!   (lr, τ, ρa, r, s, loss, ‖g‖).
//! - A [`Monitor`] only measures, for a user's own loop: given the update
//!   an optimiser proposes, τ, ρa, r, the cap factor, the binding sample
//!   and class pair, the samples closest to binding, optionally ρ_top2 and
//!   ρ*, and its own cost ([`MonitorRecord`]); a [`MonitorLog`] appends
//!   one record per step to a JSON Lines file (format: [`jsonl`]).
//!
//! Capping an Adam step whose learning rate is far too large:
//!
//! ```
//! use control::{Adam, Controller, Schedule, StepPolicy};
//! use zoo::{arch, ArchConfig, Batch};
//!
//! let model = arch::find("linear")?.build::<f64>(&ArchConfig::default());
//! let mut state = model.init(0);
//! // Two hand-made samples of 64 features in [0, 1], labels 3 and 7.
//! let x: Vec<f64> = (0..128).map(|i| (i % 17) as f64 / 16.0).collect();
//! let batch = Batch::new(x, 64, vec![3, 7], 10);
//!
//! let mut ctrl = Controller::new(
//!     Adam::new(model.num_params()),
//!     StepPolicy::RhoCap { r_target: 1.0 },
//!     Schedule::constant(10.0),
//! );
//! let log = ctrl.step(&model, &mut state, &batch);
//! assert!(log.applied && log.capped());
//! // The applied step ends on the radius: r = τ/ρa = 1.
//! assert!((log.r - 1.0).abs() < 1e-12, "r = {}", log.r);
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! Architecture invariant: `control` depends on `zoo` and `radius` only; it
//! knows nothing of results or figures, and its one file format is the
//! monitor's JSON Lines log ([`jsonl`]), written to any `std::io::Write`.

#![warn(missing_docs)]

pub mod controller;
pub mod jsonl;
pub mod monitor;
pub mod optim;
pub mod policy;
pub mod probe;
pub mod schedule;

pub use controller::{Controller, StepLog};
pub use jsonl::MonitorLog;
pub use monitor::{Monitor, MonitorRecord, NearBinding};
pub use optim::{
    apply_decayed, apply_scaled, Adam, AdamConfig, AdamMoments, AnyMoments, AnyOptimizer,
    Optimizer, OptimizerConfig, Proposal, Sgd, SgdMoments, WeightDecay,
};
pub use policy::{
    clip_to_norm, grad_norm_cap_scale, rho_cap_scale, rho_set_scale, NetTerms, StepPolicy,
};
pub use probe::{
    set_radius, ComponentRadii, ProbeSamples, RadiusProbe, RadiusTerm, RhoEstimator, StepRadius,
    SPREAD_FLOOR,
};
pub use radius::Aggregation;
pub use schedule::{Schedule, Spike};

/// A setting with a value serde accepts but the experiment cannot use
/// (a non-positive rate, a zero-step spike, ...): the key and what is wrong,
/// with no file context. `experiments::config::ConfigError` places it in a
/// config file, at the key's line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidSetting {
    /// The setting, e.g. "schedule.spike.duration".
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl InvalidSetting {
    /// An error about `key`.
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        InvalidSetting {
            key: key.into(),
            message: message.into(),
        }
    }
}
