//! LayerNorm over features: y = γ ⊙ x̂ + β with x̂ = (x − μ)/σ,
//! σ = √(var + ε), ε = 1e-5 (biased variance, as PyTorch).
//! Tangent: x̂̇ = (ẋ − mean(ẋ) − x̂·mean(ẋ ⊙ x̂))/σ; ẏ = γ ⊙ x̂̇ + γ̇ ⊙ x̂ + β̇.

use super::broadcast_row;
use crate::fast::{Layout, Live, Mat, Record};
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

    fn fast(&self) -> Option<Box<dyn crate::fast::FastLayer>> {
        Some(Box::new(self.clone()))
    }

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

/// Σ a_j b_j in f32 over eight interleaved partial sums, so the loop
/// vectorises (a strict left-to-right sum does not); n ≤ a few hundred here.
#[inline]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0f32; 8];
    for (x, y) in ca.zip(cb) {
        let (x, y): (&[f32; 8], &[f32; 8]) = (x.try_into().unwrap(), y.try_into().unwrap());
        for ((a, x), y) in acc.iter_mut().zip(x).zip(y) {
            *a += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Σ a_j in f32, as [`dot_lanes`].
#[inline]
fn sum_lanes(a: &[f32]) -> f32 {
    let ca = a.chunks_exact(8);
    let tail: f32 = ca.remainder().iter().sum();
    let mut acc = [0.0f32; 8];
    for x in ca {
        let x: &[f32; 8] = x.try_into().unwrap();
        for (a, x) in acc.iter_mut().zip(x) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// d ← (d − mean(d) − x̂·mean(d ⊙ x̂))/σ on one row: the LayerNorm Jacobian
/// (symmetric), so it serves both the backward (d = γ ⊙ ∂y) and the
/// tangent (d = ẋ).
#[inline]
fn project_row(d: &mut [f32], xhat: &[f32], inv_sigma: f32) {
    let inv_n = 1.0 / d.len() as f32;
    let mean_d = sum_lanes(d) * inv_n;
    let mean_dx = dot_lanes(d, xhat) * inv_n;
    for (v, &xh) in d.iter_mut().zip(xhat) {
        *v = (*v - mean_d - xh * mean_dx) * inv_sigma;
    }
}

/// Fast path, per row in f32: x̂ = (x − μ)/σ computed in place over the
/// input (centred first, then the biased variance of the centred row, as
/// dfdx's `normalize`), y = γ ⊙ x̂ + β. Records x̂ and 1/σ per row
/// (`vecs[0]`). Rows layout only (normalising a zero padding row would
/// give β, not 0).
impl crate::fast::FastLayer for LayerNorm {
    fn output_form(&self, input: crate::fast::Form) -> Result<crate::fast::Form, String> {
        use crate::fast::Form;
        match input {
            Form::Rows(c) if c == self.features => Ok(input),
            _ => Err(format!(
                "layernorm needs rows of {}, got {input}",
                self.features
            )),
        }
    }

    fn forward(
        &self,
        p: &[&[f32]],
        mut x: Mat,
        _state: &mut [f32],
        _mode: Mode,
        rec: &mut Record,
    ) -> Mat {
        let n = self.features;
        assert_eq!((x.cols, x.layout), (n, Layout::Rows), "layernorm: input");
        let (gain, shift) = (p[0], p[1]);
        let (eps, inv_n) = (self.eps as f32, 1.0 / n as f32);
        let mut inv_sigma = Vec::with_capacity(x.rows);
        // Every entry is written below.
        let mut y = Mat::scratch(x.rows, n, Layout::Rows);
        for (row, out) in x.data.chunks_exact_mut(n).zip(y.data.chunks_exact_mut(n)) {
            let mean = sum_lanes(row) * inv_n;
            for v in row.iter_mut() {
                *v -= mean;
            }
            let inv = 1.0 / (dot_lanes(row, row) * inv_n + eps).sqrt();
            inv_sigma.push(inv);
            for (((o, v), &g), &b) in out.iter_mut().zip(row.iter_mut()).zip(gain).zip(shift) {
                *v *= inv;
                *o = g * *v + b;
            }
        }
        rec.mats.push(x);
        rec.vecs.push(inv_sigma);
        y
    }

    /// ∂γ = Σ_rows ∂y ⊙ x̂, ∂β = Σ_rows ∂y; with g = γ ⊙ ∂y,
    /// ∂x = (g − mean(g) − x̂·mean(g ⊙ x̂))/σ per row (in place over ∂y).
    fn backward(
        &self,
        p: &[&[f32]],
        mut dy: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        let n = self.features;
        let (xhat, inv_sigma) = (&rec.mats[0], &rec.vecs[0]);
        assert_eq!(
            (dy.rows, dy.cols),
            (xhat.rows, n),
            "layernorm: gradient shape"
        );
        let gain = p[0];
        let (dgain, rest) = grads.split_at_mut(1);
        let (dgain, dshift) = (&mut *dgain[0], &mut *rest[0]);
        dgain.fill(0.0);
        dshift.fill(0.0);
        for ((d, xh), &inv) in dy
            .data
            .chunks_exact_mut(n)
            .zip(xhat.data.chunks_exact(n))
            .zip(inv_sigma)
        {
            for ((((dg, ds), v), &x), &g) in dgain
                .iter_mut()
                .zip(dshift.iter_mut())
                .zip(d.iter_mut())
                .zip(xh)
                .zip(gain)
            {
                *dg += *v * x;
                *ds += *v;
                *v *= g;
            }
            if need_dx {
                project_row(d, xh, inv);
            }
        }
        if !need_dx {
            dy.data.fill(0.0);
        }
        dy
    }

    /// ẏ = γ ⊙ x̂̇ + γ̇ ⊙ x̂ + β̇ with x̂̇ = (ẋ − mean(ẋ) − x̂·mean(ẋ ⊙ x̂))/σ
    /// (in place over ẋ).
    fn tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        _probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        self.tangent_at(p, dp, &rec.mats[0], &rec.vecs[0], dx)
    }

    /// Row-wise: output row i reads input row i only.
    fn live_input(&self, out: &Live, _rec: &Record) -> Option<Live> {
        Some(out.clone())
    }

    /// The tangent on the rows `out` of x̂.
    fn tangent_rows(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        _input: &Live,
        out: &Live,
    ) -> Mat {
        let (xhat, inv_sigma) = (&rec.mats[0], &rec.vecs[0]);
        let Live::Rows(rows) = out else {
            return self.tangent_at(p, dp, xhat, inv_sigma, dx);
        };
        let xhat = Live::All.select(xhat, out);
        let inv_sigma: Vec<f32> = rows.iter().map(|&r| inv_sigma[r]).collect();
        let dy = self.tangent_at(p, dp, &xhat, &inv_sigma, dx);
        xhat.recycle();
        dy
    }
}

impl LayerNorm {
    /// The tangent for normalised rows `xhat` with 1/σ `inv_sigma` and input
    /// tangents `dx` (zero when `None`).
    fn tangent_at(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        xhat: &Mat,
        inv_sigma: &[f32],
        dx: Option<Mat>,
    ) -> Mat {
        let n = self.features;
        let (gain, dgain, dshift) = (p[0], dp[0], dp[1]);
        let Some(mut dy) = dx else {
            let mut dy = xhat.zeros_like();
            for (o, xh) in dy.data.chunks_exact_mut(n).zip(xhat.data.chunks_exact(n)) {
                for (((o, &x), &dg), &ds) in o.iter_mut().zip(xh).zip(dgain).zip(dshift) {
                    *o = dg * x + ds;
                }
            }
            return dy;
        };
        assert_eq!(
            (dy.rows, dy.cols),
            (xhat.rows, n),
            "layernorm: tangent shape"
        );
        for ((d, xh), &inv) in dy
            .data
            .chunks_exact_mut(n)
            .zip(xhat.data.chunks_exact(n))
            .zip(inv_sigma)
        {
            project_row(d, xh, inv);
            for ((((o, &x), &g), &dg), &ds) in d.iter_mut().zip(xh).zip(gain).zip(dgain).zip(dshift)
            {
                *o = g * *o + dg * x + ds;
            }
        }
        dy
    }
}
