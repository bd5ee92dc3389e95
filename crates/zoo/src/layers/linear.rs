//! Affine layer y = x W + b (W stored as (in, out)).

use super::broadcast_row;
use crate::layer::TapeOps;
use crate::{forward_via_fwd, Cache, Init, Layer, Mode, ParamSpec, Plain, Probe, Real};
use dfdx::prelude::*;

/// Linear layer `in -> out`, PyTorch init U(±1/√in) for weight and bias.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// Whether there is a bias.
    pub bias: bool,
}

impl Linear {
    /// `in -> out` with bias.
    pub fn new(inputs: usize, outputs: usize) -> Self {
        Linear {
            inputs,
            outputs,
            bias: true,
        }
    }

    /// `in -> out` without bias (transformer projections).
    pub fn no_bias(inputs: usize, outputs: usize) -> Self {
        Linear {
            inputs,
            outputs,
            bias: false,
        }
    }

    fn fwd<E: Real, T: TapeOps<E>>(
        &self,
        p: &[Plain<E>],
        x: Tensor<(usize, usize), E, crate::Dev, T>,
        _state: &mut [E],
        _mode: Mode,
        cache: &mut Cache<E>,
    ) -> Tensor<(usize, usize), E, crate::Dev, T>
    where
        crate::Dev: dfdx::prelude::Device<E>,
    {
        cache.push(x.retaped::<NoneTape>());
        let rows = x.shape().0;
        let y = x.matmul(p[0].retaped::<T>());
        if self.bias {
            y + broadcast_row(p[1].retaped::<T>(), rows)
        } else {
            y
        }
    }
}

impl<E: Real> Layer<E> for Linear
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    fn describe(&self) -> String {
        format!(
            "linear {}->{}{}",
            self.inputs,
            self.outputs,
            if self.bias { "" } else { " (no bias)" }
        )
    }

    fn params(&self) -> Vec<ParamSpec> {
        let bound = 1.0 / (self.inputs as f64).sqrt();
        let mut p = vec![ParamSpec::new(
            "weight",
            (self.inputs, self.outputs),
            Init::Uniform(bound),
        )];
        if self.bias {
            p.push(ParamSpec::new(
                "bias",
                (1, self.outputs),
                Init::Uniform(bound),
            ));
        }
        p
    }

    forward_via_fwd!(E);

    /// ẏ = ẋ W + x Ẇ + ḃ.
    fn tangent(
        &self,
        p: &[Plain<E>],
        dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        _mode: Mode,
        cache: &mut Cache<E>,
        _probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let x = cache.next();
        let rows = x.shape().0;
        let mut dy = x.matmul(dp[0].clone());
        if let Some(dx) = dx {
            dy = dy + dx.matmul(p[0].clone());
        }
        if self.bias {
            dy = dy + broadcast_row(dp[1].clone(), rows);
        }
        dy
    }
}
