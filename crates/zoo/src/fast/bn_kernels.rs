//! BatchNorm's fast kernels on padded sequences ([`super::Layout::PaddedSeq`]) (batch moments,
//! statistics, backward constants, per-channel sums), shared by the
//! `BatchNorm` layer's fast path and the fused Conv → BatchNorm → ReLU
//! block (`fused`): described by plain shapes and constants
//! ([`BnKernel`]), so that `fast` depends on no layer type.

use super::{interiors, Mat};

/// BatchNorm over `channels` channels of `length` positions: ε and the
/// momentum of the running statistics (see the `BatchNorm` layer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BnKernel {
    /// Channels C.
    pub channels: usize,
    /// Positions per channel and sample (L).
    pub length: usize,
    /// ε added to the variance.
    pub eps: f64,
    /// Weight of the batch statistics in the running-statistics update.
    pub momentum: f64,
}

impl BnKernel {
    /// Add the per-channel sums of d and d² over the interior rows of the
    /// padded sequences `x` (whole samples), d = x − shift, to `s1`, `s2`
    /// (f64). Shifting by a sample of the data (the first row) keeps the
    /// one-pass variance free of cancellation when |μ| ≫ σ.
    pub fn add_moments(&self, x: &[f32], shift: &[f32], s1: &mut [f64], s2: &mut [f64]) {
        crate::fast::with_const_channels!(self.channels, |c| {
            self.add_moments_for(c, x, shift, s1, s2)
        });
    }

    /// [`Self::add_moments`] with the channel count `c` (= `self.channels`)
    /// given, to be inlined with a constant.
    #[inline(always)]
    pub fn add_moments_for(
        &self,
        c: usize,
        x: &[f32],
        shift: &[f32],
        s1: &mut [f64],
        s2: &mut [f64],
    ) {
        debug_assert_eq!(c, self.channels);
        channel_sums(
            x,
            x,
            x,
            c,
            self.length,
            shift,
            shift,
            s1,
            s2,
            |v, _, _, k, _| {
                let d = v - k;
                (d, d * d)
            },
        );
    }

    /// Train mode: μ, 1/σ (biased variance) from the shifted sums of
    /// [`Self::add_moments`] over `count` values, and the weight 1/N of the
    /// statistics' response; moves the running statistics in `state`.
    pub fn train_statistics(
        &self,
        s1: &[f64],
        s2: &[f64],
        shift: &[f32],
        count: usize,
        state: &mut [f32],
    ) -> (Vec<f32>, Vec<f32>, f32) {
        let c = self.channels;
        assert!(
            count > 1,
            "batchnorm in train mode needs more than one value per channel"
        );
        let n = count as f64;
        let mean: Vec<f64> = s1
            .iter()
            .zip(shift)
            .map(|(a, &k)| k as f64 + a / n)
            .collect();
        let var: Vec<f64> = s1
            .iter()
            .zip(s2)
            .map(|(a, b)| (b / n - (a / n) * (a / n)).max(0.0))
            .collect();
        let unbiased = n / (n - 1.0);
        let (m, keep) = (self.momentum, 1.0 - self.momentum);
        for ch in 0..c {
            state[ch] = (keep * state[ch] as f64 + m * mean[ch]) as f32;
            state[c + ch] = (keep * state[c + ch] as f64 + m * var[ch] * unbiased) as f32;
        }
        (
            mean.iter().map(|&m| m as f32).collect(),
            var.iter()
                .map(|v| (1.0 / (v + self.eps).sqrt()) as f32)
                .collect(),
            (1.0 / n) as f32,
        )
    }

    /// Eval mode: the running μ and 1/σ, and weight 0.
    pub fn eval_statistics(&self, state: &[f32]) -> (Vec<f32>, Vec<f32>, f32) {
        let c = self.channels;
        (
            state[..c].to_vec(),
            state[c..2 * c]
                .iter()
                .map(|&v| (1.0 / (v as f64 + self.eps).sqrt()) as f32)
                .collect(),
            0.0,
        )
    }

    /// Per-channel Σ d and Σ d·x̂ over the interior rows (f64).
    pub fn sums_with_xhat(
        &self,
        d: &Mat,
        x: &Mat,
        mean: &[f32],
        inv: &[f32],
    ) -> (Vec<f64>, Vec<f64>) {
        let c = self.channels;
        let (mut sd, mut sdx) = (vec![0.0; c], vec![0.0; c]);
        channel_sums(
            &d.data,
            &x.data,
            &x.data,
            c,
            self.length,
            mean,
            inv,
            &mut sd,
            &mut sdx,
            |dv, xv, _, m, s| {
                let xh = (xv - m) * s;
                (dv, dv * xh)
            },
        );
        (sd, sdx)
    }
}

/// Backward constants per channel from Σ∂ẑ (`sd`), Σ∂ẑ·x̂ (`sdx`) and the
/// statistics' weight w: ∂x = a·(∂ẑ − u1 − x̂·u2) with a = γ/σ, u1 = w·Σ∂ẑ,
/// u2 = w·Σ∂ẑ x̂.
pub fn backward_constants(
    gain: &[f32],
    inv: &[f32],
    sd: &[f64],
    sdx: &[f64],
    weight: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let w = weight as f64;
    (
        gain.iter().zip(inv).map(|(g, s)| g * s).collect(),
        sd.iter().map(|v| (v * w) as f32).collect(),
        sdx.iter().map(|v| (v * w) as f32).collect(),
    )
}

/// Add per-channel sums (Σ f(u, v, w, p, q).0, Σ f(..).1) over the
/// interior rows of the padded sequences `u`, `v`, `w` (`c` channels, whole
/// samples, `w` of any element type: a mask) to `s1`, `s2`, with the
/// channel's constants p and q.
///
/// Accumulation is in f64, fed by f32 partial sums of `PARTIAL_ROWS`
/// rows at a time (f64 arithmetic is 2 lanes wide in SSE2, the partials
/// 4: this is 3× faster, and a partial's error is at most 8 roundings of
/// its terms). The accumulators of 8 channels at a time stay in registers
/// over one sample's rows (which stay in L1).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn channel_sums<W: Copy>(
    u: &[f32],
    v: &[f32],
    w: &[W],
    c: usize,
    len: usize,
    p: &[f32],
    q: &[f32],
    s1: &mut [f64],
    s2: &mut [f64],
    f: impl Fn(f32, f32, W, f32, f32) -> (f32, f32),
) {
    const G: usize = 16;
    assert!(u.len() == v.len() && v.len() == w.len() && s1.len() == c && s2.len() == c);
    let grouped = c / G * G;
    let blocks = interiors(u, c, len)
        .zip(interiors(v, c, len))
        .zip(interiors(w, c, len));
    for ((ub, vb), wb) in blocks {
        for lo in (0..grouped).step_by(G) {
            let pg: &[f32; G] = p[lo..lo + G].try_into().unwrap();
            let qg: &[f32; G] = q[lo..lo + G].try_into().unwrap();
            let (mut a, mut b) = ([0.0f64; G], [0.0f64; G]);
            let span = PARTIAL_ROWS * c;
            let parts = ub.chunks(span).zip(vb.chunks(span)).zip(wb.chunks(span));
            for ((up, vp), wp) in parts {
                let (mut pa, mut pb) = ([0.0f32; G], [0.0f32; G]);
                let rows = up
                    .chunks_exact(c)
                    .zip(vp.chunks_exact(c))
                    .zip(wp.chunks_exact(c));
                for ((ur, vr), wr) in rows {
                    let ug: &[f32; G] = ur[lo..lo + G].try_into().unwrap();
                    let vg: &[f32; G] = vr[lo..lo + G].try_into().unwrap();
                    let wg: &[W; G] = wr[lo..lo + G].try_into().unwrap();
                    for j in 0..G {
                        let (x, y) = f(ug[j], vg[j], wg[j], pg[j], qg[j]);
                        pa[j] += x;
                        pb[j] += y;
                    }
                }
                for j in 0..G {
                    a[j] += pa[j] as f64;
                    b[j] += pb[j] as f64;
                }
            }
            for j in 0..G {
                s1[lo + j] += a[j];
                s2[lo + j] += b[j];
            }
        }
        for ch in grouped..c {
            let rows = ub
                .chunks_exact(c)
                .zip(vb.chunks_exact(c))
                .zip(wb.chunks_exact(c));
            for ((ur, vr), wr) in rows {
                let (x, y) = f(ur[ch], vr[ch], wr[ch], p[ch], q[ch]);
                s1[ch] += x as f64;
                s2[ch] += y as f64;
            }
        }
    }
}

/// Rows per f32 partial sum in [`channel_sums`].
const PARTIAL_ROWS: usize = 8;
