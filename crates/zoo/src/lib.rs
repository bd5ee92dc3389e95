//! # zoo: the paper's architectures with an exact forward-mode JVP
//!
//! Every model is a list of layers ([`Layer`]), in the spirit of candle's
//! `Module`: each layer has a forward pass (taped for training through dfdx's
//! reverse-mode autodiff, or plain) and, beside it, a **tangent pass** that
//! propagates a parameter-space direction forward: given the layer input x,
//! its tangent ẋ and the direction's share of the layer's parameters θ̇, it
//! returns ẏ = ∂y/∂x·ẋ + ∂y/∂θ·θ̇. A model's JVP a = J_z v is the composition
//! of its layers' tangent passes; nothing is approximated. The central
//! finite-difference estimator stays as an option ([`Model::fd_jvp`]).
//!
//! The forward pass records what the tangent pass needs (a [`Cache`]), so the
//! JVP after a training step reuses the step's own activations instead of
//! running the model again.
//!
//! Activations are 2-D tensors (rows, features): rows are samples, or
//! samples × tokens inside a transformer; images are rows of C·H·W values.
//!
//! Adding an architecture = one file under `arch/` returning a [`Model`] from
//! layers, plus one line in [`registry`].

#![warn(missing_docs)]

pub mod arch;
pub mod cache;
pub mod check;
pub mod curvature;
pub mod export;
pub mod fast;
pub mod fastmath;
pub mod layer;
pub mod layers;
pub mod matrix;
pub mod model;
pub mod param;
pub mod train;

pub use arch::{registry, ArchConfig, ArchEntry, InputKind};
pub use cache::Cache;
pub use layer::{Layer, Mode, Probe, ProbeKind};
pub use matrix::Matrix;
pub use model::{accuracy, argmax_rows, Backend, Batch, Jvp, Model, State, StepOutput};
pub use param::{Init, ParamSpec, ParamVec};

use dfdx::prelude::*;

/// The CPU device every model runs on (dfdx 0.13; code stays generic over
/// the element type so f64 checks and f32 training share it).
pub type Dev = Cpu;

/// Element types a model can run in: f32 for training, f64 for checks.
///
/// The conversions to and from f32 are what lets a `Model<E>` hand its
/// buffers to the fast f32 path without downcasts: free for f32 (borrowed
/// or moved), a rounding copy otherwise (the fast backend itself refuses
/// anything but f32 when the model is built).
pub trait Real:
    Dtype + num_traits::Float + std::fmt::Debug + std::fmt::Display + Send + Sync + 'static
{
    /// True for f32 (the fast backend's element type).
    const IS_F32: bool;
    /// The values as f32 (borrowed when `Self` is f32).
    fn to_f32_slice(s: &[Self]) -> std::borrow::Cow<'_, [f32]>;
    /// f32 values as `Self` (moved when `Self` is f32).
    fn from_f32_vec(v: Vec<f32>) -> Vec<Self>;
    /// Build a registered architecture in this element type.
    fn build_arch(entry: &ArchEntry, cfg: &ArchConfig) -> Model<Self>;
    /// The dfdx passes in this element type.
    #[doc(hidden)]
    fn dfdx() -> &'static dyn model::DfdxPasses<Self>;
}

impl Real for f32 {
    const IS_F32: bool = true;
    fn to_f32_slice(s: &[f32]) -> std::borrow::Cow<'_, [f32]> {
        std::borrow::Cow::Borrowed(s)
    }
    fn from_f32_vec(v: Vec<f32>) -> Vec<f32> {
        v
    }
    fn build_arch(entry: &ArchEntry, cfg: &ArchConfig) -> Model<f32> {
        (entry.build_f32)(cfg)
    }
    fn dfdx() -> &'static dyn model::DfdxPasses<f32> {
        &model::DfdxEngine
    }
}

impl Real for f64 {
    const IS_F32: bool = false;
    fn to_f32_slice(s: &[f64]) -> std::borrow::Cow<'_, [f32]> {
        std::borrow::Cow::Owned(s.iter().map(|&v| v as f32).collect())
    }
    fn from_f32_vec(v: Vec<f32>) -> Vec<f64> {
        v.into_iter().map(f64::from).collect()
    }
    fn build_arch(entry: &ArchEntry, cfg: &ArchConfig) -> Model<f64> {
        (entry.build_f64)(cfg)
    }
    fn dfdx() -> &'static dyn model::DfdxPasses<f64> {
        &model::DfdxEngine
    }
}

/// `x` as f64 (exact for f32 and f64).
pub fn to_f64<E: Real>(x: E) -> f64 {
    num_traits::ToPrimitive::to_f64(&x).unwrap_or(f64::NAN)
}

/// A plain (untaped) 2-D activation or parameter tensor.
pub type Plain<E> = Tensor<(usize, usize), E, Dev>;
/// A 2-D tensor recording reverse-mode operations.
pub type Traced<E> = Tensor<(usize, usize), E, Dev, OwnedTape<E, Dev>>;

/// Convert an f64 constant to the element type.
pub fn cast<E: Real>(x: f64) -> E {
    E::from_f64(x).expect("f64 constant fits the element type")
}
