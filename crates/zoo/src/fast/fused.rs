//! Fused runs of fast layers: Conv → BatchNorm → ReLU (→ GlobalAvgPool)
//! as one set of passes.
//!
//! At cnn-bn's full batch every activation is 12 MB, far beyond L2, and
//! each elementwise pass costs about a millisecond. The fused block does
//! the layers' arithmetic, in the same order wherever it matters, with
//! fewer passes and no intermediate matrices:
//!
//! - forward: the convolution runs in chunks of whole samples
//!   ([`SeqConv::chunks`]) and BatchNorm's batch moments are summed from each
//!   chunk while it is in cache; then one pass normalises, applies the
//!   ReLU and writes its byte mask; with the pooling fused too, the ReLU's
//!   output is only summed per sample, never stored;
//! - backward: one pass sums Σ∂z and Σ∂z·x̂ through the ReLU mask (none
//!   when pooled: ∂a is then ∂y/L over a sample, and the forward kept the
//!   per-sample count of active positions and their Σx̂); then, chunk by
//!   chunk, BatchNorm's ∂y is formed in a chunk buffer and handed straight
//!   to the convolution's backward ([`ConvBackward`]).
//!
//! - tangent: the conv's tangent chunk by chunk, BatchNorm's Σẏ and Σẏ·x̂
//!   summed while each chunk is in cache; then one pass forms ż and masks
//!   it, or (pooled) the per-sample means come from sums and ẏ is never
//!   stored ([`ConvBnRelu::fused_tangent`]).
//!
//! Forward outputs, masks and running statistics are bit-identical to the
//! layers run one by one; gradients and tangents agree to rounding (sums
//! grouped differently). The record holds the layers' own records
//! (`inner`), as they would have written them; the layers' own tangents run
//! over them when the ReLU's kink probe is wanted.

use super::{
    backward_constants, channel_sums, interiors, interiors_mut, mask_buffer, padded_dims,
    with_const_channels, zero_pad_rows, BnKernel, ConvBackward, FastLayer, Fusible, Layout, Mat,
    Record, SeqConv,
};
use crate::Mode;
use std::ops::Range;

/// θ ranges of one layer's tensors.
type Ranges = Vec<Range<usize>>;

/// Replace every Conv → BatchNorm → ReLU run (matching shapes, and a
/// GlobalAvgPool after it if there is one), recognised by the layers'
/// [`FastLayer::fusion`] descriptors, by a [`ConvBnRelu`], merging the
/// layers' parameter and buffer ranges.
#[allow(clippy::type_complexity)]
pub(crate) fn fuse(
    layers: Vec<Box<dyn FastLayer>>,
    params: Vec<Ranges>,
    buffers: Vec<Range<usize>>,
) -> (Vec<Box<dyn FastLayer>>, Vec<Ranges>, Vec<Range<usize>>) {
    let n = layers.len();
    let descriptors: Vec<Option<Fusible>> = layers.iter().map(|l| l.fusion()).collect();
    let mut layers: Vec<Option<Box<dyn FastLayer>>> = layers.into_iter().map(Some).collect();
    let (mut out_layers, mut out_params, mut out_buffers) = (Vec::new(), Vec::new(), Vec::new());
    let mut i = 0;
    while i < n {
        match ConvBnRelu::recognise(&descriptors[i..(i + 4).min(n)]) {
            Some((conv, bn, pooled)) => {
                let k = 3 + pooled as usize;
                let contiguous = (i..i + k - 1).all(|j| buffers[j].end == buffers[j + 1].start);
                assert!(contiguous, "fused layers have adjacent buffers");
                out_params.push(params[i..i + k].concat());
                out_buffers.push(buffers[i].start..buffers[i + k - 1].end);
                let parts = layers[i..i + k]
                    .iter_mut()
                    .map(|l| l.take().expect("each layer is moved once"))
                    .collect();
                let block = ConvBnRelu {
                    conv,
                    bn,
                    pooled,
                    parts,
                };
                out_layers.push(Box::new(block) as Box<dyn FastLayer>);
                i += k;
            }
            None => {
                out_layers.push(layers[i].take().expect("each layer is moved once"));
                out_params.push(params[i].clone());
                out_buffers.push(buffers[i].clone());
                i += 1;
            }
        }
    }
    (out_layers, out_params, out_buffers)
}

/// Conv (1-D fast path) → BatchNorm → ReLU, optionally → GlobalAvgPool.
/// Parameters: the conv's weight and bias, then BatchNorm's gain and
/// shift; state: BatchNorm's.
pub(crate) struct ConvBnRelu {
    conv: SeqConv,
    bn: BnKernel,
    /// The pooling after the ReLU is fused too: then the ReLU's output is
    /// never stored, only its per-sample means (and ∂a is a broadcast of ∂y/L).
    pooled: bool,
    /// The layers themselves, in order: their output forms, and (for the
    /// ReLU's probe) the conv's and BatchNorm's tangents over the records
    /// the block writes for them.
    parts: Vec<Box<dyn FastLayer>>,
}

impl ConvBnRelu {
    /// The block's kernels, if `next` starts with a conv, a BatchNorm over
    /// its output channels and length, and a ReLU; `true` if a matching
    /// GlobalAvgPool follows them (fused too).
    fn recognise(next: &[Option<Fusible>]) -> Option<(SeqConv, BnKernel, bool)> {
        let at = |i: usize| next.get(i).copied().flatten();
        let (Some(Fusible::SeqConv(conv)), Some(Fusible::BatchNorm(bn)), Some(Fusible::Relu)) =
            (at(0), at(1), at(2))
        else {
            return None;
        };
        if bn.channels != conv.c_out || bn.length != conv.len {
            return None;
        }
        let pooled = matches!(
            at(3),
            Some(Fusible::GlobalAvgPool { channels, length })
                if channels == conv.c_out && length == conv.len
        );
        Some((conv, bn, pooled))
    }
}

impl FastLayer for ConvBnRelu {
    fn output_form(&self, input: crate::fast::Form) -> Result<crate::fast::Form, String> {
        self.parts
            .iter()
            .try_fold(input, |form, layer| layer.output_form(form))
    }

    fn forward(
        &self,
        p: &[&[f32]],
        x: Mat,
        state: &mut [f32],
        mode: Mode,
        rec: &mut Record,
    ) -> Mat {
        forward_vectorized(self, p, x, state, mode, rec)
    }

    fn backward(
        &self,
        p: &[&[f32]],
        da: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        backward_vectorized(self, p, da, rec, grads, need_dx)
    }

    /// The fused tangent ([`ConvBnRelu::fused_tangent`]); with probes
    /// wanted, the ReLU's kink probe too, from the conv's and BatchNorm's
    /// own tangents over their records.
    fn tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        mode: Mode,
        rec: &Record,
        probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        if probes.wants(crate::ProbeKind::Kink) {
            let dx = dx.as_ref().map(Mat::pooled_copy);
            self.push_relu_probe(p, dp, dx, mode, rec, probes);
        }
        tangent_vectorized(self, p, dp, dx, mode, rec)
    }
}

impl ConvBnRelu {
    #[inline(always)]
    fn forward_impl(
        &self,
        p: &[&[f32]],
        x: Mat,
        state: &mut [f32],
        mode: Mode,
        rec: &mut Record,
    ) -> Mat {
        let (conv, bn) = (&self.conv, &self.bn);
        let (c, len) = (conv.c_out, conv.len);
        let (x, layout) = conv.fast_input(x);
        let (samples, _) = padded_dims(&x, conv.c_in, "conv-bn-relu");
        let w = conv.permuted(p[0]);
        // Pass 1: the convolution chunk by chunk; in train mode the batch
        // moments of each chunk while it is in cache, shifted by the first
        // row as BatchNorm's own forward does.
        let mut y = Mat::scratch(x.rows, c, x.layout);
        let mut shift: Vec<f32> = Vec::new();
        let (mut s1, mut s2) = (vec![0.0; c], vec![0.0; c]);
        for r in conv.chunks(x.rows) {
            let yc = &mut y.data[r.start * c..r.end * c];
            conv.conv_chunk(yc, &[(&x, &w)], p[1], r);
            if mode == Mode::Train {
                if shift.is_empty() {
                    shift = yc[c..2 * c].to_vec();
                }
                let (s1, s2) = (&mut s1, &mut s2);
                with_const_channels!(c, |c| bn.add_moments_for(c, yc, &shift, s1, s2));
            }
        }
        let (mean, inv, weight) = match mode {
            Mode::Train => bn.train_statistics(&s1, &s2, &shift, samples * len, state),
            Mode::Eval => bn.eval_statistics(state),
        };
        // Pass 2: z = (y − μ)/σ·γ + β, a = max(z, 0), mask 1[z > 0]; a is
        // stored, or (pooled) summed per sample as GlobalAvgPool does.
        let mut mask = mask_buffer(x.rows * c);
        zero_pad_rows(&mut mask, c, len);
        let consts = [&mean[..], &inv[..], p[2], p[3]];
        let out = match self.pooled {
            false => {
                let mut a = Mat::scratch(x.rows, c, x.layout);
                zero_pad_rows(&mut a.data, c, len);
                with_const_channels!(c, |c| {
                    bn_relu_forward_rows(&y.data, &mut mask, &mut a.data, c, len, consts)
                });
                a
            }
            true => {
                let mut pooled = Mat::zeros(samples, c, Layout::Rows);
                let mut active = vec![0.0f32; samples * 2 * c];
                with_const_channels!(c, |c| {
                    bn_relu_pool_rows(
                        &y.data,
                        &mut mask,
                        &mut pooled.data,
                        &mut active,
                        c,
                        len,
                        consts,
                    )
                });
                rec.vecs.push(active);
                pooled
            }
        };
        // The layers' records, as they would have written them.
        let conv_rec = Record {
            mats: vec![x, Mat::zeros(0, 0, layout)],
            ..Record::default()
        };
        let relu_rec = Record {
            mats: vec![Mat::zeros(y.rows, 0, y.layout)],
            masks: vec![mask],
            ..Record::default()
        };
        let pool_rec = Record {
            mats: vec![Mat::zeros(samples, 0, y.layout)],
            ..Record::default()
        };
        let y_layout = y.layout;
        let bn_rec = Record {
            mats: vec![y, Mat::zeros(0, 0, y_layout)],
            vecs: vec![mean, inv, vec![weight]],
            ..Record::default()
        };
        rec.inner = vec![conv_rec, bn_rec, relu_rec];
        if self.pooled {
            rec.inner.push(pool_rec);
        }
        out
    }

    #[inline(always)]
    fn backward_impl(
        &self,
        p: &[&[f32]],
        da: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        let (conv, c, len) = (&self.conv, self.conv.c_out, self.conv.len);
        let (conv_rec, bn_rec, relu_rec) = (&rec.inner[0], &rec.inner[1], &rec.inner[2]);
        let y = &bn_rec.mats[0];
        let (mean, inv, weight) = (&bn_rec.vecs[0], &bn_rec.vecs[1], bn_rec.vecs[2][0]);
        let mask = &relu_rec.masks[0];
        let (samples, _) = padded_dims(y, c, "conv-bn-relu backward");
        match self.pooled {
            false => assert_eq!(padded_dims(&da, c, "conv-bn-relu backward").0, samples),
            true => assert_eq!((da.rows, da.cols, da.layout), (samples, c, Layout::Rows)),
        }
        let longest = conv.chunks(y.rows).map(|r| r.len()).max().unwrap_or(0);
        let mut buf = super::scratch(longest * c);
        // Pass 1: Σ∂z and Σ∂z·x̂ with ∂z = ∂a·1[z > 0]: ∂β and ∂γ. Pooled,
        // ∂a is ∂y/len over a sample: the forward's per-sample counts and
        // sums of x̂ over the active positions give them at once.
        let (mut sd, mut sdx) = (vec![0.0; c], vec![0.0; c]);
        if self.pooled {
            let scale = 1.0 / len as f32;
            for (gr, act) in da.data.chunks_exact(c).zip(rec.vecs[0].chunks_exact(2 * c)) {
                let (count, sum_xh) = act.split_at(c);
                for ch in 0..c {
                    let d = gr[ch] * scale;
                    sd[ch] += (d * count[ch]) as f64;
                    sdx[ch] += (d * sum_xh[ch]) as f64;
                }
            }
        } else {
            for r in conv.chunks(y.rows) {
                let (lo, hi) = (r.start * c, r.end * c);
                let (dac, yc, mc) = (&da.data[lo..hi], &y.data[lo..hi], &mask[lo..hi]);
                with_const_channels!(c, |c| {
                    masked_sums(dac, yc, mc, c, len, mean, inv, &mut sd, &mut sdx)
                });
            }
        }
        for (g, v) in grads[2].iter_mut().zip(&sdx) {
            *g = *v as f32;
        }
        for (g, v) in grads[3].iter_mut().zip(&sd) {
            *g = *v as f32;
        }
        let (scale, u1, u2) = backward_constants(p[2], inv, &sd, &sdx, weight);
        // Pass 2, chunk by chunk: ∂y = γ/σ·(∂z − u1 − x̂·u2) into a chunk
        // buffer (pad rows are zeroed by the conv), then the conv's backward.
        let mut back = ConvBackward::new(conv, p[0], conv_rec, need_dx);
        // Pooled: ∂a = ∂y/len, one row per sample (GlobalAvgPool's ∂x values).
        let per_sample: Option<Vec<f32>> = self.pooled.then(|| {
            let scale = 1.0 / len as f32;
            da.data.iter().map(|&d| d * scale).collect()
        });
        for r in conv.chunks(y.rows) {
            let (lo, hi) = (r.start * c, r.end * c);
            let dac = match &per_sample {
                Some(rows) => &rows[r.start / (len + 2) * c..r.end / (len + 2) * c],
                None => &da.data[lo..hi],
            };
            let dyc = &mut buf[..r.len() * c];
            let consts = [&mean[..], &inv[..], &scale[..], &u1[..], &u2[..]];
            let (yc, mc, broadcast) = (&y.data[lo..hi], &mask[lo..hi], per_sample.is_some());
            with_const_channels!(c, |c| {
                bn_relu_backward_rows(dyc, dac, broadcast, yc, mc, c, len, consts)
            });
            back.chunk(r, dyc);
        }
        super::recycle(buf);
        da.recycle();
        back.finish(&mut grads[..2])
    }

    /// The ReLU's Kink probe: its input z (BatchNorm's output, which the
    /// block never stores) recomputed from the recorded conv output and
    /// statistics exactly as the forward computed it, and ż from the conv's
    /// and BatchNorm's tangents.
    fn push_relu_probe(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        mode: Mode,
        rec: &Record,
        probes: &mut crate::fast::FastProbes,
    ) {
        let parts = &self.parts;
        let h = parts[0].tangent(&p[..2], &dp[..2], dx, mode, &rec.inner[0], probes);
        let h = parts[1].tangent(&p[2..], &dp[2..], Some(h), mode, &rec.inner[1], probes);
        probes.push_with(|| {
            let bn_rec = &rec.inner[1];
            let (y, mean, inv) = (&bn_rec.mats[0], &bn_rec.vecs[0], &bn_rec.vecs[1]);
            let (c, len) = (self.conv.c_out, self.conv.len);
            let mut z = Mat::scratch(y.rows, c, y.layout);
            zero_pad_rows(&mut z.data, c, len);
            let (gain, beta) = (p[2], p[3]);
            for (zb, yb) in interiors_mut(&mut z.data, c, len).zip(interiors(&y.data, c, len)) {
                for (zr, yr) in zb.chunks_exact_mut(c).zip(yb.chunks_exact(c)) {
                    let lanes = zr.iter_mut().zip(yr).zip(mean.iter().zip(inv));
                    for (((zv, &yv), (&m, &s)), (&g, &b)) in lanes.zip(gain.iter().zip(beta)) {
                        *zv = (yv - m) * s * g + b;
                    }
                }
            }
            let value = super::rows_copy(&z);
            z.recycle();
            super::FastProbe {
                kind: crate::ProbeKind::Kink,
                layer: "relu".into(),
                value,
                tangent: super::rows_copy(&h),
            }
        });
        h.recycle();
    }

    /// The layers' tangents as one set of passes. Pass 1 runs the
    /// convolution's tangent ẏ = conv(x, Ẇ) + conv(ẋ, W) + ḃ chunk by chunk
    /// and, while a chunk is in cache, sums BatchNorm's Σẏ and Σẏ·x̂ per
    /// channel (train mode) and, pooled, Σẏ over each sample's active
    /// positions (1[z > 0]). Then, unpooled, pass 2 forms BatchNorm's
    /// ż = γ(ẏ − u1 − x̂·u2)/σ + γ̇x̂ + β̇ (u1 = Σẏ/N, u2 = Σẏx̂/N; zero in eval
    /// mode) and masks it by the ReLU. Pooled, no second pass: the mean of
    /// the masked ż over a sample's L positions is linear in the sums,
    /// (γ/σ·(Σ_act ẏ − n·u1 − X·u2) + γ̇·X + β̇·n)/L with n active positions
    /// and X = Σ_act x̂ (both kept by the forward), so ẏ is never stored.
    #[inline(always)]
    fn fused_tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        mode: Mode,
        rec: &Record,
    ) -> Mat {
        let conv = &self.conv;
        let (c, len) = (conv.c_out, conv.len);
        let x = &rec.inner[0].mats[0];
        let bn_rec = &rec.inner[1];
        let (y, mean, inv, weight) = (
            &bn_rec.mats[0],
            &bn_rec.vecs[0],
            &bn_rec.vecs[1],
            bn_rec.vecs[2][0],
        );
        assert_eq!(
            mode == Mode::Train,
            weight > 0.0,
            "conv-bn-relu: tangent in {mode:?} mode over a forward of the other mode"
        );
        let mask = &rec.inner[2].masks[0];
        let dx = dx.map(|d| conv.fast_input(d).0);
        let (dw, w) = (conv.permuted(dp[0]), conv.permuted(p[0]));
        let mut terms: Vec<(&Mat, &[f32])> = vec![(x, &dw)];
        if let Some(d) = &dx {
            assert_eq!(
                d.layout, x.layout,
                "conv-bn-relu tangent: input tangent shape"
            );
            terms.push((d, &w));
        }
        let samples = x.rows / (len + 2);
        // Pass 1: ẏ in full (unpooled) or one chunk at a time (pooled).
        let chunk_rows = conv.chunks(x.rows).next().map_or(0, |r| r.len());
        let mut dy = match self.pooled {
            false => Mat::scratch(x.rows, c, x.layout),
            true => Mat::scratch(chunk_rows, c, x.layout),
        };
        let mut active_dy = vec![0.0f32; if self.pooled { samples * c } else { 0 }];
        let (mut sd, mut sdx) = (vec![0.0f64; c], vec![0.0f64; c]);
        for r in conv.chunks(x.rows) {
            let rows = r.start * c..r.end * c;
            let out = match self.pooled {
                false => &mut dy.data[rows.clone()],
                true => &mut dy.data[..rows.len()],
            };
            conv.conv_chunk(out, &terms, dp[1], r.clone());
            if weight > 0.0 {
                let yc = &y.data[rows.clone()];
                channel_sums(
                    out,
                    yc,
                    yc,
                    c,
                    len,
                    mean,
                    inv,
                    &mut sd,
                    &mut sdx,
                    |dv, xv, _, m, s| {
                        let xh = (xv - m) * s;
                        (dv, dv * xh)
                    },
                );
            }
            if self.pooled {
                let first = r.start / (len + 2);
                let sums = active_dy[first * c..].chunks_exact_mut(c);
                let blocks = interiors(out, c, len).zip(interiors(&mask[rows], c, len));
                for (acc, (db, mb)) in sums.zip(blocks) {
                    for (dr, mr) in db.chunks_exact(c).zip(mb.chunks_exact(c)) {
                        for ((a, &d), &on) in acc.iter_mut().zip(dr).zip(mr) {
                            *a += if on != 0 { d } else { 0.0 };
                        }
                    }
                }
            }
        }
        if let Some(d) = dx {
            d.recycle();
        }
        let w64 = weight as f64;
        let u1: Vec<f32> = sd.iter().map(|v| (v * w64) as f32).collect();
        let u2: Vec<f32> = sdx.iter().map(|v| (v * w64) as f32).collect();
        if !self.pooled {
            // Pass 2.
            let consts = [&mean[..], &inv[..], p[2], &u1[..], &u2[..], dp[2], dp[3]];
            with_const_channels!(c, |c| {
                bn_relu_tangent_rows(&mut dy.data, &y.data, mask, c, len, consts)
            });
            return dy;
        }
        dy.recycle();
        // The pooled means from the sums (`active`: per sample, n then X).
        let active = &rec.vecs[0];
        let scale = 1.0 / len as f32;
        let mut pooled = Mat::scratch(samples, c, Layout::Rows);
        let rows = pooled
            .data
            .chunks_exact_mut(c)
            .zip(active_dy.chunks_exact(c))
            .zip(active.chunks_exact(2 * c));
        for ((out, sum_dy), act) in rows {
            let (count, sum_xh) = act.split_at(c);
            for ch in 0..c {
                let (n, xs) = (count[ch], sum_xh[ch]);
                let k = p[2][ch] * inv[ch];
                let dz =
                    k * (sum_dy[ch] - n * u1[ch] - xs * u2[ch]) + dp[2][ch] * xs + dp[3][ch] * n;
                out[ch] = dz * scale;
            }
        }
        pooled
    }
}

// The block's passes compiled for AVX-512 and AVX2 (chosen at run time;
// same values: no multiply-add is fused unless written), each inlining its
// `*_impl` so the elementwise loops run at the wider width.

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn forward_vectorized<'a>(
    block: &'a ConvBnRelu,
    p: &'a [&'a [f32]],
    x: Mat,
    state: &'a mut [f32],
    mode: Mode,
    rec: &'a mut Record,
) -> Mat {
    block.forward_impl(p, x, state, mode, rec)
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn backward_vectorized<'a, 'b, 'c>(
    block: &'a ConvBnRelu,
    p: &'a [&'a [f32]],
    da: Mat,
    rec: &'a Record,
    grads: &'b mut [&'c mut [f32]],
    need_dx: bool,
) -> Mat {
    block.backward_impl(p, da, rec, grads, need_dx)
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn tangent_vectorized<'a>(
    block: &'a ConvBnRelu,
    p: &'a [&'a [f32]],
    dp: &'a [&'a [f32]],
    dx: Option<Mat>,
    mode: Mode,
    rec: &'a Record,
) -> Mat {
    block.fused_tangent(p, dp, dx, mode, rec)
}

/// BatchNorm's tangent then the ReLU's, on the interior rows of padded rows
/// of whole samples, over ẏ in `dy`: ż = γ·(ẏ − u1 − x̂·u2)/σ + γ̇·x̂ + β̇
/// with x̂ = (y − μ)/σ, then ȧ = ż·1[mask] overwrites ẏ (`consts`: μ, 1/σ,
/// γ, u1, u2, γ̇, β̇ per channel).
#[inline(always)]
fn bn_relu_tangent_rows(
    dy: &mut [f32],
    y: &[f32],
    mask: &[u8],
    c: usize,
    len: usize,
    consts: [&[f32]; 7],
) {
    let [mean, inv, gain, u1, u2, dgain, dshift] = consts;
    let blocks = interiors_mut(dy, c, len)
        .zip(interiors(y, c, len))
        .zip(interiors(mask, c, len));
    for ((db, yb), mb) in blocks {
        let rows = db
            .chunks_exact_mut(c)
            .zip(yb.chunks_exact(c))
            .zip(mb.chunks_exact(c));
        for ((dr, yr), mr) in rows {
            let lanes = dr
                .iter_mut()
                .zip(yr.iter().zip(mr))
                .zip(mean.iter().zip(inv))
                .zip(gain.iter().zip(u1.iter().zip(u2)))
                .zip(dgain.iter().zip(dshift));
            for ((((dv, (&yv, &on)), (&m, &s)), (&g, (&v1, &v2))), (&dg, &dsh)) in lanes {
                let xh = (yv - m) * s;
                let dxh = (*dv - v1 - xh * v2) * s;
                let dz = g * dxh + dg * xh + dsh;
                *dv = if on != 0 { dz } else { 0.0 };
            }
        }
    }
}

/// Add per-channel Σ∂z and Σ∂z·x̂ with ∂z = ∂a·1[mask], x̂ = (y − μ)/σ,
/// over padded rows of whole samples, to `sd`, `sdx`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn masked_sums(
    da: &[f32],
    y: &[f32],
    mask: &[u8],
    c: usize,
    len: usize,
    mean: &[f32],
    inv: &[f32],
    sd: &mut [f64],
    sdx: &mut [f64],
) {
    channel_sums(
        da,
        y,
        mask,
        c,
        len,
        mean,
        inv,
        sd,
        sdx,
        |d, yv, on, m, s| {
            let dz = if on != 0 { d } else { 0.0 };
            let xh = (yv - m) * s;
            (dz, dz * xh)
        },
    );
}

/// ∂y = γ/σ·(∂z − u1 − x̂·u2) with ∂z = ∂a·1[mask], x̂ = (y − μ)/σ, on the
/// interior rows of padded rows of whole samples (`consts`: μ, 1/σ, γ/σ,
/// u1, u2 per channel; pad rows of `dy` are left alone). ∂a has the rows'
/// shape, or with `broadcast` one row per sample, the same at every position.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn bn_relu_backward_rows(
    dy: &mut [f32],
    da: &[f32],
    broadcast: bool,
    y: &[f32],
    mask: &[u8],
    c: usize,
    len: usize,
    consts: [&[f32]; 5],
) {
    let [mean, inv, scale, u1, u2] = consts;
    let blocks = interiors_mut(dy, c, len)
        .zip(interiors(y, c, len))
        .zip(interiors(mask, c, len));
    for (s, ((db, yb), mb)) in blocks.enumerate() {
        let rows = db
            .chunks_exact_mut(c)
            .zip(yb.chunks_exact(c))
            .zip(mb.chunks_exact(c));
        for (i, ((dr, yr), mr)) in rows.enumerate() {
            let ar = if broadcast {
                &da[s * c..(s + 1) * c]
            } else {
                &da[(s * (len + 2) + 1 + i) * c..][..c]
            };
            let lanes = dr
                .iter_mut()
                .zip(ar)
                .zip(yr.iter().zip(mr))
                .zip(mean.iter().zip(inv))
                .zip(scale.iter().zip(u1.iter().zip(u2)));
            for ((((dv, &d), (&yv, &on)), (&m, &s)), (&k, (&v1, &v2))) in lanes {
                let dz = if on != 0 { d } else { 0.0 };
                let xh = (yv - m) * s;
                *dv = k * (dz - v1 - xh * v2);
            }
        }
    }
}

/// z = (y − μ)/σ·γ + β, mask 1[z > 0] and a = max(z, 0) on the interior
/// rows of padded rows of whole samples (`consts`: μ, 1/σ, γ, β).
#[inline(always)]
fn bn_relu_forward_rows(
    y: &[f32],
    mask: &mut [u8],
    a: &mut [f32],
    c: usize,
    len: usize,
    consts: [&[f32]; 4],
) {
    let [mean, inv, gain, beta] = consts;
    let blocks = interiors_mut(a, c, len)
        .zip(interiors_mut(mask, c, len))
        .zip(interiors(y, c, len));
    for ((ab, mb), yb) in blocks {
        let rows = ab
            .chunks_exact_mut(c)
            .zip(mb.chunks_exact_mut(c))
            .zip(yb.chunks_exact(c));
        for ((ar, mr), yr) in rows {
            let lanes = ar
                .iter_mut()
                .zip(mr.iter_mut())
                .zip(yr)
                .zip(mean.iter().zip(inv))
                .zip(gain.iter().zip(beta));
            for ((((av, mv), &yv), (&m, &s)), (&g, &b)) in lanes {
                let z = (yv - m) * s * g + b;
                let on = z > 0.0;
                *mv = on as u8;
                *av = if on { z } else { 0.0 };
            }
        }
    }
}

/// As [`bn_relu_forward_rows`], but a is averaged over each sample's rows
/// into `pooled` (samples × c, zeros on entry) as GlobalAvgPool does: summed
/// row by row in f32, then scaled by 1/len. `active` (samples × 2c) gets,
/// per sample, Σ_l 1[z > 0] then Σ_l 1[z > 0]·x̂ per channel: with them the
/// backward's Σ∂z and Σ∂z·x̂ need no pass over the rows (∂a is ∂y/len at
/// every position of a sample).
#[inline(always)]
fn bn_relu_pool_rows(
    y: &[f32],
    mask: &mut [u8],
    pooled: &mut [f32],
    active: &mut [f32],
    c: usize,
    len: usize,
    consts: [&[f32]; 4],
) {
    let [mean, inv, gain, beta] = consts;
    let scale = 1.0 / len as f32;
    let blocks = pooled
        .chunks_exact_mut(c)
        .zip(active.chunks_exact_mut(2 * c))
        .zip(interiors_mut(mask, c, len))
        .zip(interiors(y, c, len));
    for (((pr, act), mb), yb) in blocks {
        let (count, sum_xh) = act.split_at_mut(c);
        count.fill(0.0);
        sum_xh.fill(0.0);
        for (mr, yr) in mb.chunks_exact_mut(c).zip(yb.chunks_exact(c)) {
            let lanes = pr
                .iter_mut()
                .zip(count.iter_mut().zip(sum_xh.iter_mut()))
                .zip(mr.iter_mut())
                .zip(yr)
                .zip(mean.iter().zip(inv))
                .zip(gain.iter().zip(beta));
            for (((((acc, (n, sx)), mv), &yv), (&m, &s)), (&g, &b)) in lanes {
                let xh = (yv - m) * s;
                let z = xh * g + b;
                let on = z > 0.0;
                *mv = on as u8;
                *acc += if on { z } else { 0.0 };
                *n += if on { 1.0 } else { 0.0 };
                *sx += if on { xh } else { 0.0 };
            }
        }
        pr.iter_mut().for_each(|a| *a *= scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cnn_bn_fuses_into_two_blocks_with_the_pool_in_the_second() {
        let model = crate::arch::find("cnn-bn")
            .unwrap()
            .build::<f32>(&Default::default());
        let layers: Vec<Box<dyn FastLayer>> = model
            .layers()
            .iter()
            .map(|l| l.fast().expect("cnn-bn runs fast"))
            .collect();
        // Tensors per layer and BatchNorm's 64 buffers, as the model lays them out.
        let tensors = [2, 2, 0, 2, 2, 0, 0, 2];
        let params: Vec<Ranges> = tensors.iter().map(|&t| vec![0..1; t]).collect();
        let ends = [0, 64, 64, 64, 128, 128, 128, 128];
        let buffers: Vec<Range<usize>> = (0..8)
            .map(|i| if i == 0 { 0..0 } else { ends[i - 1]..ends[i] })
            .collect();
        let (fused, params, buffers) = fuse(layers, params, buffers);
        assert_eq!(fused.len(), 3, "block, block + pool, linear");
        let counts: Vec<usize> = params.iter().map(|p| p.len()).collect();
        assert_eq!(counts, vec![4, 4, 2]);
        assert_eq!(buffers, vec![0..64, 64..128, 128..128]);
    }
}
