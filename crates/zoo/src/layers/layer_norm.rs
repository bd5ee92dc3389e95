//! LayerNorm over features: y = γ ⊙ x̂ + β with x̂ = (x − μ)/σ,
//! σ = √(var + ε), ε = 1e-5 (biased variance, as PyTorch).
//! Tangent: x̂̇ = (ẋ − mean(ẋ) − x̂·mean(ẋ ⊙ x̂))/σ; ẏ = γ ⊙ x̂̇ + γ̇ ⊙ x̂ + β̇.

use super::broadcast_row;
use crate::layer::TapeOps;
use crate::{forward_via_fwd, Cache, Init, Layer, Mode, ParamSpec, Plain, Probe, Real};
use dfdx::prelude::*;

/// LayerNorm over the last axis with learnable gain and shift.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// Features per row.
    pub features: usize,
    /// ε added to the variance.
    pub eps: f64,
}

impl LayerNorm {
    /// LayerNorm(features), ε = 1e-5.
    pub fn new(features: usize) -> Self {
        LayerNorm {
            features,
            eps: 1e-5,
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
        let (rows, n) = *x.shape();
        let inv_sigma = row_inv_std(&x.retaped::<NoneTape>().as_vec(), n, self.eps);
        let xhat = x.normalize::<Axis<1>>(self.eps);
        cache.push(xhat.retaped::<NoneTape>());
        cache.push(xhat.device().tensor_from_vec(inv_sigma, (rows, 1)));
        xhat * broadcast_row(p[0].retaped::<T>(), rows) + broadcast_row(p[1].retaped::<T>(), rows)
    }
}

/// 1/√(var + ε) of each row of a row-major (rows, n) matrix (biased variance).
pub fn row_inv_std<E: Real>(x: &[E], n: usize, eps: f64) -> Vec<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    x.chunks_exact(n)
        .map(|row| {
            let mean = row.iter().map(|v| v.to_f64().unwrap()).sum::<f64>() / n as f64;
            let var = row
                .iter()
                .map(|v| (v.to_f64().unwrap() - mean).powi(2))
                .sum::<f64>()
                / n as f64;
            crate::cast(1.0 / (var + eps).sqrt())
        })
        .collect()
}

impl<E: Real> Layer<E> for LayerNorm
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    fn describe(&self) -> String {
        format!("layernorm {}", self.features)
    }

    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("gain", (1, self.features), Init::Ones),
            ParamSpec::new("shift", (1, self.features), Init::Zeros),
        ]
    }

    forward_via_fwd!(E);

    fn tangent(
        &self,
        p: &[Plain<E>],
        dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        _mode: Mode,
        cache: &mut Cache<E>,
        _probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let xhat_t = cache.next();
        let inv_sigmas = cache.next().as_vec();
        let (rows, n) = *xhat_t.shape();
        let xhat = xhat_t.as_vec();
        let (gain, dgain, dshift) = (p[0].as_vec(), dp[0].as_vec(), dp[1].as_vec());
        let dxv = dx.map(|d| d.as_vec());
        let inv_n: E = crate::cast(1.0 / n as f64);
        let mut out = vec![E::zero(); rows * n];
        for r in 0..rows {
            let xh = &xhat[r * n..(r + 1) * n];
            let o = &mut out[r * n..(r + 1) * n];
            if let Some(dxv) = &dxv {
                let inv_sigma = inv_sigmas[r];
                let d = &dxv[r * n..(r + 1) * n];
                let mean_d = d.iter().fold(E::zero(), |s, &v| s + v) * inv_n;
                let mean_dx = d.iter().zip(xh).fold(E::zero(), |s, (&a, &b)| s + a * b) * inv_n;
                for j in 0..n {
                    o[j] = gain[j] * (d[j] - mean_d - xh[j] * mean_dx) * inv_sigma;
                }
            }
            for j in 0..n {
                o[j] += dgain[j] * xh[j] + dshift[j];
            }
        }
        xhat_t.device().tensor_from_vec(out, (rows, n))
    }
}
