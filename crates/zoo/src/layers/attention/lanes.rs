//! The constant-size head loops ([`Fixed`](super::Fixed)) with SIMD lanes
//! across samples: each block of [`L`] samples is transposed into a
//! lane-minor layout (one vector of `L` values per entry, lane = sample),
//! every scalar operation of the per-sample loops becomes the same
//! operation on all lanes, and the results are transposed back. Per lane
//! the operations, their order and the order of every sum are exactly those
//! of [`Fixed`](super::Fixed) (no fused multiply-adds, no reassociation; the
//! exponential is [`exp_f32`](crate::fastmath::exp_f32) operation by
//! operation), so every output is bitwise the per-sample one. Only full
//! blocks are done here; the callers finish a tail of fewer than `L`
//! samples per sample.
//!
//! Written with explicit AVX-512F and AVX2 vectors ([`Simd`]): the same
//! loops over `[f32; 16]` arrays, left to the auto-vectoriser, came out
//! slower than the per-sample loops (gathers, half-width and scalar code),
//! and with `f32::max` for AVX-512F even wrong (see [`softmax`]). Without
//! AVX2 there is no lane path ([`isa`] 0): the per-sample loops do it all.
//!
//! The transposes move data only: an 8-column tile of 16 samples is an
//! in-register 8×8 transpose on each 256-bit half of eight AVX-512
//! registers (two 8×8 transposes with AVX2).

use super::HeadShape;

/// Samples per block (lanes): 16 f32 fill an AVX-512 register.
pub(super) const L: usize = 16;

/// The `ISA` constant of [`forward`] and the other kernels for a function
/// compiled with (or without) AVX-512F and AVX2: 2, 1, or 0 (no lane path).
pub(super) const fn isa(avx512f: bool, avx2: bool) -> u8 {
    if avx512f {
        2
    } else if avx2 {
        1
    } else {
        0
    }
}

/// The kernel `$f` of the instruction set `ISA` names, with the head
/// count a constant for the transformers' 4 heads (every stride and offset
/// then is one), read at run time otherwise; 0 samples done without AVX2
/// or when `DH` is not a multiple of 8.
macro_rules! dispatch {
    ($f:ident($shape:expr $(, $arg:expr)*)) => {
        match ISA {
            #[cfg(target_arch = "x86_64")]
            2 if DH % 8 == 0 && $shape.heads == 4 => {
                x86::avx512::$f::<DH, T, 4>($shape $(, $arg)*)
            }
            #[cfg(target_arch = "x86_64")]
            2 if DH % 8 == 0 => x86::avx512::$f::<DH, T, 0>($shape $(, $arg)*),
            #[cfg(target_arch = "x86_64")]
            1 if DH % 8 == 0 && $shape.heads == 4 => {
                x86::avx2::$f::<DH, T, 4>($shape $(, $arg)*)
            }
            #[cfg(target_arch = "x86_64")]
            1 if DH % 8 == 0 => x86::avx2::$f::<DH, T, 0>($shape $(, $arg)*),
            _ => 0,
        }
    };
}

/// [`Fixed::forward`](super::Fixed) of every full block of samples with
/// the instruction set `ISA` names; returns the samples done (0 when `ISA`
/// is 0 or `DH` is not a multiple of 8).
///
/// # Safety
/// The CPU has the instructions `ISA` names.
pub(super) unsafe fn forward<const DH: usize, const T: usize, const ISA: u8>(
    shape: HeadShape,
    qkv: &[f32],
    probs: &mut [f32],
    o: &mut [f32],
) -> usize {
    dispatch!(forward(shape, qkv, probs, o))
}

/// [`Fixed::backward`](super::Fixed) of every full block of samples (as
/// [`forward`]; writes every entry of their `dqkv`).
///
/// # Safety
/// The CPU has the instructions `ISA` names.
pub(super) unsafe fn backward<const DH: usize, const T: usize, const ISA: u8>(
    shape: HeadShape,
    qkv: &[f32],
    probs: &[f32],
    dout: &[f32],
    dqkv: &mut [f32],
) -> usize {
    dispatch!(backward(shape, qkv, probs, dout, dqkv))
}

/// [`Fixed::tangent`](super::Fixed) of every full block of samples (as
/// [`forward`]); with `probe`, also [`Fixed::score_probe`](super::Fixed)'s
/// s and ṡ (ṡ is the tangent's own, the same operations).
///
/// # Safety
/// The CPU has the instructions `ISA` names.
pub(super) unsafe fn tangent<const DH: usize, const T: usize, const ISA: u8>(
    shape: HeadShape,
    qkv: &[f32],
    dqkv: &[f32],
    probs: &[f32],
    dout: &mut [f32],
    probe: Option<(&mut [f32], &mut [f32])>,
) -> usize {
    dispatch!(tangent(shape, qkv, dqkv, probs, dout, probe))
}

/// `L` f32 lanes and the operations the kernels use, each lane exactly the
/// scalar IEEE operation. All methods are unsafe: the CPU must have the
/// implementation's instructions (the callers are `#[target_feature]`
/// functions, into which these inline).
trait Simd: Copy {
    /// A lane mask.
    type Mask: Copy;
    unsafe fn zero() -> Self;
    unsafe fn splat(x: f32) -> Self;
    unsafe fn from_array(a: &[f32; L]) -> Self;
    unsafe fn to_array(self) -> [f32; L];
    unsafe fn add(self, b: Self) -> Self;
    unsafe fn sub(self, b: Self) -> Self;
    unsafe fn mul(self, b: Self) -> Self;
    unsafe fn div(self, b: Self) -> Self;
    /// `if self > b { self } else { b }` per lane (MAXPS's rule).
    unsafe fn max_ps(self, b: Self) -> Self;
    /// `if self < b { self } else { b }` per lane (MINPS's rule).
    unsafe fn min_ps(self, b: Self) -> Self;
    /// `f32::from_bits((self.to_bits() & 0xff) << 23)` per lane.
    unsafe fn low_byte_exponent(self) -> Self;
    /// Lanes `!= 0.0` (true for NaN, as the scalar `!=`).
    unsafe fn nonzero(self) -> Self::Mask;
    unsafe fn or(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    unsafe fn all(m: Self::Mask) -> bool;
    unsafe fn any(m: Self::Mask) -> bool;
    /// `if m { a } else { b }` per lane.
    unsafe fn select(m: Self::Mask, a: Self, b: Self) -> Self;
    /// Hint that the cache line of `p` is read soon.
    unsafe fn prefetch(p: *const f32);
    /// tile[c] lane l = src[l·stride + c], c < 8.
    unsafe fn gather8(src: *const f32, stride: usize) -> [Self; 8];
    /// dst[l·stride + c] = tile[c] lane l, c < 8.
    unsafe fn scatter8(tile: &[Self; 8], dst: *mut f32, stride: usize);
}

/// [`exp_f32`](crate::fastmath::exp_f32) of every lane: the same
/// operations in the same order (the tests check every bit).
#[inline(always)]
unsafe fn exp<S: Simd>(x: S) -> S {
    // f32::clamp(x, −87, 88): x < −87 → −87, then x > 88 → 88 (NaN stays).
    let x = S::splat(-87.0).max_ps(x);
    let x = S::splat(88.0).min_ps(x);
    let big = S::splat(12_582_912.0);
    let n = x.mul(S::splat(std::f32::consts::LOG2_E)).add(big).sub(big);
    let r = x
        .sub(n.mul(S::splat(0.693_359_4)))
        .sub(n.mul(S::splat(-2.121_944_4e-4)));
    let m = |a: S, c: f32| a.mul(r).add(S::splat(c));
    let p = m(
        m(
            m(
                m(
                    S::splat(1.987_569_1e-4)
                        .mul(r)
                        .add(S::splat(1.398_199_9e-3)),
                    8.333_452e-3,
                ),
                4.166_579_6e-2,
            ),
            1.666_666_5e-1,
        ),
        5.000_000_1e-1,
    );
    let y = p.mul(r).mul(r).add(r).add(S::splat(1.0));
    y.mul(n.add(S::splat(12_583_039.0)).low_byte_exponent())
}

/// [`super::softmax`] of every lane's row.
///
/// The maximum is taken by MAXPS's comparison, not `f32::max`: rustc 1.95
/// (LLVM) compiled a loop over `[f32; 16]` rows with `f32::max` for
/// AVX-512F so that it skipped the ninth row (T = 9: the maximum of rows
/// 0..8 only; AVX2 and baseline builds were right), which changed the
/// softmax's last bits. The comparison gives the same value as `f32::max`
/// (a NaN score is passed over; only the sign of a zero maximum may
/// differ, which no exponential below sees: s − (±0) is s for s ≠ 0, and
/// exp_f32(±0) = 1).
#[inline(always)]
unsafe fn softmax<S: Simd, const T: usize>(s: &mut [S; T]) {
    let mut max = S::splat(f32::NEG_INFINITY);
    for &v in s.iter() {
        max = v.max_ps(max);
    }
    for v in s.iter_mut() {
        *v = exp(v.sub(max));
    }
    let mut sum = S::zero();
    for &v in s.iter() {
        sum = sum.add(v);
    }
    let inv = S::splat(1.0).div(sum);
    for v in s.iter_mut() {
        *v = v.mul(inv);
    }
}

/// m = the first DH (a multiple of 8) columns of each sample's block
/// (sample stride `stride`), lane-minor.
#[inline(always)]
unsafe fn gather_into<S: Simd, const DH: usize>(m: &mut [S; DH], src: &[f32], stride: usize) {
    assert!(src.len() >= (L - 1) * stride + DH, "lanes: gather");
    for (c, tile) in m.chunks_exact_mut(8).enumerate() {
        tile.copy_from_slice(&S::gather8(src.as_ptr().add(8 * c), stride));
    }
}

/// [`gather_into`] a new array.
#[inline(always)]
unsafe fn gather<S: Simd, const DH: usize>(src: &[f32], stride: usize) -> [S; DH] {
    let mut m = [S::zero(); DH];
    gather_into(&mut m, src, stride);
    m
}

/// The inverse of [`gather`].
#[inline(always)]
unsafe fn scatter<S: Simd, const DH: usize>(m: &[S; DH], dst: &mut [f32], stride: usize) {
    assert!(dst.len() >= (L - 1) * stride + DH, "lanes: scatter");
    for (c, tile) in m.chunks_exact(8).enumerate() {
        S::scatter8(
            tile.try_into().unwrap(),
            dst.as_mut_ptr().add(8 * c),
            stride,
        );
    }
}

/// [`gather`] of the first `dst.len()` columns (any number).
#[inline(always)]
unsafe fn gather_cols<S: Simd>(src: &[f32], stride: usize, dst: &mut [S]) {
    let n = dst.len();
    assert!(src.len() >= (L - 1) * stride + n, "lanes: gather");
    let full = n / 8 * 8;
    for (c0, tile) in (0..full).step_by(8).zip(dst.chunks_exact_mut(8)) {
        tile.copy_from_slice(&S::gather8(src.as_ptr().add(c0), stride));
    }
    for (c, v) in dst.iter_mut().enumerate().skip(full) {
        *v = S::from_array(&std::array::from_fn(|l| src[l * stride + c]));
    }
}

/// [`scatter`] of the first `src.len()` columns (any number).
#[inline(always)]
unsafe fn scatter_cols<S: Simd>(src: &[S], dst: &mut [f32], stride: usize) {
    let n = src.len();
    assert!(dst.len() >= (L - 1) * stride + n, "lanes: scatter");
    let full = n / 8 * 8;
    for (c0, tile) in (0..full).step_by(8).zip(src.chunks_exact(8)) {
        S::scatter8(tile.try_into().unwrap(), dst.as_mut_ptr().add(c0), stride);
    }
    for (c, v) in src.iter().enumerate().skip(full) {
        for (l, x) in v.to_array().into_iter().enumerate() {
            dst[l * stride + c] = x;
        }
    }
}

/// Prefetch part `h` of `heads` of block `b + 1` of `x` (blocks of `len`
/// values; the tail after the last full block counts as a block): the
/// lane kernels read 16 samples' rows at once, more streams than the
/// hardware prefetcher follows.
#[inline(always)]
unsafe fn prefetch_next<S: Simd>(x: &[f32], b: usize, len: usize, h: usize, heads: usize) {
    let start = ((b + 1) * len).min(x.len());
    let next = &x[start..x.len().min(start + len)];
    let part = next.len().div_ceil(heads);
    let (lo, hi) = ((h * part).min(next.len()), ((h + 1) * part).min(next.len()));
    for i in (lo..hi).step_by(16) {
        S::prefetch(next.as_ptr().add(i));
    }
}

/// m = columns `c..c + DH` of the T rows of each sample's q|k|v block.
#[inline(always)]
unsafe fn part<S: Simd, const DH: usize, const T: usize>(
    m: &mut [[S; DH]; T],
    qkv: &[f32],
    w: usize,
    c: usize,
) {
    for (j, r) in m.iter_mut().enumerate() {
        gather_into::<S, DH>(r, &qkv[j * w + c..], T * w);
    }
}

/// s_j = Σ_c a_c m[j][c], c in order from 0 ([`Fixed`]'s `dots`).
///
/// [`Fixed`]: super::Fixed
#[inline(always)]
unsafe fn dots<S: Simd, const DH: usize, const T: usize>(a: &[S; DH], m: &[[S; DH]; T]) -> [S; T] {
    let mut s = [S::zero(); T];
    for c in 0..DH {
        for j in 0..T {
            s[j] = s[j].add(a[c].mul(m[j][c]));
        }
    }
    s
}

/// out_c = Σ_j p_j m[j][c], j in order from 0 ([`Fixed`]'s `weighted`
/// into zeros).
///
/// [`Fixed`]: super::Fixed
#[inline(always)]
unsafe fn weighted<S: Simd, const DH: usize, const T: usize>(
    p: &[S; T],
    m: &[[S; DH]; T],
) -> [S; DH] {
    let mut out = [S::zero(); DH];
    for j in 0..T {
        for c in 0..DH {
            out[c] = out[c].add(p[j].mul(m[j][c]));
        }
    }
    out
}

/// Σ_j a_j b_j in order from 0 ([`Fixed`]'s `inner`).
///
/// [`Fixed`]: super::Fixed
#[inline(always)]
unsafe fn inner<S: Simd, const T: usize>(a: &[S; T], b: &[S; T]) -> S {
    let mut c = S::zero();
    for j in 0..T {
        c = c.add(a[j].mul(b[j]));
    }
    c
}

/// Rows `at..at + T` of a lane-minor matrix as T × T's row.
#[inline(always)]
fn row<S: Simd, const T: usize>(m: &[S], at: usize) -> &[S; T] {
    m[at..at + T].try_into().unwrap()
}

/// The lane kernels for one [`Simd`] type (see the wrappers above).
mod kernels {
    use super::*;

    #[inline(always)]
    pub(super) unsafe fn forward<S: Simd, const DH: usize, const T: usize, const HEADS: usize>(
        shape: HeadShape,
        qkv: &[f32],
        probs: &mut [f32],
        o: &mut [f32],
    ) -> usize {
        let heads = if HEADS > 0 { HEADS } else { shape.heads };
        let (d, scale) = (heads * DH, S::splat(shape.scale));
        let w = 3 * d;
        let (sq, so, sp) = (T * w, T * d, heads * T * T);
        let blocks = qkv.len() / sq / L;
        let mut pl = vec![S::zero(); sp];
        let [mut q, mut k, mut v] = [[[S::zero(); DH]; T]; 3];
        let all_qkv = qkv;
        for b in 0..blocks {
            let qkv = &qkv[b * L * sq..][..L * sq];
            let o = &mut o[b * L * so..][..L * so];
            for h in 0..heads {
                prefetch_next::<S>(all_qkv, b, L * sq, h, heads);
                let (qo, ko, vo) = (h * DH, d + h * DH, 2 * d + h * DH);
                part(&mut q, qkv, w, qo);
                part(&mut k, qkv, w, ko);
                part(&mut v, qkv, w, vo);
                for (i, qi) in q.iter().enumerate() {
                    let mut s = dots(qi, &k);
                    for x in s.iter_mut() {
                        *x = x.mul(scale);
                    }
                    softmax(&mut s);
                    pl[(h * T + i) * T..][..T].copy_from_slice(&s);
                    let out = weighted(&s, &v);
                    scatter::<S, DH>(&out, &mut o[i * d + h * DH..], so);
                }
            }
            scatter_cols(&pl, &mut probs[b * L * sp..][..L * sp], sp);
        }
        blocks * L
    }

    #[inline(always)]
    pub(super) unsafe fn backward<S: Simd, const DH: usize, const T: usize, const HEADS: usize>(
        shape: HeadShape,
        qkv: &[f32],
        probs: &[f32],
        dout: &[f32],
        dqkv: &mut [f32],
    ) -> usize {
        let heads = if HEADS > 0 { HEADS } else { shape.heads };
        let (d, scale) = (heads * DH, S::splat(shape.scale));
        let w = 3 * d;
        let (sq, so, sp) = (T * w, T * d, heads * T * T);
        let blocks = qkv.len() / sq / L;
        let mut pl = vec![S::zero(); sp];
        let [mut q, mut k, mut v] = [[[S::zero(); DH]; T]; 3];
        let (all_qkv, all_dout) = (qkv, dout);
        for b in 0..blocks {
            let qkv = &qkv[b * L * sq..][..L * sq];
            let dout = &dout[b * L * so..][..L * so];
            let dqkv = &mut dqkv[b * L * sq..][..L * sq];
            gather_cols(&probs[b * L * sp..][..L * sp], sp, &mut pl);
            for h in 0..heads {
                prefetch_next::<S>(all_qkv, b, L * sq, h, heads);
                prefetch_next::<S>(all_dout, b, L * so, h, heads);
                prefetch_next::<S>(probs, b, L * sp, h, heads);
                let (qo, ko, vo) = (h * DH, d + h * DH, 2 * d + h * DH);
                part(&mut q, qkv, w, qo);
                part(&mut k, qkv, w, ko);
                part(&mut v, qkv, w, vo);
                // Per query i: ∂o_i, ∂s_i and which lanes (samples) have a
                // nonzero ∂o_i. The others skip the query as Fixed::backward
                // does: ∂q_i = +0, no ∂k, ∂v terms.
                let none = S::zero().nonzero();
                let (mut g, mut ds) = ([[S::zero(); DH]; T], [[S::zero(); T]; T]);
                let (mut live, mut mode) = ([none; T], [Query::Skip; T]);
                for i in 0..T {
                    let p = row::<S, T>(&pl, (h * T + i) * T);
                    g[i] = gather::<S, DH>(&dout[i * d + h * DH..], so);
                    live[i] = g[i][0].nonzero();
                    for gc in &g[i][1..] {
                        live[i] = S::or(live[i], gc.nonzero());
                    }
                    mode[i] = if S::all(live[i]) {
                        Query::All
                    } else if S::any(live[i]) {
                        Query::Some
                    } else {
                        Query::Skip
                    };
                    let mut dq = [S::zero(); DH];
                    if mode[i] != Query::Skip {
                        let dp = dots(&g[i], &v);
                        let c = inner(p, &dp);
                        for j in 0..T {
                            ds[i][j] = p[j].mul(dp[j].sub(c)).mul(scale);
                        }
                        dq = weighted(&ds[i], &k);
                        if mode[i] == Query::Some {
                            for x in dq.iter_mut() {
                                *x = S::select(live[i], *x, S::zero());
                            }
                        }
                    }
                    scatter::<S, DH>(&dq, &mut dqkv[i * w + qo..], sq);
                }
                // ∂k_j = Σ_i ∂s_ij q_i, ∂v_j = Σ_i p_ij ∂o_i, i in order
                // (Fixed::backward's order of the sums).
                for j in 0..T {
                    let (mut dk, mut dv) = ([S::zero(); DH], [S::zero(); DH]);
                    for i in 0..T {
                        let pij = pl[(h * T + i) * T + j];
                        for c in 0..DH {
                            let a = dk[c].add(ds[i][j].mul(q[i][c]));
                            let b = dv[c].add(pij.mul(g[i][c]));
                            match mode[i] {
                                Query::Skip => {}
                                Query::All => (dk[c], dv[c]) = (a, b),
                                Query::Some => {
                                    dk[c] = S::select(live[i], a, dk[c]);
                                    dv[c] = S::select(live[i], b, dv[c]);
                                }
                            }
                        }
                    }
                    scatter::<S, DH>(&dk, &mut dqkv[j * w + ko..], sq);
                    scatter::<S, DH>(&dv, &mut dqkv[j * w + vo..], sq);
                }
            }
        }
        blocks * L
    }

    /// Which lanes of a query of [`backward`] have a gradient.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Query {
        /// None: the query is skipped.
        Skip,
        /// All.
        All,
        /// Some: the others are masked.
        Some,
    }

    #[inline(always)]
    pub(super) unsafe fn tangent<S: Simd, const DH: usize, const T: usize, const HEADS: usize>(
        shape: HeadShape,
        qkv: &[f32],
        dqkv: &[f32],
        probs: &[f32],
        dout: &mut [f32],
        mut probe: Option<(&mut [f32], &mut [f32])>,
    ) -> usize {
        let heads = if HEADS > 0 { HEADS } else { shape.heads };
        let (d, scale) = (heads * DH, S::splat(shape.scale));
        let w = 3 * d;
        let (sq, so, sp) = (T * w, T * d, heads * T * T);
        let blocks = qkv.len() / sq / L;
        let mut pl = vec![S::zero(); sp];
        // The probe's s and ṡ of a block (empty without the probe).
        let probed = if probe.is_some() { sp } else { 0 };
        let (mut sl, mut dsl) = (vec![S::zero(); probed], vec![S::zero(); probed]);
        let [mut q, mut k, mut v, mut dq, mut dk, mut dv] = [[[S::zero(); DH]; T]; 6];
        let (all_qkv, all_dqkv) = (qkv, dqkv);
        for b in 0..blocks {
            let qkv = &qkv[b * L * sq..][..L * sq];
            let dqkv = &dqkv[b * L * sq..][..L * sq];
            let dout = &mut dout[b * L * so..][..L * so];
            gather_cols(&probs[b * L * sp..][..L * sp], sp, &mut pl);
            for h in 0..heads {
                prefetch_next::<S>(all_qkv, b, L * sq, h, heads);
                prefetch_next::<S>(all_dqkv, b, L * sq, h, heads);
                prefetch_next::<S>(probs, b, L * sp, h, heads);
                let (qo, ko, vo) = (h * DH, d + h * DH, 2 * d + h * DH);
                part(&mut q, qkv, w, qo);
                part(&mut k, qkv, w, ko);
                part(&mut v, qkv, w, vo);
                part(&mut dq, dqkv, w, qo);
                part(&mut dk, dqkv, w, ko);
                part(&mut dv, dqkv, w, vo);
                for i in 0..T {
                    let at = (h * T + i) * T;
                    let p = row::<S, T>(&pl, at);
                    let (a, bb) = (dots(&dq[i], &k), dots(&q[i], &dk));
                    let mut ds = [S::zero(); T];
                    for j in 0..T {
                        ds[j] = a[j].add(bb[j]).mul(scale);
                    }
                    if probed > 0 {
                        let s = dots(&q[i], &k);
                        for j in 0..T {
                            sl[at + j] = s[j].mul(scale);
                        }
                        dsl[at..at + T].copy_from_slice(&ds);
                    }
                    let c = inner(p, &ds);
                    let mut out = [S::zero(); DH];
                    for j in 0..T {
                        let dp = p[j].mul(ds[j].sub(c));
                        for cc in 0..DH {
                            out[cc] = out[cc].add(dp.mul(v[j][cc]));
                            out[cc] = out[cc].add(p[j].mul(dv[j][cc]));
                        }
                    }
                    scatter::<S, DH>(&out, &mut dout[i * d + h * DH..], so);
                }
            }
            if let Some((s, ds)) = probe.as_mut() {
                scatter_cols(&sl, &mut s[b * L * sp..][..L * sp], sp);
                scatter_cols(&dsl, &mut ds[b * L * sp..][..L * sp], sp);
            }
        }
        blocks * L
    }
}

/// The kernels compiled for one [`Simd`] type under its target features.
macro_rules! entry_points {
    ($simd:ty, $features:literal) => {
        use super::super::{kernels, HeadShape};

        #[target_feature(enable = $features)]
        pub(in super::super) unsafe fn forward<
            const DH: usize,
            const T: usize,
            const HEADS: usize,
        >(
            shape: HeadShape,
            qkv: &[f32],
            probs: &mut [f32],
            o: &mut [f32],
        ) -> usize {
            kernels::forward::<$simd, DH, T, HEADS>(shape, qkv, probs, o)
        }

        #[target_feature(enable = $features)]
        pub(in super::super) unsafe fn backward<
            const DH: usize,
            const T: usize,
            const HEADS: usize,
        >(
            shape: HeadShape,
            qkv: &[f32],
            probs: &[f32],
            dout: &[f32],
            dqkv: &mut [f32],
        ) -> usize {
            kernels::backward::<$simd, DH, T, HEADS>(shape, qkv, probs, dout, dqkv)
        }

        #[target_feature(enable = $features)]
        pub(in super::super) unsafe fn tangent<
            const DH: usize,
            const T: usize,
            const HEADS: usize,
        >(
            shape: HeadShape,
            qkv: &[f32],
            dqkv: &[f32],
            probs: &[f32],
            dout: &mut [f32],
            probe: Option<(&mut [f32], &mut [f32])>,
        ) -> usize {
            kernels::tangent::<$simd, DH, T, HEADS>(shape, qkv, dqkv, probs, dout, probe)
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Simd, L};
    use core::arch::x86_64::*;

    const _: () = assert!(L == 16);

    /// 16 lanes in one AVX-512 register.
    #[derive(Clone, Copy)]
    pub(super) struct Avx512(__m512);

    /// 16 lanes in two AVX registers.
    #[derive(Clone, Copy)]
    pub(super) struct Avx2([__m256; 2]);

    pub(super) mod avx512 {
        entry_points!(super::Avx512, "avx512f,avx2");
    }

    pub(super) mod avx2 {
        entry_points!(super::Avx2, "avx2");
    }

    /// The 8×8 transpose of each 256-bit half of eight registers.
    #[inline(always)]
    unsafe fn t8x8_halves(r: [__m512; 8]) -> [__m512; 8] {
        let t0 = _mm512_unpacklo_ps(r[0], r[1]);
        let t1 = _mm512_unpackhi_ps(r[0], r[1]);
        let t2 = _mm512_unpacklo_ps(r[2], r[3]);
        let t3 = _mm512_unpackhi_ps(r[2], r[3]);
        let t4 = _mm512_unpacklo_ps(r[4], r[5]);
        let t5 = _mm512_unpackhi_ps(r[4], r[5]);
        let t6 = _mm512_unpacklo_ps(r[6], r[7]);
        let t7 = _mm512_unpackhi_ps(r[6], r[7]);
        let u0 = _mm512_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm512_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm512_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm512_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm512_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm512_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm512_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm512_shuffle_ps::<0xEE>(t5, t7);
        // Per half: the low (high) 128 bits of a, then of b.
        let lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
        let hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
        [
            _mm512_permutex2var_ps(u0, lo, u4),
            _mm512_permutex2var_ps(u1, lo, u5),
            _mm512_permutex2var_ps(u2, lo, u6),
            _mm512_permutex2var_ps(u3, lo, u7),
            _mm512_permutex2var_ps(u0, hi, u4),
            _mm512_permutex2var_ps(u1, hi, u5),
            _mm512_permutex2var_ps(u2, hi, u6),
            _mm512_permutex2var_ps(u3, hi, u7),
        ]
    }

    impl Simd for Avx512 {
        type Mask = __mmask16;
        #[inline(always)]
        unsafe fn zero() -> Self {
            Avx512(_mm512_setzero_ps())
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            Avx512(_mm512_set1_ps(x))
        }
        #[inline(always)]
        unsafe fn from_array(a: &[f32; L]) -> Self {
            Avx512(_mm512_loadu_ps(a.as_ptr()))
        }
        #[inline(always)]
        unsafe fn to_array(self) -> [f32; L] {
            let mut a = [0.0; L];
            _mm512_storeu_ps(a.as_mut_ptr(), self.0);
            a
        }
        #[inline(always)]
        unsafe fn add(self, b: Self) -> Self {
            Avx512(_mm512_add_ps(self.0, b.0))
        }
        #[inline(always)]
        unsafe fn sub(self, b: Self) -> Self {
            Avx512(_mm512_sub_ps(self.0, b.0))
        }
        #[inline(always)]
        unsafe fn mul(self, b: Self) -> Self {
            Avx512(_mm512_mul_ps(self.0, b.0))
        }
        #[inline(always)]
        unsafe fn div(self, b: Self) -> Self {
            Avx512(_mm512_div_ps(self.0, b.0))
        }
        #[inline(always)]
        unsafe fn max_ps(self, b: Self) -> Self {
            Avx512(_mm512_max_ps(self.0, b.0))
        }
        #[inline(always)]
        unsafe fn min_ps(self, b: Self) -> Self {
            Avx512(_mm512_min_ps(self.0, b.0))
        }
        #[inline(always)]
        unsafe fn low_byte_exponent(self) -> Self {
            let bits = _mm512_and_si512(_mm512_castps_si512(self.0), _mm512_set1_epi32(0xff));
            Avx512(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(bits)))
        }
        #[inline(always)]
        unsafe fn nonzero(self) -> __mmask16 {
            _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(self.0, _mm512_setzero_ps())
        }
        #[inline(always)]
        unsafe fn or(a: __mmask16, b: __mmask16) -> __mmask16 {
            a | b
        }
        #[inline(always)]
        unsafe fn all(m: __mmask16) -> bool {
            m == 0xffff
        }
        #[inline(always)]
        unsafe fn any(m: __mmask16) -> bool {
            m != 0
        }
        #[inline(always)]
        unsafe fn select(m: __mmask16, a: Self, b: Self) -> Self {
            Avx512(_mm512_mask_blend_ps(m, b.0, a.0))
        }
        #[inline(always)]
        unsafe fn prefetch(p: *const f32) {
            _mm_prefetch::<_MM_HINT_T0>(p.cast());
        }
        #[inline(always)]
        unsafe fn gather8(src: *const f32, stride: usize) -> [Self; 8] {
            let mut r = [_mm512_setzero_ps(); 8];
            for (l, x) in r.iter_mut().enumerate() {
                let lo = _mm256_loadu_ps(src.add(l * stride));
                let hi = _mm256_loadu_ps(src.add((l + 8) * stride));
                let lo = _mm512_castps_pd(_mm512_castps256_ps512(lo));
                *x = _mm512_castpd_ps(_mm512_insertf64x4::<1>(lo, _mm256_castps_pd(hi)));
            }
            t8x8_halves(r).map(Avx512)
        }
        #[inline(always)]
        unsafe fn scatter8(tile: &[Self; 8], dst: *mut f32, stride: usize) {
            for (l, x) in t8x8_halves(tile.map(|v| v.0)).into_iter().enumerate() {
                _mm256_storeu_ps(dst.add(l * stride), _mm512_castps512_ps256(x));
                let hi = _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x));
                _mm256_storeu_ps(dst.add((l + 8) * stride), _mm256_castpd_ps(hi));
            }
        }
    }

    /// The 8×8 transpose of eight registers.
    #[inline(always)]
    unsafe fn t8x8(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }

    /// Both halves of an [`Avx2`] through `f`.
    macro_rules! both {
        ($a:expr, $b:expr, $f:ident) => {
            Avx2([$f($a.0[0], $b.0[0]), $f($a.0[1], $b.0[1])])
        };
    }

    impl Simd for Avx2 {
        type Mask = [__m256; 2];
        #[inline(always)]
        unsafe fn zero() -> Self {
            Avx2([_mm256_setzero_ps(); 2])
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            Avx2([_mm256_set1_ps(x); 2])
        }
        #[inline(always)]
        unsafe fn from_array(a: &[f32; L]) -> Self {
            Avx2([
                _mm256_loadu_ps(a.as_ptr()),
                _mm256_loadu_ps(a.as_ptr().add(8)),
            ])
        }
        #[inline(always)]
        unsafe fn to_array(self) -> [f32; L] {
            let mut a = [0.0; L];
            _mm256_storeu_ps(a.as_mut_ptr(), self.0[0]);
            _mm256_storeu_ps(a.as_mut_ptr().add(8), self.0[1]);
            a
        }
        #[inline(always)]
        unsafe fn add(self, b: Self) -> Self {
            both!(self, b, _mm256_add_ps)
        }
        #[inline(always)]
        unsafe fn sub(self, b: Self) -> Self {
            both!(self, b, _mm256_sub_ps)
        }
        #[inline(always)]
        unsafe fn mul(self, b: Self) -> Self {
            both!(self, b, _mm256_mul_ps)
        }
        #[inline(always)]
        unsafe fn div(self, b: Self) -> Self {
            both!(self, b, _mm256_div_ps)
        }
        #[inline(always)]
        unsafe fn max_ps(self, b: Self) -> Self {
            both!(self, b, _mm256_max_ps)
        }
        #[inline(always)]
        unsafe fn min_ps(self, b: Self) -> Self {
            both!(self, b, _mm256_min_ps)
        }
        #[inline(always)]
        unsafe fn low_byte_exponent(self) -> Self {
            let f = |x: __m256| {
                let bits = _mm256_and_si256(_mm256_castps_si256(x), _mm256_set1_epi32(0xff));
                _mm256_castsi256_ps(_mm256_slli_epi32::<23>(bits))
            };
            Avx2([f(self.0[0]), f(self.0[1])])
        }
        #[inline(always)]
        unsafe fn nonzero(self) -> [__m256; 2] {
            let z = _mm256_setzero_ps();
            [
                _mm256_cmp_ps::<_CMP_NEQ_UQ>(self.0[0], z),
                _mm256_cmp_ps::<_CMP_NEQ_UQ>(self.0[1], z),
            ]
        }
        #[inline(always)]
        unsafe fn or(a: [__m256; 2], b: [__m256; 2]) -> [__m256; 2] {
            [_mm256_or_ps(a[0], b[0]), _mm256_or_ps(a[1], b[1])]
        }
        #[inline(always)]
        unsafe fn all(m: [__m256; 2]) -> bool {
            _mm256_movemask_ps(m[0]) == 0xff && _mm256_movemask_ps(m[1]) == 0xff
        }
        #[inline(always)]
        unsafe fn any(m: [__m256; 2]) -> bool {
            _mm256_movemask_ps(_mm256_or_ps(m[0], m[1])) != 0
        }
        #[inline(always)]
        unsafe fn select(m: [__m256; 2], a: Self, b: Self) -> Self {
            Avx2([
                _mm256_blendv_ps(b.0[0], a.0[0], m[0]),
                _mm256_blendv_ps(b.0[1], a.0[1], m[1]),
            ])
        }
        #[inline(always)]
        unsafe fn prefetch(p: *const f32) {
            _mm_prefetch::<_MM_HINT_T0>(p.cast());
        }
        #[inline(always)]
        unsafe fn gather8(src: *const f32, stride: usize) -> [Self; 8] {
            let mut halves = [[_mm256_setzero_ps(); 8]; 2];
            for (half, out) in halves.iter_mut().enumerate() {
                let mut r = [_mm256_setzero_ps(); 8];
                for (l, x) in r.iter_mut().enumerate() {
                    *x = _mm256_loadu_ps(src.add((8 * half + l) * stride));
                }
                *out = t8x8(r);
            }
            std::array::from_fn(|c| Avx2([halves[0][c], halves[1][c]]))
        }
        #[inline(always)]
        unsafe fn scatter8(tile: &[Self; 8], dst: *mut f32, stride: usize) {
            for half in 0..2 {
                let rows = t8x8(tile.map(|v| v.0[half]));
                for (l, x) in rows.into_iter().enumerate() {
                    _mm256_storeu_ps(dst.add((8 * half + l) * stride), x);
                }
            }
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::x86::{Avx2, Avx512};
    use super::*;

    #[target_feature(enable = "avx512f,avx2")]
    unsafe fn exp_avx512(x: &[f32; L]) -> [f32; L] {
        exp(Avx512::from_array(x)).to_array()
    }

    #[target_feature(enable = "avx2")]
    unsafe fn exp_avx2(x: &[f32; L]) -> [f32; L] {
        exp(Avx2::from_array(x)).to_array()
    }

    #[test]
    fn lane_exp_is_bitwise_exp_f32() {
        let specials = [
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -87.0,
            88.0,
            -87.5,
            88.5,
            f32::MIN_POSITIVE,
            1e-30,
        ];
        let sweep = (0..200_000).map(|i| -100.0 + 200.0 * i as f32 / 200_000.0);
        let xs: Vec<f32> = specials.into_iter().chain(sweep).collect();
        for chunk in xs.chunks(L) {
            let mut x = [0.5; L];
            x[..chunk.len()].copy_from_slice(chunk);
            let want = x.map(crate::fastmath::exp_f32);
            let mut got = Vec::new();
            if is_x86_feature_detected!("avx2") {
                got.push(("avx2", unsafe { exp_avx2(&x) }));
            }
            if is_x86_feature_detected!("avx512f") {
                got.push(("avx512", unsafe { exp_avx512(&x) }));
            }
            for (name, g) in got {
                for l in 0..L {
                    assert_eq!(
                        g[l].to_bits(),
                        want[l].to_bits(),
                        "{name}: exp({:e}) = {:e}, exp_f32 {:e}",
                        x[l],
                        g[l],
                        want[l]
                    );
                }
            }
        }
    }
}
