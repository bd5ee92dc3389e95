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
//! Batched products use dfdx's 4-D matmul on (B, heads, T, d_head) views;
//! the fast path (same file, below) loops over each sample's block instead.

use super::broadcast_row;
use crate::fast::{column_sums, matmul, Layout, Live, Mat, MatRef, Record};
use crate::layer::TapeOps;
use crate::{
    forward_via_fwd, Cache, Dev, Init, Layer, Mode, ParamSpec, Plain, Probe, ProbeKind, Real,
};
use dfdx::prelude::*;

mod lanes;

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

    /// The fast path (any number of tokens; see the `FastLayer` impl).
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

/// Run `$method::<DH, T>($shape, args..)` with d_h and T as compile-time
/// constants for the transformers' shape (d_h = 8, T = 9: the loops unroll
/// without bounds checks), read at run time otherwise.
macro_rules! with_const_heads {
    ($method:ident($shape:expr $(, $arg:expr)* $(,)?)) => {{
        let shape: HeadShape = $shape;
        if shape.fixed() {
            $method::<8, 9>(shape $(, $arg)*)
        } else {
            $method::<0, 0>(shape $(, $arg)*)
        }
    }};
}

impl Attention {
    /// The value block W_in[:, 2d..3d] of the packed (d, 3d) in-projection.
    fn value_weight<'a>(&self, w_in: &'a [f32]) -> MatRef<'a> {
        let d = self.dim;
        MatRef::strided(&w_in[2 * d..], d, d, 3 * d, 1)
    }

    /// The packed (d, 3d) in-projection weight of a parameter list.
    fn in_weight<'a>(&self, p: &[&'a [f32]]) -> MatRef<'a> {
        MatRef::row_major(p[0], self.dim, 3 * self.dim)
    }

    /// The (d, d) out-projection weight of a parameter list.
    fn out_weight<'a>(&self, p: &[&'a [f32]]) -> MatRef<'a> {
        MatRef::row_major(p[self.out_index()], self.dim, self.dim)
    }

    /// The in-projection bias (3d), if the layer has biases.
    fn in_bias<'a>(&self, p: &[&'a [f32]]) -> Option<&'a [f32]> {
        self.bias.then(|| p[1])
    }

    /// The out-projection bias (d), if the layer has biases.
    fn out_bias<'a>(&self, p: &[&'a [f32]]) -> Option<&'a [f32]> {
        self.bias.then(|| p[self.out_index() + 1])
    }

    /// Backward of the out-projection y = o W_out (+ b_out): writes ∂W_out
    /// (and ∂b_out) into `grads` and returns ∂o (exactly-zero rows of ∂y,
    /// as after a CLS pool, are skipped: [`crate::fast::affine_backward`]).
    fn out_backward(&self, p: &[&[f32]], o: &Mat, dy: Mat, grads: &mut [&mut [f32]]) -> Mat {
        let wo = self.out_index();
        let (dw, db) = grads[wo..].split_at_mut(1);
        let db = db.first_mut().filter(|_| self.bias).map(|g| &mut **g);
        let dout = crate::fast::affine_backward(o, &dy, self.out_weight(p), dw[0], db, true)
            .expect("∂o is asked for");
        dy.recycle();
        dout
    }

    /// The sizes the per-head loops need.
    fn head_shape(&self) -> HeadShape {
        HeadShape {
            d: self.dim,
            dh: self.head_dim(),
            heads: self.heads,
            t: self.tokens,
            scale: self.scale() as f32,
        }
    }

    /// Samples in a (B·T, d) input, checked.
    fn samples(&self, x: &Mat) -> usize {
        assert_eq!(
            (x.cols, x.layout),
            (self.dim, Layout::Rows),
            "attention: input"
        );
        assert_eq!(
            x.rows % self.tokens,
            0,
            "attention: {} rows is not a multiple of {} tokens",
            x.rows,
            self.tokens
        );
        x.rows / self.tokens
    }

    /// The score probe (s and ṡ, rows (sample, head, query), columns keys)
    /// from q|k|v and its tangent, both (B·T, 3d); recomputed from them, so
    /// a tangent pass without probes pays nothing for it. (The T > 1
    /// tangent computes it with ȯ instead: [`heads_tangent`].)
    fn score_probe(&self, qkv: &Mat, dqkv: &Mat) -> crate::fast::FastProbe {
        let hs = self.head_shape();
        let (mut value, mut tangent) = self.probe_mats(qkv.rows / hs.t);
        with_const_heads!(score_probe_values(
            hs,
            &qkv.data,
            &dqkv.data,
            &mut value.data,
            &mut tangent.data
        ));
        self.probe(value, tangent)
    }

    /// Uninitialised s and ṡ matrices of the score probe of `b` samples.
    fn probe_mats(&self, b: usize) -> (Mat, Mat) {
        let hs = self.head_shape();
        let rows = b * hs.heads * hs.t;
        (
            Mat::scratch(rows, hs.t, Layout::Rows),
            Mat::scratch(rows, hs.t, Layout::Rows),
        )
    }

    /// The score probe of s and ṡ.
    fn probe(&self, value: Mat, tangent: Mat) -> crate::fast::FastProbe {
        crate::fast::FastProbe {
            kind: ProbeKind::AttentionScores,
            layer: self.name.clone(),
            value,
            tangent,
        }
    }
}

/// dst = x·w (+ `bias` in every row); every entry of `dst` is written.
fn affine_into(dst: &mut Mat, x: MatRef<'_>, w: MatRef<'_>, bias: Option<&[f32]>) {
    if let Some(b) = bias {
        crate::fast::fill_rows(&mut dst.data, b);
    }
    matmul(&mut dst.data, dst.cols, x, w, bias.is_some());
}

/// Σ a ⊙ b.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut s = 0.0;
    for (x, y) in a.iter().zip(b) {
        s += x * y;
    }
    s
}

/// out += a·v.
#[inline(always)]
fn axpy(out: &mut [f32], a: f32, v: &[f32]) {
    for (o, x) in out.iter_mut().zip(v) {
        *o += a * x;
    }
}

/// Sizes of the per-(sample, head) loops of the multi-token fast path. The
/// loops work on one sample's block of the q|k|v matrix: T rows of 3d
/// values, head h's query, key and value at columns h·d_h, d + h·d_h and
/// 2d + h·d_h; its softmax weights are a heads·T × T block (rows
/// (head, query), columns keys) of the (B·heads·T, T) probability matrix.
#[derive(Debug, Clone, Copy)]
struct HeadShape {
    d: usize,
    dh: usize,
    heads: usize,
    t: usize,
    scale: f32,
}

impl HeadShape {
    /// True for the shape the constant-size loops ([`Fixed`]) serve.
    fn fixed(&self) -> bool {
        (self.dh, self.t) == (8, 9)
    }

    /// Columns of the query, key and value of head `h` in a q|k|v row.
    #[inline(always)]
    fn offsets(&self, h: usize) -> (usize, usize, usize) {
        let c = h * self.dh;
        (c, self.d + c, 2 * self.d + c)
    }

    /// Row `r`, columns `c..c + d_h` of a q|k|v block.
    #[inline(always)]
    fn part<'a>(&self, qkv: &'a [f32], r: usize, c: usize) -> &'a [f32] {
        &qkv[r * 3 * self.d + c..][..self.dh]
    }

    /// Scores s_ij = q_i·k_j/√d_h of query `i` of head `h`, all keys j.
    fn scores(&self, qkv: &[f32], h: usize, i: usize, out: &mut [f32]) {
        let (qo, ko, _) = self.offsets(h);
        let q = self.part(qkv, i, qo);
        for (j, s) in out[..self.t].iter_mut().enumerate() {
            *s = dot(q, self.part(qkv, j, ko)) * self.scale;
        }
    }

    /// Score tangents ṡ_ij = (q̇_i·k_j + q_i·k̇_j)/√d_h, all keys j.
    fn score_tangents(&self, qkv: &[f32], dqkv: &[f32], h: usize, i: usize, out: &mut [f32]) {
        let (qo, ko, _) = self.offsets(h);
        let (q, dq) = (self.part(qkv, i, qo), self.part(dqkv, i, qo));
        for (j, s) in out[..self.t].iter_mut().enumerate() {
            let (k, dk) = (self.part(qkv, j, ko), self.part(dqkv, j, ko));
            *s = (dot(dq, k) + dot(q, dk)) * self.scale;
        }
    }

    /// Forward of one sample: softmax weights `probs` (heads·T × T) and
    /// attention outputs `o` (T × d, head h at columns h·d_h).
    fn forward(&self, qkv: &[f32], probs: &mut [f32], o: &mut [f32]) {
        let (t, d, dh) = (self.t, self.d, self.dh);
        for h in 0..self.heads {
            let (_, _, vo) = self.offsets(h);
            for i in 0..t {
                let row = &mut probs[(h * t + i) * t..][..t];
                self.scores(qkv, h, i, row);
                softmax(row);
                let out = &mut o[i * d + h * dh..][..dh];
                out.fill(0.0);
                for (j, &p) in row.iter().enumerate() {
                    axpy(out, p, self.part(qkv, j, vo));
                }
            }
        }
    }

    /// Backward of one sample: from ∂L/∂o (`dout`, T × d) accumulates
    /// ∂L/∂[q k v] into `dqkv` (T × 3d, zero on entry). With
    /// ġ_j = ∂o_i·v_j: ∂s_ij = p_ij (ġ_j − Σ_k p_ik ġ_k)/√d_h,
    /// ∂q_i = Σ_j ∂s_ij k_j, ∂k_j += ∂s_ij q_i, ∂v_j += p_ij ∂o_i.
    /// `tmp` holds T values.
    fn backward(
        &self,
        qkv: &[f32],
        probs: &[f32],
        dout: &[f32],
        dqkv: &mut [f32],
        tmp: &mut [f32],
    ) {
        let (t, d, dh, w) = (self.t, self.d, self.dh, 3 * self.d);
        let tmp = &mut tmp[..t];
        for h in 0..self.heads {
            let (qo, ko, vo) = self.offsets(h);
            for i in 0..t {
                let p = &probs[(h * t + i) * t..][..t];
                let g = &dout[i * d + h * dh..][..dh];
                let mut c = 0.0;
                for ((ds, &pj), j) in tmp.iter_mut().zip(p).zip(0..) {
                    *ds = dot(g, self.part(qkv, j, vo));
                    c += pj * *ds;
                }
                for (ds, &pj) in tmp.iter_mut().zip(p) {
                    *ds = pj * (*ds - c) * self.scale;
                }
                let q = self.part(qkv, i, qo);
                for (j, (&ds, &pj)) in tmp.iter().zip(p).enumerate() {
                    axpy(&mut dqkv[i * w + qo..][..dh], ds, self.part(qkv, j, ko));
                    axpy(&mut dqkv[j * w + ko..][..dh], ds, q);
                    axpy(&mut dqkv[j * w + vo..][..dh], pj, g);
                }
            }
        }
    }

    /// Tangent of one sample: ȯ (`dout`, T × d) from q|k|v, its tangent and
    /// the softmax weights: ṡ as [`HeadShape::score_tangents`],
    /// ṗ = p ⊙ (ṡ − Σ_keys p ṡ), ȯ_i = Σ_j ṗ_ij v_j + p_ij v̇_j.
    /// `tmp` holds T values.
    fn tangent(&self, qkv: &[f32], dqkv: &[f32], probs: &[f32], dout: &mut [f32], tmp: &mut [f32]) {
        let (t, d, dh) = (self.t, self.d, self.dh);
        let tmp = &mut tmp[..t];
        for h in 0..self.heads {
            let (_, _, vo) = self.offsets(h);
            for i in 0..t {
                let p = &probs[(h * t + i) * t..][..t];
                self.score_tangents(qkv, dqkv, h, i, tmp);
                let c = dot(p, tmp);
                let out = &mut dout[i * d + h * dh..][..dh];
                out.fill(0.0);
                for (j, (&ds, &pj)) in tmp.iter().zip(p).enumerate() {
                    axpy(out, pj * (ds - c), self.part(qkv, j, vo));
                    axpy(out, pj, self.part(dqkv, j, vo));
                }
            }
        }
    }
}

/// p ← softmax(p) over one row of scores: exp(s − max)/Σ, with the
/// vectorisable [`exp_f32`](crate::fastmath::exp_f32).
#[inline(always)]
fn softmax(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    // Exponentials first (a vectorisable loop), then their sum in order.
    for v in row.iter_mut() {
        *v = crate::fastmath::exp_f32(*v - max);
    }
    let mut sum = 0.0;
    for &v in row.iter() {
        sum += v;
    }
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// The loops of [`HeadShape`] with d_h = `DH` and T = `T` compile-time
/// constants: each head's queries, keys and values (and their tangents) of
/// a sample are first copied into stack arrays, keys and values also
/// transposed (d_h × T), so every loop has constant bounds, no bounds
/// checks, and vectorises. Same formulas and the same order of summation
/// per entry as [`HeadShape`].
#[derive(Debug, Clone, Copy)]
struct Fixed<const DH: usize, const T: usize>(HeadShape);

impl<const DH: usize, const T: usize> Fixed<DH, T> {
    /// Columns `c..c + DH` of the T rows of a q|k|v block (T × DH).
    #[inline(always)]
    fn rows(&self, qkv: &[f32], c: usize) -> [[f32; DH]; T] {
        let w = 3 * self.0.d;
        let mut m = [[0.0; DH]; T];
        for (j, r) in m.iter_mut().enumerate() {
            r.copy_from_slice(&qkv[j * w + c..][..DH]);
        }
        m
    }

    /// The same, transposed (DH × T).
    #[inline(always)]
    fn cols(&self, qkv: &[f32], c: usize) -> [[f32; T]; DH] {
        let w = 3 * self.0.d;
        let mut m = [[0.0; T]; DH];
        for j in 0..T {
            let r = &qkv[j * w + c..][..DH];
            for (col, &v) in m.iter_mut().zip(r) {
                col[j] = v;
            }
        }
        m
    }

    /// s_j = Σ_c a_c m[c][j]: a row against the rows of a transposed block.
    #[inline(always)]
    fn dots(a: &[f32; DH], m: &[[f32; T]; DH]) -> [f32; T] {
        let mut s = [0.0; T];
        for (&ac, row) in a.iter().zip(m) {
            for (sj, &v) in s.iter_mut().zip(row) {
                *sj += ac * v;
            }
        }
        s
    }

    /// out += Σ_j p_j m[j].
    #[inline(always)]
    fn weighted(out: &mut [f32; DH], p: &[f32; T], m: &[[f32; DH]; T]) {
        for (&pj, row) in p.iter().zip(m) {
            for (o, &v) in out.iter_mut().zip(row) {
                *o += pj * v;
            }
        }
    }

    /// Σ_j a_j b_j in order.
    #[inline(always)]
    fn inner(a: &[f32; T], b: &[f32; T]) -> f32 {
        let mut c = 0.0;
        for (x, y) in a.iter().zip(b) {
            c += x * y;
        }
        c
    }

    /// [`HeadShape::scores`] and [`HeadShape::score_tangents`] of every
    /// (head, query) of one sample (the score probe's rows).
    #[inline(always)]
    fn score_probe(&self, qkv: &[f32], dqkv: &[f32], s: &mut [f32], ds: &mut [f32]) {
        let scale = self.0.scale;
        for h in 0..self.0.heads {
            let (qo, ko, _) = self.0.offsets(h);
            let (q, kt) = (self.rows(qkv, qo), self.cols(qkv, ko));
            let (dq, dkt) = (self.rows(dqkv, qo), self.cols(dqkv, ko));
            for i in 0..T {
                let at = (h * T + i) * T;
                let (a, b, c) = (
                    Self::dots(&q[i], &kt),
                    Self::dots(&dq[i], &kt),
                    Self::dots(&q[i], &dkt),
                );
                for j in 0..T {
                    s[at + j] = a[j] * scale;
                    ds[at + j] = (b[j] + c[j]) * scale;
                }
            }
        }
    }

    /// [`HeadShape::forward`].
    #[inline(always)]
    fn forward(&self, qkv: &[f32], probs: &mut [f32], o: &mut [f32]) {
        let (d, scale) = (self.0.d, self.0.scale);
        for h in 0..self.0.heads {
            let (qo, ko, vo) = self.0.offsets(h);
            let (q, kt, v) = (self.rows(qkv, qo), self.cols(qkv, ko), self.rows(qkv, vo));
            for (i, qi) in q.iter().enumerate() {
                let mut s = Self::dots(qi, &kt);
                for x in s.iter_mut() {
                    *x *= scale;
                }
                softmax(&mut s);
                probs[(h * T + i) * T..][..T].copy_from_slice(&s);
                let mut out = [0.0; DH];
                Self::weighted(&mut out, &s, &v);
                o[i * d + h * DH..][..DH].copy_from_slice(&out);
            }
        }
    }

    /// [`HeadShape::backward`] (writes every entry of `dqkv`).
    #[inline(always)]
    fn backward(&self, qkv: &[f32], probs: &[f32], dout: &[f32], dqkv: &mut [f32]) {
        let (d, w, scale) = (self.0.d, 3 * self.0.d, self.0.scale);
        for h in 0..self.0.heads {
            let (qo, ko, vo) = self.0.offsets(h);
            let (q, k, vt) = (self.rows(qkv, qo), self.rows(qkv, ko), self.cols(qkv, vo));
            let (mut dk, mut dv) = ([[0.0; DH]; T], [[0.0; DH]; T]);
            for (i, qi) in q.iter().enumerate() {
                let p: &[f32; T] = probs[(h * T + i) * T..][..T].try_into().unwrap();
                let g: &[f32; DH] = dout[i * d + h * DH..][..DH].try_into().unwrap();
                if g.iter().all(|&v| v == 0.0) {
                    // No gradient reaches this query (all but CLS after a
                    // CLS pool): ∂s = 0, so ∂q_i = 0 and no ∂k, ∂v terms.
                    dqkv[i * w + qo..][..DH].fill(0.0);
                    continue;
                }
                let dp = Self::dots(g, &vt);
                let c = Self::inner(p, &dp);
                let mut ds = [0.0; T];
                for ((s, &pj), &gj) in ds.iter_mut().zip(p).zip(&dp) {
                    *s = pj * (gj - c) * scale;
                }
                let mut dq = [0.0; DH];
                Self::weighted(&mut dq, &ds, &k);
                dqkv[i * w + qo..][..DH].copy_from_slice(&dq);
                for j in 0..T {
                    for c in 0..DH {
                        dk[j][c] += ds[j] * qi[c];
                        dv[j][c] += p[j] * g[c];
                    }
                }
            }
            for j in 0..T {
                dqkv[j * w + ko..][..DH].copy_from_slice(&dk[j]);
                dqkv[j * w + vo..][..DH].copy_from_slice(&dv[j]);
            }
        }
    }

    /// [`HeadShape::tangent`].
    #[inline(always)]
    fn tangent(&self, qkv: &[f32], dqkv: &[f32], probs: &[f32], dout: &mut [f32]) {
        let (d, scale) = (self.0.d, self.0.scale);
        for h in 0..self.0.heads {
            let (qo, ko, vo) = self.0.offsets(h);
            let (q, kt, v) = (self.rows(qkv, qo), self.cols(qkv, ko), self.rows(qkv, vo));
            let (dq, dkt, dv) = (
                self.rows(dqkv, qo),
                self.cols(dqkv, ko),
                self.rows(dqkv, vo),
            );
            for i in 0..T {
                let p: &[f32; T] = probs[(h * T + i) * T..][..T].try_into().unwrap();
                let (a, b) = (Self::dots(&dq[i], &kt), Self::dots(&q[i], &dkt));
                let mut ds = [0.0; T];
                for ((s, &x), &y) in ds.iter_mut().zip(&a).zip(&b) {
                    *s = (x + y) * scale;
                }
                let c = Self::inner(p, &ds);
                let mut out = [0.0; DH];
                for j in 0..T {
                    let dp = p[j] * (ds[j] - c);
                    for cc in 0..DH {
                        out[cc] += dp * v[j][cc];
                        out[cc] += p[j] * dv[j][cc];
                    }
                }
                dout[i * d + h * DH..][..DH].copy_from_slice(&out);
            }
        }
    }
}

/// The per-sample loops over a whole batch: with `lanes` and nonzero `DH`
/// and `T`, [`lanes`]' kernels over blocks of [`lanes::L`] samples (SIMD
/// lanes across samples, bitwise the per-sample values), then [`Fixed`] per
/// sample for the tail; [`HeadShape`] when `DH` or `T` is 0. `lanes` false
/// is the per-sample reference the tests compare with. Compiled for AVX-512
/// and AVX2+FMA too (chosen at run time, as GELU's loops; no fused
/// multiply-adds are written, so every version gives the same values).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn heads_forward<const DH: usize, const T: usize>(
    shape: HeadShape,
    qkv: &[f32],
    probs: &mut [f32],
    o: &mut [f32],
    lanes: bool,
) {
    const ISA: u8 = lanes::isa(
        multiversion::target::target_cfg_f!(target_feature = "avx512f"),
        multiversion::target::target_cfg_f!(target_feature = "avx2"),
    );
    let (t, d, heads) = (shape.t, shape.d, shape.heads);
    let done = if lanes && DH > 0 && T > 0 {
        // SAFETY: this version runs only on CPUs with the features it was
        // compiled for, which ISA names.
        unsafe { lanes::forward::<DH, T, ISA>(shape, qkv, probs, o) }
    } else {
        0
    };
    let per_sample = qkv[done * t * 3 * d..]
        .chunks_exact(t * 3 * d)
        .zip(probs[done * heads * t * t..].chunks_exact_mut(heads * t * t))
        .zip(o[done * t * d..].chunks_exact_mut(t * d));
    for ((qkv, probs), o) in per_sample {
        if DH > 0 && T > 0 {
            Fixed::<DH, T>(shape).forward(qkv, probs, o);
        } else {
            shape.forward(qkv, probs, o);
        }
    }
}

/// [`heads_forward`] for the backward pass (`dqkv` zero on entry unless the
/// shape is [`HeadShape::fixed`]: [`Fixed::backward`] writes every entry).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn heads_backward<const DH: usize, const T: usize>(
    shape: HeadShape,
    qkv: &[f32],
    probs: &[f32],
    dout: &[f32],
    dqkv: &mut [f32],
    lanes: bool,
) {
    const ISA: u8 = lanes::isa(
        multiversion::target::target_cfg_f!(target_feature = "avx512f"),
        multiversion::target::target_cfg_f!(target_feature = "avx2"),
    );
    let (t, d, heads) = (shape.t, shape.d, shape.heads);
    let done = if lanes && DH > 0 && T > 0 {
        // SAFETY: as in heads_forward.
        unsafe { lanes::backward::<DH, T, ISA>(shape, qkv, probs, dout, dqkv) }
    } else {
        0
    };
    let mut tmp = vec![0.0; t];
    let per_sample = qkv[done * t * 3 * d..]
        .chunks_exact(t * 3 * d)
        .zip(probs[done * heads * t * t..].chunks_exact(heads * t * t))
        .zip(dout[done * t * d..].chunks_exact(t * d))
        .zip(dqkv[done * t * 3 * d..].chunks_exact_mut(t * 3 * d));
    for (((qkv, probs), dout), dqkv) in per_sample {
        if DH > 0 && T > 0 {
            Fixed::<DH, T>(shape).backward(qkv, probs, dout, dqkv);
        } else {
            shape.backward(qkv, probs, dout, dqkv, &mut tmp);
        }
    }
}

/// [`heads_forward`] for the tangent pass; with `probe`, also the score
/// probe's s and ṡ ([`score_probe_values`]' values: the lane kernels reuse
/// the tangent's ṡ, the same operations).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn heads_tangent<const DH: usize, const T: usize>(
    shape: HeadShape,
    qkv: &[f32],
    dqkv: &[f32],
    probs: &[f32],
    dout: &mut [f32],
    mut probe: Option<(&mut [f32], &mut [f32])>,
    lanes: bool,
) {
    const ISA: u8 = lanes::isa(
        multiversion::target::target_cfg_f!(target_feature = "avx512f"),
        multiversion::target::target_cfg_f!(target_feature = "avx2"),
    );
    let (t, d, heads) = (shape.t, shape.d, shape.heads);
    let done = if lanes && DH > 0 && T > 0 {
        let probe = probe.as_mut().map(|(s, ds)| (&mut **s, &mut **ds));
        // SAFETY: as in heads_forward.
        unsafe { lanes::tangent::<DH, T, ISA>(shape, qkv, dqkv, probs, dout, probe) }
    } else {
        0
    };
    let (qkv, dqkv) = (&qkv[done * t * 3 * d..], &dqkv[done * t * 3 * d..]);
    if let Some((s, ds)) = probe {
        let at = done * heads * t * t;
        score_probe_values::<DH, T>(shape, qkv, dqkv, &mut s[at..], &mut ds[at..]);
    }
    let mut tmp = vec![0.0; t];
    let per_sample = qkv
        .chunks_exact(t * 3 * d)
        .zip(dqkv.chunks_exact(t * 3 * d))
        .zip(probs[done * heads * t * t..].chunks_exact(heads * t * t))
        .zip(dout[done * t * d..].chunks_exact_mut(t * d));
    for (((qkv, dqkv), probs), dout) in per_sample {
        if DH > 0 && T > 0 {
            Fixed::<DH, T>(shape).tangent(qkv, dqkv, probs, dout);
        } else {
            shape.tangent(qkv, dqkv, probs, dout, &mut tmp);
        }
    }
}

/// The score probe's values s and tangents ṡ (rows (sample, head, query),
/// columns keys) of every sample of a batch, per sample: [`Fixed`] when
/// `DH` and `T` are nonzero (compiled as [`heads_forward`]), [`HeadShape`]
/// otherwise.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn score_probe_values<const DH: usize, const T: usize>(
    shape: HeadShape,
    qkv: &[f32],
    dqkv: &[f32],
    s: &mut [f32],
    ds: &mut [f32],
) {
    let (t, d, heads) = (shape.t, shape.d, shape.heads);
    let blocks = qkv
        .chunks_exact(t * 3 * d)
        .zip(dqkv.chunks_exact(t * 3 * d));
    let outs = s
        .chunks_exact_mut(heads * t * t)
        .zip(ds.chunks_exact_mut(heads * t * t));
    for ((qkv, dqkv), (s, ds)) in blocks.zip(outs) {
        if DH > 0 && T > 0 {
            Fixed::<DH, T>(shape).score_probe(qkv, dqkv, s, ds);
            continue;
        }
        for h in 0..heads {
            for i in 0..t {
                let at = (h * t + i) * t;
                shape.scores(qkv, h, i, &mut s[at..at + t]);
                shape.score_tangents(qkv, dqkv, h, i, &mut ds[at..at + t]);
            }
        }
    }
}

/// Fast path. For T > 1: q|k|v = x W_in (+ b_in) and y = o W_out (+ b_out)
/// by GEMM, the per-(sample, head) scores, softmax and weighted sums
/// (`HeadShape`, `Fixed`) as tight loops over each sample's contiguous block (a
/// T × T score matrix per head is far too small for GEMM calls). Records
/// x, q|k|v, the softmax weights (B·heads·T × T) and o. The tangent reports
/// the score probe when probes are wanted.
///
/// For T = 1 (the arch-grid single-token transformer): a softmax over a
/// single key is exactly 1 (and its derivative exactly 0) in every head,
/// so o = v and y = v W_out (+ b_out) with v = x W_in,v (+ b_in,v), the
/// value third of the packed projection. q and k affect neither y nor ẏ;
/// their weight and bias gradients are exactly 0, as dfdx's (softmax
/// backward p ⊙ (g − Σ p g) = 1·(g − g) = 0). Records x and v (= o); the
/// score probe (one key per query) recomputes q and k when wanted.
impl crate::fast::FastLayer for Attention {
    fn output_form(&self, input: crate::fast::Form) -> Result<crate::fast::Form, String> {
        use crate::fast::Form;
        match input {
            Form::Rows(c) if c == self.dim => Ok(input),
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
        if self.tokens == 1 {
            return self.forward_single(p, x, rec);
        }
        let (d, hs) = (self.dim, self.head_shape());
        let (n, b) = (x.rows, self.samples(&x));
        let mut qkv = Mat::scratch(n, 3 * d, Layout::Rows);
        affine_into(&mut qkv, x.view(), self.in_weight(p), self.in_bias(p));
        let mut probs = Mat::scratch(b * hs.heads * hs.t, hs.t, Layout::Rows);
        let mut o = Mat::scratch(n, d, Layout::Rows);
        with_const_heads!(heads_forward(
            hs,
            &qkv.data,
            &mut probs.data,
            &mut o.data,
            true
        ));
        let mut y = Mat::scratch(n, d, Layout::Rows);
        affine_into(&mut y, o.view(), self.out_weight(p), self.out_bias(p));
        if rec.logits_only {
            for m in [x, qkv, probs, o] {
                m.recycle();
            }
        } else {
            rec.mats.extend([x, qkv, probs, o]);
        }
        y
    }

    /// T > 1: ∂W_out = oᵀ∂y, ∂b_out = Σ ∂y, ∂o = ∂y W_outᵀ; ∂[q k v] per
    /// sample and head (`HeadShape::backward`); ∂W_in = xᵀ∂[q k v],
    /// ∂b_in = Σ ∂[q k v], ∂x = ∂[q k v] W_inᵀ. T = 1: see the impl.
    fn backward(
        &self,
        p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        if self.tokens == 1 {
            return self.backward_single(p, dy, rec, grads, need_dx);
        }
        let (d, hs) = (self.dim, self.head_shape());
        let (x, qkv, probs, o) = (&rec.mats[0], &rec.mats[1], &rec.mats[2], &rec.mats[3]);
        let n = x.rows;
        let dout = self.out_backward(p, o, dy, grads);
        // The constant-size loops write every entry; the others accumulate.
        let mut dqkv = if hs.fixed() {
            Mat::scratch(n, 3 * d, Layout::Rows)
        } else {
            Mat::zeroed(n, 3 * d, Layout::Rows)
        };
        with_const_heads!(heads_backward(
            hs,
            &qkv.data,
            &probs.data,
            &dout.data,
            &mut dqkv.data,
            true
        ));
        dout.recycle();
        matmul(grads[0], 3 * d, x.view().t(), dqkv.view(), false);
        if self.bias {
            column_sums(&dqkv, grads[1]);
        }
        if !need_dx {
            dqkv.recycle();
            return Mat::zeros(n, 0, Layout::Rows);
        }
        let mut dx = Mat::scratch(n, d, Layout::Rows);
        matmul(&mut dx.data, d, dqkv.view(), self.in_weight(p).t(), false);
        dqkv.recycle();
        dx
    }

    /// T > 1: [q̇ k̇ v̇] = x Ẇ_in (+ ḃ_in) + ẋ W_in; ȯ per sample and head
    /// (`HeadShape::tangent`); ẏ = o Ẇ_out (+ ḃ_out) + ȯ W_out. Reports the
    /// score probe (s, ṡ) when probes are wanted. T = 1: see the impl.
    fn tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        if self.tokens == 1 {
            return self.tangent_single(p, dp, dx, rec, probes);
        }
        self.tangent_multi(p, dp, dx, rec, probes, &Live::All)
    }

    /// Every output row reads the keys and values of all its sample's
    /// tokens: all input rows.
    fn live_input(&self, _out: &Live, _rec: &Record) -> Option<Live> {
        Some(Live::All)
    }

    /// As `tangent`, with the output projection on the rows `out` only
    /// (T > 1: keys and values need every row, and the scores are computed
    /// for every query; T = 1: the full tangent, then the rows `out`).
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
        let mut no_probes = crate::fast::FastProbes::new(false);
        if self.tokens == 1 {
            let y = self.tangent_single(p, dp, dx, rec, &mut no_probes);
            let kept = Live::All.select(&y, out);
            y.recycle();
            return kept;
        }
        self.tangent_multi(p, dp, dx, rec, &mut no_probes, out)
    }
}

impl Attention {
    /// The T > 1 tangent at the output rows `out` (see `tangent`).
    fn tangent_multi(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        rec: &Record,
        probes: &mut crate::fast::FastProbes,
        out: &Live,
    ) -> Mat {
        let (d, hs) = (self.dim, self.head_shape());
        let (x, qkv, probs, o) = (&rec.mats[0], &rec.mats[1], &rec.mats[2], &rec.mats[3]);
        let n = x.rows;
        let mut dqkv = Mat::scratch(n, 3 * d, Layout::Rows);
        affine_into(&mut dqkv, x.view(), self.in_weight(dp), self.in_bias(dp));
        if let Some(dx) = dx {
            matmul(&mut dqkv.data, 3 * d, dx.view(), self.in_weight(p), true);
            dx.recycle();
        }
        let mut probe = probes
            .wants(ProbeKind::AttentionScores)
            .then(|| self.probe_mats(n / hs.t));
        let mut dout = Mat::scratch(n, d, Layout::Rows);
        with_const_heads!(heads_tangent(
            hs,
            &qkv.data,
            &dqkv.data,
            &probs.data,
            &mut dout.data,
            probe
                .as_mut()
                .map(|(s, ds)| (&mut s.data[..], &mut ds.data[..])),
            true
        ));
        if let Some((value, tangent)) = probe {
            probes.push_with(|| self.probe(value, tangent));
        }
        dqkv.recycle();
        // The output projection on the kept rows of o and ȯ.
        let o_kept = matches!(out, Live::Rows(_)).then(|| Live::All.select(o, out));
        let dout = match out {
            Live::All => dout,
            Live::Rows(_) => {
                let kept = Live::All.select(&dout, out);
                dout.recycle();
                kept
            }
        };
        let o = o_kept.as_ref().unwrap_or(o);
        let mut dy = Mat::scratch(o.rows, d, Layout::Rows);
        affine_into(&mut dy, o.view(), self.out_weight(dp), self.out_bias(dp));
        matmul(&mut dy.data, d, dout.view(), self.out_weight(p), true);
        dout.recycle();
        if let Some(o) = o_kept {
            o.recycle();
        }
        dy
    }
}

/// The single-token (T = 1) fast path (see the `FastLayer` impl).
impl Attention {
    fn forward_single(&self, p: &[&[f32]], x: Mat, rec: &mut Record) -> Mat {
        let d = self.dim;
        self.samples(&x);
        let mut v = Mat::scratch(x.rows, d, Layout::Rows);
        let bias_v = self.in_bias(p).map(|b| &b[2 * d..]);
        affine_into(&mut v, x.view(), self.value_weight(p[0]), bias_v);
        let mut y = Mat::scratch(x.rows, d, Layout::Rows);
        affine_into(&mut y, v.view(), self.out_weight(p), self.out_bias(p));
        if rec.logits_only {
            x.recycle();
            v.recycle();
        } else {
            rec.mats.extend([x, v]);
        }
        y
    }

    /// ∂W_out = vᵀ∂y, ∂b_out = Σ ∂y; ∂v = ∂y W_outᵀ; ∂W_in = [0 | 0 | xᵀ∂v],
    /// ∂b_in = [0 | 0 | Σ ∂v]; ∂x = ∂v W_in,vᵀ.
    fn backward_single(
        &self,
        p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        let d = self.dim;
        let (x, v) = (&rec.mats[0], &rec.mats[1]);
        let dv = self.out_backward(p, v, dy, grads);
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
        if !need_dx {
            dv.recycle();
            return Mat::zeros(x.rows, 0, Layout::Rows);
        }
        let mut dx = Mat::scratch(x.rows, d, Layout::Rows);
        matmul(
            &mut dx.data,
            d,
            dv.view(),
            self.value_weight(p[0]).t(),
            false,
        );
        dv.recycle();
        dx
    }

    /// v̇ = x Ẇ_in,v (+ ḃ_in,v) + ẋ W_in,v; ẏ = v Ẇ_out (+ ḃ_out) + v̇ W_out.
    /// With probes wanted, q|k|v and its tangent are recomputed in full for
    /// the score probe.
    fn tangent_single(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        rec: &Record,
        probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        let d = self.dim;
        let (x, v) = (&rec.mats[0], &rec.mats[1]);
        if probes.wants(ProbeKind::AttentionScores) {
            let mut qkv = Mat::scratch(x.rows, 3 * d, Layout::Rows);
            affine_into(&mut qkv, x.view(), self.in_weight(p), self.in_bias(p));
            let mut dqkv = Mat::scratch(x.rows, 3 * d, Layout::Rows);
            affine_into(&mut dqkv, x.view(), self.in_weight(dp), self.in_bias(dp));
            if let Some(dx) = &dx {
                matmul(&mut dqkv.data, 3 * d, dx.view(), self.in_weight(p), true);
            }
            probes.push_with(|| self.score_probe(&qkv, &dqkv));
            qkv.recycle();
            dqkv.recycle();
        }
        let mut dv = Mat::scratch(x.rows, d, Layout::Rows);
        let bias_v = self.in_bias(dp).map(|b| &b[2 * d..]);
        affine_into(&mut dv, x.view(), self.value_weight(dp[0]), bias_v);
        if let Some(dx) = dx {
            matmul(&mut dv.data, d, dx.view(), self.value_weight(p[0]), true);
            dx.recycle();
        }
        let mut dy = Mat::scratch(x.rows, d, Layout::Rows);
        affine_into(&mut dy, v.view(), self.out_weight(dp), self.out_bias(dp));
        matmul(&mut dy.data, d, dv.view(), self.out_weight(p), true);
        dv.recycle();
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
            // The transformers' shape (d_h = 8, T = 9): the fast path's
            // constant-size loops.
            Attention::new("tiny", 32, 4, 9, false, AttentionInit::Linear),
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
    fn the_single_token_fast_path_zeroes_the_q_k_gradients() {
        for bias in [false, true] {
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

    /// Largest |a − b| relative to the largest |b|.
    fn rel(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
        a.iter()
            .zip(b)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
            / scale
    }

    fn to_f32(v: &[f64]) -> Vec<f32> {
        v.iter().map(|&x| x as f32).collect()
    }

    fn to_f64(v: &[f32]) -> Vec<f64> {
        v.iter().map(|&x| x as f64).collect()
    }

    #[test]
    fn fast_path_matches_the_f64_layer_forward_backward_tangent_and_probe() {
        // The f64 dfdx layer (checked above against the naive loop, central
        // differences and its own reverse mode) is the reference for the f32
        // fast path: output, ∂θ and ∂x of L = Σ y ⊙ c, the tangent along
        // (v, ẋ) and the score probe (s, ṡ); in train and eval mode (the
        // layer has no mode-dependent behaviour, both must agree).
        let dev: Dev = Default::default();
        for layer in layers() {
            let model =
                Model::<f64>::new("attn", layer.dim, layer.dim, vec![Box::new(layer.clone())]);
            let mut state = model.init(4);
            state.params = perturbed(&state.params);
            let rows = 3 * layer.tokens;
            let p = split(&model, &state.params);
            let v = ParamVec::<f64>::random_unit(model.num_params(), 8);
            let dp = split(&model, &v);
            let x: Plain<f64> = dev.sample_normal_like(&(rows, layer.dim));
            let dx: Plain<f64> = dev.sample_normal_like(&(rows, layer.dim));
            let c: Plain<f64> = dev.sample_normal_like(&(rows, layer.dim));
            // Reference: output and gradients by reverse mode, tangent and probe.
            let mut cache = Cache::new();
            let xt = x.retaped::<OwnedTape<f64, Dev>>();
            let y = layer.fwd(&p, xt, &mut [], Mode::Eval, &mut cache);
            let y_ref = y.retaped::<NoneTape>().as_vec();
            let grads = (y * c.clone()).sum().backward();
            let g_ref: Vec<Vec<f64>> = p.iter().map(|t| grads.get(t).as_vec()).collect();
            let gx_ref = grads.get(&x).as_vec();
            cache.rewind();
            let mut probes_ref = Vec::new();
            let dy_ref = layer
                .tangent(
                    &p,
                    &dp,
                    Some(dx.clone()),
                    Mode::Eval,
                    &mut cache,
                    &mut probes_ref,
                )
                .as_vec();
            // Fast path in f32.
            let fast = Layer::<f32>::fast(&layer).expect("attention has a fast path");
            let theta: Vec<Vec<f32>> = p.iter().map(|t| to_f32(&t.as_vec())).collect();
            let dtheta: Vec<Vec<f32>> = dp.iter().map(|t| to_f32(&t.as_vec())).collect();
            let pf: Vec<&[f32]> = theta.iter().map(|v| v.as_slice()).collect();
            let dpf: Vec<&[f32]> = dtheta.iter().map(|v| v.as_slice()).collect();
            let mat = |t: &Plain<f64>| Mat::new(rows, layer.dim, to_f32(&t.as_vec()));
            for mode in [Mode::Train, Mode::Eval] {
                let mut rec = Record::default();
                let y = fast.forward(&pf, mat(&x), &mut [], mode, &mut rec);
                let mut probes = crate::fast::FastProbes::new(true);
                let dy = fast.tangent(&pf, &dpf, Some(mat(&dx)), mode, &rec, &mut probes);
                let mut g: Vec<Vec<f32>> = theta.iter().map(|t| vec![f32::NAN; t.len()]).collect();
                let mut gm: Vec<&mut [f32]> = g.iter_mut().map(|v| v.as_mut_slice()).collect();
                let gx = fast.backward(&pf, mat(&c), &rec, &mut gm, true);
                let name = &layer.name;
                let e = rel(&to_f64(&y.data), &y_ref);
                assert!(e < 1e-5, "{name} {mode:?}: output relative error {e:e}");
                for (i, (g, r)) in g.iter().zip(&g_ref).enumerate() {
                    let e = rel(&to_f64(g), r);
                    assert!(
                        e < 1e-5,
                        "{name} {mode:?}: gradient {i} relative error {e:e}"
                    );
                }
                let e = rel(&to_f64(&gx.data), &gx_ref);
                assert!(
                    e < 1e-5,
                    "{name} {mode:?}: input gradient relative error {e:e}"
                );
                let e = rel(&to_f64(&dy.data), &dy_ref);
                assert!(e < 1e-5, "{name} {mode:?}: tangent relative error {e:e}");
                assert_eq!(probes.list.len(), 1);
                let (got, want) = (&probes.list[0], &probes_ref[0]);
                assert_eq!((got.kind, &got.layer), (want.kind, &want.layer));
                assert_eq!((got.value.rows, got.value.cols), want.value.shape());
                assert_eq!((got.tangent.rows, got.tangent.cols), want.tangent.shape());
                let e = rel(&to_f64(&got.value.data), &want.value.as_vec());
                assert!(
                    e < 1e-5,
                    "{name} {mode:?}: score probe relative error {e:e}"
                );
                let e = rel(&to_f64(&got.tangent.data), &want.tangent.as_vec());
                assert!(
                    e < 1e-5,
                    "{name} {mode:?}: score tangent relative error {e:e}"
                );
                // Without probes wanted, none is reported and ẏ is the same.
                let mut none = crate::fast::FastProbes::new(false);
                let dy2 = fast.tangent(&pf, &dpf, Some(mat(&dx)), mode, &rec, &mut none);
                assert!(none.list.is_empty());
                assert_eq!(dy2.data, dy.data);
                // A zero input tangent (the model input) equals ẋ = 0.
                let zero = Mat::zeros(rows, layer.dim, Layout::Rows);
                let a = fast.tangent(&pf, &dpf, None, mode, &rec, &mut none);
                let b = fast.tangent(&pf, &dpf, Some(zero), mode, &rec, &mut none);
                assert_eq!(a.data, b.data);
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

    /// Values in [−2, 2) from a seed (xorshift).
    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    /// Every output of the four head kernels for `n` samples of the
    /// transformers' shape (d_h = 8, T = 9) with `heads` heads: (probs, o) forward, ȯ tangent, ∂[q k v]
    /// backward, (s, ṡ) score probe. `how`: None the per-sample reference,
    /// Some(None) the dispatched lane path, Some(Some(isa)) the lane
    /// kernels of that instruction set alone (full blocks only; the tail's
    /// outputs stay NaN). ∂o is zero on some rows (`pattern` 0: none, 1:
    /// every token but the first, as after a CLS pool, 2: per sample, with
    /// −0 too) to cover the backward's skip of queries without gradient.
    fn head_kernels(
        heads: usize,
        n: usize,
        pattern: usize,
        how: Option<Option<u8>>,
    ) -> [Vec<f32>; 6] {
        let hs =
            Attention::new("tiny", 8 * heads, heads, 9, false, AttentionInit::Linear).head_shape();
        assert!(hs.fixed());
        let (t, d, heads) = (hs.t, hs.d, hs.heads);
        let qkv = random(n * t * 3 * d, 1 + n as u64);
        let dqkv = random(n * t * 3 * d, 2 + n as u64);
        let mut dout = random(n * t * d, 3 + n as u64);
        for (r, row) in dout.chunks_exact_mut(d).enumerate() {
            let (s, i) = (r / t, r % t);
            for (h, seg) in row.chunks_exact_mut(hs.dh).enumerate() {
                let zero = match pattern {
                    0 => false,
                    1 => i != 0,
                    _ => (s + i + h) % 3 == 0 || (s % 5 == 1 && i > 0),
                };
                if zero {
                    seg.fill(if (s + h) % 2 == 0 { 0.0 } else { -0.0 });
                }
            }
        }
        // Backward and tangent read the reference forward's softmax weights.
        let mut probs_ref = vec![f32::NAN; n * heads * t * t];
        let mut o_ref = vec![f32::NAN; n * t * d];
        heads_forward::<8, 9>(hs, &qkv, &mut probs_ref, &mut o_ref, false);
        let mut out: [Vec<f32>; 6] = [
            vec![f32::NAN; n * heads * t * t],
            vec![f32::NAN; n * t * d],
            vec![f32::NAN; n * t * d],
            vec![f32::NAN; n * t * 3 * d],
            vec![f32::NAN; n * heads * t * t],
            vec![f32::NAN; n * heads * t * t],
        ];
        let [probs, o, dot, dqkv_b, s, ds] = &mut out;
        match how {
            None | Some(None) => {
                let lanes = how.is_some();
                heads_forward::<8, 9>(hs, &qkv, probs, o, lanes);
                if lanes {
                    // The lane path's ȯ is the same with and without the probe.
                    let mut alone = vec![f32::NAN; n * t * d];
                    heads_tangent::<8, 9>(hs, &qkv, &dqkv, &probs_ref, &mut alone, None, true);
                    heads_tangent::<8, 9>(
                        hs,
                        &qkv,
                        &dqkv,
                        &probs_ref,
                        dot,
                        Some((&mut s[..], &mut ds[..])),
                        true,
                    );
                    assert!(alone
                        .iter()
                        .zip(dot.iter())
                        .all(|(a, b)| a.to_bits() == b.to_bits()));
                } else {
                    heads_tangent::<8, 9>(hs, &qkv, &dqkv, &probs_ref, dot, None, false);
                    score_probe_values::<8, 9>(hs, &qkv, &dqkv, s, ds);
                }
                heads_backward::<8, 9>(hs, &qkv, &probs_ref, &dout, dqkv_b, lanes);
            }
            Some(Some(isa)) => {
                // SAFETY: the caller checked that the CPU has `isa`.
                unsafe {
                    macro_rules! all {
                        ($isa:literal) => {{
                            let done = lanes::forward::<8, 9, $isa>(hs, &qkv, probs, o);
                            let probe = Some((&mut s[..], &mut ds[..]));
                            lanes::tangent::<8, 9, $isa>(hs, &qkv, &dqkv, &probs_ref, dot, probe);
                            lanes::backward::<8, 9, $isa>(hs, &qkv, &probs_ref, &dout, dqkv_b);
                            done
                        }};
                    }
                    let done = match isa {
                        1 => all!(1),
                        _ => all!(2),
                    };
                    assert_eq!(done, n / lanes::L * lanes::L);
                }
            }
        }
        out
    }

    #[test]
    fn lane_kernels_are_bitwise_the_per_sample_loops() {
        // The lane kernels of each instruction set the CPU has (none
        // without AVX2: the per-sample loops then do everything).
        let mut isas = vec![];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") {
                isas.push(1);
            }
            if is_x86_feature_detected!("avx512f") {
                isas.push(2);
            }
        }
        let names = [
            "probs",
            "o",
            "tangent",
            "backward",
            "scores",
            "score tangents",
        ];
        // 4 heads: the lane kernels' constant head count; 2: read at run time.
        for (heads, n) in [4, 2]
            .into_iter()
            .flat_map(|h| [1, 15, 16, 17, 37, 50].map(|n| (h, n)))
        {
            for pattern in 0..3 {
                let want = head_kernels(heads, n, pattern, None);
                for w in &want {
                    assert!(
                        w.iter().all(|v| v.is_finite()),
                        "reference writes everything"
                    );
                }
                let mut runs = vec![(None, head_kernels(heads, n, pattern, Some(None)))];
                for &isa in &isas {
                    runs.push((Some(isa), head_kernels(heads, n, pattern, Some(Some(isa)))));
                }
                for (isa, got) in runs {
                    // The lane kernels alone cover the full blocks only.
                    let samples = if isa.is_some() {
                        n / lanes::L * lanes::L
                    } else {
                        n
                    };
                    for ((g, w), name) in got.iter().zip(&want).zip(names) {
                        let len = w.len() / n * samples;
                        let first = g[..len]
                            .iter()
                            .zip(&w[..len])
                            .position(|(a, b)| a.to_bits() != b.to_bits());
                        if let Some(at) = first {
                            panic!(
                                "heads {heads} n {n} pattern {pattern} isa {isa:?}: {name} differs at {at}: \
                                 {:e} vs {:e}",
                                g[at], w[at]
                            );
                        }
                    }
                }
            }
        }
    }
}
