//! Multi-head self-attention over the T tokens of each sample (no mask, no
//! dropout). Rows are sample-major tokens (row b·T + t), columns the model
//! dimension d = heads · d_head.
//!
//! Forward: [q k v] = x W_in (+ b_in), W_in (d, 3d) packed q | k | v (head h =
//! columns h·d_head.. of each); per sample and head s = q kᵀ/√d_head,
//! p = softmax over keys, o = p v; y = o W_out (+ b_out).
//!
//! Tangent, exact: [q̇ k̇ v̇] = ẋ W_in + x Ẇ_in (+ ḃ_in);
//! ṡ = (q̇ kᵀ + q k̇ᵀ)/√d_head; ṗ = p ⊙ (ṡ − Σ_keys p ṡ); ȯ = ṗ v + p v̇;
//! ẏ = ȯ W_out + o Ẇ_out (+ ḃ_out). The pass reports the scores s and ṡ as an
//! [`ProbeKind::AttentionScores`] probe: rows (sample, head, query), columns
//! keys (transformer-radii's ρ_attn).
//!
//! Batched products use dfdx's 4-D matmul on (B, heads, T, d_head) views.

use super::broadcast_row;
use crate::fast::{column_sums, matmul, Layout, Mat, MatRef, Record};
use crate::layer::TapeOps;
use crate::{
    forward_via_fwd, Cache, Dev, Init, Layer, Mode, ParamSpec, Plain, Probe, ProbeKind, Real,
};
use dfdx::prelude::*;

/// How the projections are initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionInit {
    /// Two PyTorch `nn.Linear` (TinyTransformer-A, the single-token
    /// transformer): weights and biases U(±1/√d).
    Linear,
    /// PyTorch `nn.MultiheadAttention` (TinyTransformer-B): packed
    /// in-projection Xavier-uniform (bound √(6/(d + 3d))), both biases 0,
    /// out-projection weight U(±1/√d).
    MultiheadAttention,
}

/// Multi-head self-attention with a packed q|k|v projection.
#[derive(Debug, Clone)]
pub struct Attention {
    /// Name reported with the score probe, e.g. "block0.attn".
    pub name: String,
    /// Model dimension d.
    pub dim: usize,
    /// Number of heads (divides d).
    pub heads: usize,
    /// Tokens per sample T.
    pub tokens: usize,
    /// Biases on both projections.
    pub bias: bool,
    /// Initialisation scheme.
    pub init: AttentionInit,
}

type T4<E, T> = Tensor<(usize, usize, usize, usize), E, Dev, T>;

impl Attention {
    /// `heads` heads over sequences of `tokens` tokens of dimension `dim`.
    // `%` rather than `is_multiple_of`: the workspace MSRV (1.80) predates it.
    #[allow(clippy::manual_is_multiple_of)]
    pub fn new(
        name: &str,
        dim: usize,
        heads: usize,
        tokens: usize,
        bias: bool,
        init: AttentionInit,
    ) -> Self {
        assert!(
            heads > 0 && dim % heads == 0,
            "attention: {heads} heads do not divide d = {dim}"
        );
        Attention {
            name: name.into(),
            dim,
            heads,
            tokens,
            bias,
            init,
        }
    }

    /// d_head = d / heads.
    pub fn head_dim(&self) -> usize {
        self.dim / self.heads
    }

    fn scale(&self) -> f64 {
        1.0 / (self.head_dim() as f64).sqrt()
    }

    /// Columns `part·d ..` of a (B·T, 3d) q|k|v matrix as (B, heads, T, d_head).
    fn heads_view<E: Real, T: TapeOps<E>>(
        &self,
        qkv: Tensor<(usize, usize), E, Dev, T>,
        part: usize,
    ) -> T4<E, T>
    where
        Dev: Device<E>,
    {
        let (n, d) = (qkv.shape().0, self.dim);
        // dfdx 0.13's slice backward assigns (not adds) into the input's
        // gradient; correct here because the three slices cover disjoint
        // columns and are the q|k|v matrix's only consumers.
        qkv.slice((.., part * d..(part + 1) * d))
            .reshape_like(&(n / self.tokens, self.tokens, self.heads, self.head_dim()))
            .permute::<_, Axes4<0, 2, 1, 3>>()
    }

    /// (B, heads, T, d_head) back to sample-major rows (B·T, d).
    fn merge_heads<E: Real, T: TapeOps<E>>(&self, o: T4<E, T>) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: Device<E>,
    {
        let (b, t) = (o.shape().0, self.tokens);
        o.permute::<_, Axes4<0, 2, 1, 3>>()
            .reshape_like(&(b * t, self.dim))
    }

    /// x W (+ b) for the projection whose weight is p[w].
    fn project<E: Real, T: TapeOps<E>>(
        &self,
        x: Tensor<(usize, usize), E, Dev, T>,
        p: &[Plain<E>],
        w: usize,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: Device<E>,
    {
        let n = x.shape().0;
        let y = x.matmul(p[w].retaped::<T>());
        if self.bias {
            y + broadcast_row(p[w + 1].retaped::<T>(), n)
        } else {
            y
        }
    }

    /// Index of the out-projection weight in the parameter list.
    fn out_index(&self) -> usize {
        if self.bias {
            2
        } else {
            1
        }
    }

    fn fwd<E: Real, T: TapeOps<E>>(
        &self,
        p: &[Plain<E>],
        x: Tensor<(usize, usize), E, Dev, T>,
        _state: &mut [E],
        _mode: Mode,
        cache: &mut Cache<E>,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: Device<E>,
    {
        let (n, d) = *x.shape();
        assert_eq!(
            d, self.dim,
            "attention: input has {d} columns, expected {}",
            self.dim
        );
        assert_eq!(
            n % self.tokens,
            0,
            "attention: {n} rows is not a multiple of {} tokens",
            self.tokens
        );
        let (b, h, t) = (n / self.tokens, self.heads, self.tokens);
        cache.push(x.retaped::<NoneTape>());
        let qkv = self.project(x, p, 0);
        cache.push(qkv.retaped::<NoneTape>());
        let q = self.heads_view(qkv.with_empty_tape(), 0);
        let k = self
            .heads_view(qkv.with_empty_tape(), 1)
            .permute::<_, Axes4<0, 1, 3, 2>>();
        let v = self.heads_view(qkv, 2);
        let s = q.matmul(k) * crate::cast::<E>(self.scale());
        cache.push(s.retaped::<NoneTape>().reshape_like(&(b * h * t, t)));
        let probs = s.softmax::<Axis<3>>();
        cache.push(probs.retaped::<NoneTape>().reshape_like(&(b * h * t, t)));
        let o = self.merge_heads(probs.matmul(v));
        cache.push(o.retaped::<NoneTape>());
        self.project(o, p, self.out_index())
    }
}

impl<E: Real> Layer<E> for Attention
where
    Dev: Device<E>,
{
    fn describe(&self) -> String {
        format!(
            "attention {} d={} heads={} tokens={}{}",
            self.name,
            self.dim,
            self.heads,
            self.tokens,
            if self.bias { "" } else { " (no bias)" }
        )
    }

    /// In-projection weight (d, 3d) [and bias], out-projection weight (d, d)
    /// [and bias]; weights stored (in, out) as in [`super::Linear`].
    fn params(&self) -> Vec<ParamSpec> {
        let d = self.dim;
        let linear = 1.0 / (d as f64).sqrt();
        let (w_in, b_in, b_out) = match self.init {
            AttentionInit::Linear => (
                Init::Uniform(linear),
                Init::Uniform(linear),
                Init::Uniform(linear),
            ),
            AttentionInit::MultiheadAttention => (
                Init::Uniform((6.0 / (d + 3 * d) as f64).sqrt()),
                Init::Zeros,
                Init::Zeros,
            ),
        };
        let mut p = vec![ParamSpec::new("in_proj.weight", (d, 3 * d), w_in)];
        if self.bias {
            p.push(ParamSpec::new("in_proj.bias", (1, 3 * d), b_in));
        }
        p.push(ParamSpec::new(
            "out_proj.weight",
            (d, d),
            Init::Uniform(linear),
        ));
        if self.bias {
            p.push(ParamSpec::new("out_proj.bias", (1, d), b_out));
        }
        p
    }

    forward_via_fwd!(E);

    /// A fast path for a single token only (see the `FastLayer` impl).
    fn fast(&self) -> Option<Box<dyn crate::fast::FastLayer>> {
        (self.tokens == 1).then(|| Box::new(self.clone()) as Box<dyn crate::fast::FastLayer>)
    }

    fn tangent(
        &self,
        p: &[Plain<E>],
        dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        _mode: Mode,
        cache: &mut Cache<E>,
        probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let (x, qkv, s, probs, o) = (
            cache.next(),
            cache.next(),
            cache.next(),
            cache.next(),
            cache.next(),
        );
        let n = x.shape().0;
        let (b, h, t) = (n / self.tokens, self.heads, self.tokens);
        let wo = self.out_index();
        // [q̇ k̇ v̇] = x Ẇ_in (+ ḃ_in) + ẋ W_in.
        let mut dqkv = self.project(x, dp, 0);
        if let Some(dx) = dx {
            dqkv = dqkv + dx.matmul(p[0].clone());
        }
        let q = self.heads_view(qkv.clone(), 0);
        let kt = self
            .heads_view(qkv.clone(), 1)
            .permute::<_, Axes4<0, 1, 3, 2>>();
        let v = self.heads_view(qkv, 2);
        let dq = self.heads_view(dqkv.clone(), 0);
        let dkt = self
            .heads_view(dqkv.clone(), 1)
            .permute::<_, Axes4<0, 1, 3, 2>>();
        let dv = self.heads_view(dqkv, 2);
        let ds = (dq.matmul(kt) + q.matmul(dkt)) * crate::cast::<E>(self.scale());
        probes.push(Probe::from_tensors(
            ProbeKind::AttentionScores,
            &self.name,
            &s,
            &ds.clone().reshape_like(&(b * h * t, t)),
        ));
        // Softmax tangent: ṗ = p ⊙ (ṡ − Σ_keys p ṡ).
        let shape = (b, h, t, t);
        let probs = probs.reshape_like(&shape);
        let mean_ds = (probs.clone() * ds.clone())
            .sum::<_, Axis<3>>()
            .broadcast_like::<_, Axis<3>>(&shape);
        let dprobs = probs.clone() * (ds - mean_ds);
        let dout = self.merge_heads(dprobs.matmul(v) + probs.matmul(dv));
        // ẏ = o Ẇ_out (+ ḃ_out) + ȯ W_out.
        self.project(o, dp, wo) + dout.matmul(p[wo].clone())
    }
}

impl Attention {
    /// The value block W_in[:, 2d..3d] of the packed (d, 3d) in-projection.
    fn value_weight<'a>(&self, w_in: &'a [f32]) -> MatRef<'a> {
        let d = self.dim;
        MatRef::strided(&w_in[2 * d..], d, d, 3 * d, 1)
    }
}

/// Fast path for T = 1 (the arch-grid single-token transformer) only: a
/// softmax over a single key is exactly 1 (and its derivative exactly 0) in
/// every head, so o = v and y = v W_out (+ b_out) with v = x W_in,v
/// (+ b_in,v), the value third of the packed projection. q and k affect
/// neither y nor ẏ; their weight and bias gradients are exactly 0, as
/// dfdx's (softmax backward p ⊙ (g − Σ p g) = 1·(g − g) = 0). Records x
/// and v (= o).
impl crate::fast::FastLayer for Attention {
    fn output_form(&self, input: crate::fast::Form) -> Result<crate::fast::Form, String> {
        use crate::fast::Form;
        match input {
            Form::Rows(c) if c == self.dim && self.tokens == 1 => Ok(input),
            _ => Err(format!(
                "attention ({} tokens) needs rows of {}, got {input}",
                self.tokens, self.dim
            )),
        }
    }

    fn forward(
        &self,
        p: &[&[f32]],
        x: Mat,
        _state: &mut [f32],
        _mode: Mode,
        rec: &mut Record,
    ) -> Mat {
        let d = self.dim;
        assert_eq!(self.tokens, 1, "attention: fast path for one token only");
        assert_eq!((x.cols, x.layout), (d, Layout::Rows), "attention: input");
        let wo = self.out_index();
        let mut v = Mat::zeros(x.rows, d, Layout::Rows);
        if self.bias {
            for row in v.data.chunks_exact_mut(d) {
                row.copy_from_slice(&p[1][2 * d..]);
            }
        }
        matmul(&mut v.data, d, x.view(), self.value_weight(p[0]), self.bias);
        let mut y = Mat::zeros(x.rows, d, Layout::Rows);
        if self.bias {
            for row in y.data.chunks_exact_mut(d) {
                row.copy_from_slice(p[wo + 1]);
            }
        }
        matmul(
            &mut y.data,
            d,
            v.view(),
            MatRef::row_major(p[wo], d, d),
            self.bias,
        );
        rec.mats.push(x);
        rec.mats.push(v);
        y
    }

    /// ∂W_out = vᵀ∂y, ∂b_out = Σ ∂y; ∂v = ∂y W_outᵀ; ∂W_in = [0 | 0 | xᵀ∂v],
    /// ∂b_in = [0 | 0 | Σ ∂v]; ∂x = ∂v W_in,vᵀ.
    fn backward(
        &self,
        p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        let d = self.dim;
        let (x, v) = (&rec.mats[0], &rec.mats[1]);
        let wo = self.out_index();
        let w_out = MatRef::row_major(p[wo], d, d);
        matmul(grads[wo], d, v.view().t(), dy.view(), false);
        if self.bias {
            column_sums(&dy, grads[wo + 1]);
        }
        let mut dv = Mat::zeros(x.rows, d, Layout::Rows);
        matmul(&mut dv.data, d, dy.view(), w_out.t(), false);
        // q and k columns: exactly zero; v columns: xᵀ∂v.
        grads[0].fill(0.0);
        matmul(
            &mut grads[0][2 * d..],
            3 * d,
            x.view().t(),
            dv.view(),
            false,
        );
        if self.bias {
            grads[1][..2 * d].fill(0.0);
            column_sums(&dv, &mut grads[1][2 * d..]);
        }
        let mut dx = Mat::zeros(x.rows, d, Layout::Rows);
        if need_dx {
            matmul(
                &mut dx.data,
                d,
                dv.view(),
                self.value_weight(p[0]).t(),
                false,
            );
        }
        dx
    }

    /// v̇ = x Ẇ_in,v (+ ḃ_in,v) + ẋ W_in,v; ẏ = v Ẇ_out (+ ḃ_out) + v̇ W_out.
    fn tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
    _probes: &mut crate::fast::FastProbes,
) -> Mat {
        let d = self.dim;
        let (x, v) = (&rec.mats[0], &rec.mats[1]);
        let wo = self.out_index();
        let mut dv = Mat::zeros(x.rows, d, Layout::Rows);
        if self.bias {
            for row in dv.data.chunks_exact_mut(d) {
                row.copy_from_slice(&dp[1][2 * d..]);
            }
        }
        matmul(
            &mut dv.data,
            d,
            x.view(),
            self.value_weight(dp[0]),
            self.bias,
        );
        if let Some(dx) = dx {
            matmul(&mut dv.data, d, dx.view(), self.value_weight(p[0]), true);
        }
        let mut dy = Mat::zeros(x.rows, d, Layout::Rows);
        if self.bias {
            for row in dy.data.chunks_exact_mut(d) {
                row.copy_from_slice(dp[wo + 1]);
            }
        }
        matmul(
            &mut dy.data,
            d,
            v.view(),
            MatRef::row_major(dp[wo], d, d),
            self.bias,
        );
        matmul(
            &mut dy.data,
            d,
            dv.view(),
            MatRef::row_major(p[wo], d, d),
            true,
        );
        dy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Model, ParamVec};

    /// Attention by explicit loops, in f64 from host values (θ laid out as
    /// [W_in (d×3d), b_in (3d)?, W_out (d×d), b_out (d)?]).
    fn naive(layer: &Attention, theta: &[f64], x: &[f64], rows: usize) -> (Vec<f64>, Vec<f64>) {
        let (d, h, t, dh) = (layer.dim, layer.heads, layer.tokens, layer.head_dim());
        let mut at = 0;
        let mut take = |len: usize| {
            let s = theta[at..at + len].to_vec();
            at += len;
            s
        };
        let w_in = take(d * 3 * d);
        let b_in = if layer.bias {
            take(3 * d)
        } else {
            vec![0.0; 3 * d]
        };
        let w_out = take(d * d);
        let b_out = if layer.bias { take(d) } else { vec![0.0; d] };
        let mut qkv = vec![0.0; rows * 3 * d];
        for r in 0..rows {
            for j in 0..3 * d {
                qkv[r * 3 * d + j] = b_in[j]
                    + (0..d)
                        .map(|c| x[r * d + c] * w_in[c * 3 * d + j])
                        .sum::<f64>();
            }
        }
        let b = rows / t;
        let mut scores = vec![0.0; b * h * t * t];
        let mut o = vec![0.0; rows * d];
        for s in 0..b {
            for hd in 0..h {
                for i in 0..t {
                    let row = ((s * h + hd) * t + i) * t;
                    for j in 0..t {
                        let dot: f64 = (0..dh)
                            .map(|c| {
                                qkv[(s * t + i) * 3 * d + hd * dh + c]
                                    * qkv[(s * t + j) * 3 * d + d + hd * dh + c]
                            })
                            .sum();
                        scores[row + j] = dot / (dh as f64).sqrt();
                    }
                    let m = scores[row..row + t]
                        .iter()
                        .cloned()
                        .fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores[row..row + t].iter().map(|v| (v - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for c in 0..dh {
                        o[(s * t + i) * d + hd * dh + c] = (0..t)
                            .map(|j| e[j] / z * qkv[(s * t + j) * 3 * d + 2 * d + hd * dh + c])
                            .sum();
                    }
                }
            }
        }
        let mut y = vec![0.0; rows * d];
        for r in 0..rows {
            for j in 0..d {
                y[r * d + j] =
                    b_out[j] + (0..d).map(|c| o[r * d + c] * w_out[c * d + j]).sum::<f64>();
            }
        }
        (y, scores)
    }

    fn layers() -> Vec<Attention> {
        vec![
            Attention::new("a", 8, 2, 5, false, AttentionInit::Linear),
            Attention::new("b", 8, 4, 5, true, AttentionInit::MultiheadAttention),
            Attention::new("single", 6, 1, 1, true, AttentionInit::Linear),
        ]
    }

    fn perturbed(theta: &ParamVec<f64>) -> ParamVec<f64> {
        // Nonzero biases (the MHA init sets them to 0) so every term is exercised.
        let mut th = theta.clone();
        th.axpy(0.3, &ParamVec::random_unit(th.len(), 99));
        th
    }

    #[test]
    fn forward_matches_a_naive_loop() {
        let dev: Dev = Default::default();
        for layer in layers() {
            let model =
                Model::<f64>::new("attn", layer.dim, layer.dim, vec![Box::new(layer.clone())]);
            let mut state = model.init(1);
            state.params = perturbed(&state.params);
            let rows = 3 * layer.tokens;
            let x = crate::model::to_matrix::<f64>(&dev.sample_normal_like(&(rows, layer.dim)));
            let (y, _) = model.forward(&mut state, &x, Mode::Eval);
            let (expect, _) = naive(&layer, &state.params.0, &x.as_vec(), rows);
            let err = y
                .as_vec()
                .iter()
                .zip(&expect)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err < 1e-12,
                "{}: forward differs from the naive loop by {err:e}",
                layer.name
            );
        }
    }

    #[test]
    fn score_probe_and_output_tangent_match_central_differences() {
        let dev: Dev = Default::default();
        const EPS: f64 = 1e-5;
        for layer in layers() {
            let model =
                Model::<f64>::new("attn", layer.dim, layer.dim, vec![Box::new(layer.clone())]);
            let mut state = model.init(2);
            state.params = perturbed(&state.params);
            let rows = 4 * layer.tokens;
            let x: Plain<f64> = dev.sample_normal_like(&(rows, layer.dim));
            let dx: Plain<f64> = dev.sample_normal_like(&(rows, layer.dim));
            let v = ParamVec::<f64>::random_unit(model.num_params(), 7);
            // Tangent pass with both an input and a parameter tangent.
            let p: Vec<Plain<f64>> = split(&model, &state.params);
            let dp: Vec<Plain<f64>> = split(&model, &v);
            let mut cache = Cache::new();
            let y = Layer::<f64>::forward(&layer, &p, x.clone(), &mut [], Mode::Eval, &mut cache);
            let mut probes = Vec::new();
            cache.rewind();
            let dy = layer.tangent(
                &p,
                &dp,
                Some(dx.clone()),
                Mode::Eval,
                &mut cache,
                &mut probes,
            );
            assert_eq!(probes.len(), 1);
            let probe = &probes[0];
            assert_eq!(probe.kind, ProbeKind::AttentionScores);
            assert_eq!(
                probe.value.shape(),
                (4 * layer.heads * layer.tokens, layer.tokens)
            );
            let (naive_y, naive_s) = naive(&layer, &state.params.0, &x.as_vec(), rows);
            assert!(probe
                .value
                .as_vec()
                .iter()
                .zip(&naive_s)
                .all(|(a, b)| (a - b).abs() < 1e-12));
            assert!(y
                .as_vec()
                .iter()
                .zip(&naive_y)
                .all(|(a, b)| (a - b).abs() < 1e-12));
            // Central differences of the naive scores and outputs along (v, ẋ).
            let at = |sign: f64| {
                let mut th = state.params.clone();
                th.axpy(sign * EPS, &v);
                let xs: Vec<f64> = x
                    .as_vec()
                    .iter()
                    .zip(dx.as_vec())
                    .map(|(a, b)| a + sign * EPS * b)
                    .collect();
                naive(&layer, &th.0, &xs, rows)
            };
            let ((yp, sp), (ym, sm)) = (at(1.0), at(-1.0));
            let fd = |p: &[f64], m: &[f64]| {
                p.iter()
                    .zip(m)
                    .map(|(a, b)| (a - b) / (2.0 * EPS))
                    .collect::<Vec<f64>>()
            };
            let rel = |a: &[f64], b: &[f64]| {
                let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                a.iter()
                    .zip(b)
                    .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
                    / scale
            };
            let es = rel(&probe.tangent.as_vec(), &fd(&sp, &sm));
            let ey = rel(&dy.as_vec(), &fd(&yp, &ym));
            assert!(
                es < 1e-8 && ey < 1e-8,
                "{}: score tangent {es:e}, output tangent {ey:e}",
                layer.name
            );
        }
    }

    #[test]
    fn the_fast_path_exists_for_one_token_only_and_zeroes_the_q_k_gradients() {
        for bias in [false, true] {
            let multi = Attention::new("m", 8, 2, 5, bias, AttentionInit::Linear);
            assert!(Layer::<f32>::fast(&multi).is_none());
            let single = Attention::new("s", 4, 2, 1, bias, AttentionInit::Linear);
            let fast = Layer::<f32>::fast(&single).expect("one token has a fast path");
            let specs = Layer::<f32>::params(&single);
            let theta: Vec<Vec<f32>> = specs
                .iter()
                .enumerate()
                .map(|(t, s)| {
                    (0..s.numel())
                        .map(|i| ((i * 7 + t * 3) as f32 * 0.37).sin())
                        .collect()
                })
                .collect();
            let p: Vec<&[f32]> = theta.iter().map(|v| v.as_slice()).collect();
            let x = crate::fast::Mat::new(3, 4, (0..12).map(|i| (i as f32 * 0.9).cos()).collect());
            let mut rec = crate::fast::Record::default();
            let y = fast.forward(&p, x, &mut [], Mode::Train, &mut rec);
            // Gradients are overwritten: NaN going in must not survive anywhere.
            let mut g: Vec<Vec<f32>> = specs.iter().map(|s| vec![f32::NAN; s.numel()]).collect();
            let mut gm: Vec<&mut [f32]> = g.iter_mut().map(|v| v.as_mut_slice()).collect();
            fast.backward(&p, y, &rec, &mut gm, true);
            assert!(g.iter().flatten().all(|v| v.is_finite()));
            let (d, w_in) = (4, &g[0]);
            for row in w_in.chunks_exact(3 * d) {
                assert!(row[..2 * d].iter().all(|&v| v == 0.0));
                assert!(row[2 * d..].iter().any(|&v| v != 0.0));
            }
            if bias {
                assert!(g[1][..2 * d].iter().all(|&v| v == 0.0));
            }
        }
    }

    /// θ as this one-layer model's tensors.
    fn split(model: &Model<f64>, flat: &ParamVec<f64>) -> Vec<Plain<f64>> {
        model
            .layout()
            .into_iter()
            .map(|(_, _, o, s)| {
                Dev::default().tensor_from_vec(flat.0[o..o + s.numel()].to_vec(), s.shape)
            })
            .collect()
    }

    #[test]
    fn traced_forward_gradient_matches_the_tangent() {
        // Reverse mode through slices, permutes and 4-D matmuls: ⟨∇θ L, v⟩
        // against the tangent pass with L = Σ y ⊙ c for a fixed c.
        let dev: Dev = Default::default();
        for layer in layers() {
            let model =
                Model::<f64>::new("attn", layer.dim, layer.dim, vec![Box::new(layer.clone())]);
            let mut state = model.init(3);
            state.params = perturbed(&state.params);
            let p = split(&model, &state.params);
            let x: Plain<f64> = dev.sample_normal_like(&(2 * layer.tokens, layer.dim));
            let c: Plain<f64> = dev.sample_normal_like(&(2 * layer.tokens, layer.dim));
            let mut cache = Cache::new();
            // fwd retapes each parameter, keeping its id, so grads.get(&p[i]) finds it.
            let y = layer.fwd(
                &p,
                x.retaped::<OwnedTape<f64, Dev>>(),
                &mut [],
                Mode::Eval,
                &mut cache,
            );
            let grads = (y * c.clone()).sum().backward();
            let v = ParamVec::<f64>::random_unit(model.num_params(), 5);
            let dp = split(&model, &v);
            let g: f64 = p
                .iter()
                .zip(&dp)
                .map(|(t, d)| {
                    grads
                        .get(t)
                        .as_vec()
                        .iter()
                        .zip(d.as_vec())
                        .map(|(a, b)| a * b)
                        .sum::<f64>()
                })
                .sum();
            cache.rewind();
            let dy = layer.tangent(&p, &dp, None, Mode::Eval, &mut cache, &mut Vec::new());
            let jv: f64 = dy.as_vec().iter().zip(c.as_vec()).map(|(a, b)| a * b).sum();
            assert!(
                (g - jv).abs() < 1e-10 * jv.abs().max(1.0),
                "{}: {g} vs {jv}",
                layer.name
            );
        }
    }
}
