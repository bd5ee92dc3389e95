//! The one trait every layer implements.

use crate::{Cache, Dev, ParamSpec, Plain, Real, Traced};
use dfdx::prelude::{Merge, NoneTape, Tape};

/// The tapes a generic forward runs with: [`NoneTape`] (plain) or dfdx's
/// `OwnedTape` (training).
pub trait TapeOps<E: Real>:
    Tape<E, Dev> + Merge<Self> + Merge<NoneTape> + Default + 'static
{
}
impl<E: Real, T: Tape<E, Dev> + Merge<T> + Merge<NoneTape> + Default + 'static> TapeOps<E> for T {}

/// Training or evaluation behaviour (only BatchNorm differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics; running statistics are updated.
    Train,
    /// Running statistics.
    Eval,
}

/// Which internal tangent a layer reports (transformer-radii needs them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// Pre-softmax attention scores q·k/√d: rows are (sample, head, query),
    /// columns are keys.
    AttentionScores,
    /// Pre-activations entering an FFN nonlinearity: every entry is a unit.
    FfnPreActivation,
    /// Distance to a kink of a piecewise-linear map (ReLU input h, kink at
    /// 0; max-pool gap between the winner and the runner-up) and its tangent:
    /// |h|/|ḣ| is that unit's radius (paper Appendix 2).
    Kink,
}

/// An internal value and its tangent, reported by the tangent pass.
#[derive(Debug, Clone)]
pub struct Probe<E: Real> {
    /// What it is.
    pub kind: ProbeKind,
    /// Which layer reported it (index in the model, then within blocks).
    pub layer: String,
    /// The primal value h (shape as [`ProbeKind`] says).
    pub value: crate::Matrix<E>,
    /// Its tangent ḣ along the direction, same shape.
    pub tangent: crate::Matrix<E>,
}

impl<E: Real> Probe<E> {
    /// A probe from a layer's dfdx tensors (copied into matrices).
    pub fn from_tensors(kind: ProbeKind, layer: &str, value: &Plain<E>, tangent: &Plain<E>) -> Self
    where
        crate::Dev: dfdx::prelude::Device<E>,
    {
        Probe {
            kind,
            layer: layer.to_string(),
            value: crate::model::to_matrix(value),
            tangent: crate::model::to_matrix(tangent),
        }
    }
}

/// One layer: forward (taped or plain) and, beside it, its tangent pass.
///
/// Parameters arrive as plain tensors in the order of [`Layer::params`];
/// `state` is the layer's share of the model's non-trainable buffers
/// (BatchNorm running statistics), which train-mode forwards update.
pub trait Layer<E: Real>: Send + Sync {
    /// Short description, e.g. "linear 64->128".
    fn describe(&self) -> String;

    /// Trainable tensors, in order.
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }

    /// Initial non-trainable state (BatchNorm: running mean then variance).
    fn init_state(&self) -> Vec<f64> {
        Vec::new()
    }

    /// Taped forward for training; records into `cache` what the tangent needs.
    fn forward_traced(
        &self,
        p: &[Plain<E>],
        x: Traced<E>,
        state: &mut [E],
        mode: Mode,
        cache: &mut Cache<E>,
    ) -> Traced<E>;

    /// Plain forward; records into `cache` what the tangent needs.
    fn forward(
        &self,
        p: &[Plain<E>],
        x: Plain<E>,
        state: &mut [E],
        mode: Mode,
        cache: &mut Cache<E>,
    ) -> Plain<E>;

    /// Tangent pass: ẏ from the input tangent ẋ (`None`: zero, as for the
    /// model input) and the parameter tangents `dp` (same shapes as `p`),
    /// reading what the forward recorded.
    fn tangent(
        &self,
        p: &[Plain<E>],
        dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        mode: Mode,
        cache: &mut Cache<E>,
        probes: &mut Vec<Probe<E>>,
    ) -> Plain<E>;

    /// The same layer on the fast f32 path ([`crate::fast`]), if it has one.
    /// A model runs fast only when every layer does.
    fn fast(&self) -> Option<Box<dyn crate::fast::FastLayer>> {
        None
    }
}

/// Implement `forward_traced` and `forward` of [`Layer`] through one generic
/// `fwd` method (`fn fwd<T: TapeOps<E>>(&self, p, x, state, mode, cache) -> Tensor<.., T>`),
/// so each layer writes its forward pass once.
#[macro_export]
macro_rules! forward_via_fwd {
    ($E:ty) => {
        fn forward_traced(
            &self,
            p: &[$crate::Plain<$E>],
            x: $crate::Traced<$E>,
            state: &mut [$E],
            mode: $crate::Mode,
            cache: &mut $crate::Cache<$E>,
        ) -> $crate::Traced<$E> {
            self.fwd(p, x, state, mode, cache)
        }
        fn forward(
            &self,
            p: &[$crate::Plain<$E>],
            x: $crate::Plain<$E>,
            state: &mut [$E],
            mode: $crate::Mode,
            cache: &mut $crate::Cache<$E>,
        ) -> $crate::Plain<$E> {
            self.fwd(p, x, state, mode, cache)
        }
    };
}
