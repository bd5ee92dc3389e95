//! The constant-size head loops ([`Fixed`](super::Fixed)) with SIMD lanes
//! across samples: each block of [`L`] samples is transposed into a
//! lane-minor layout (value `[f32; L]` per entry, lane = sample), every
//! scalar operation of the per-sample loops becomes the same operation on
//! all `L` lanes, and the results are transposed back. Per lane the
//! operations, their order and the order of every sum are exactly those of
//! [`Fixed`](super::Fixed) (no fused multiply-adds, no reassociation), so
//! every output is bitwise the per-sample one. Only full blocks are done
//! here; the callers finish a tail of fewer than `L` samples per sample.
//!
//! The transposes move data only (no arithmetic): an 8-column tile of 16
//! samples is an in-register 8×8 transpose on each 256-bit half of eight
//! AVX-512 registers (two 8×8 transposes with AVX2), plain loops otherwise.
//!
//! `ISA` names the instruction set the caller was compiled for: 2 AVX-512F,
//! 1 AVX2, 0 neither (see [`isa`]). The kernels are `unsafe` because an
//! `ISA` above 0 runs instructions the CPU must have.

use super::HeadShape;
use crate::fastmath::exp_f32;

/// Samples per block (lanes): 16 f32 fill an AVX-512 register.
pub(super) const L: usize = 16;

/// One value per sample of a block.
type V = [f32; L];

/// The `ISA` constant for a function compiled with (or without) AVX-512F
/// and AVX2.
pub(super) const fn isa(avx512f: bool, avx2: bool) -> u8 {
    if avx512f {
        2
    } else if avx2 {
        1
    } else {
        0
    }
}

/// tile[c][l] = src[l·stride + c] for the W columns c and the L samples l.
#[inline(always)]
unsafe fn gather<const W: usize, const ISA: u8>(src: &[f32], stride: usize, tile: &mut [V; W]) {
    assert!(src.len() >= (L - 1) * stride + W, "lanes: gather");
    #[cfg(target_arch = "x86_64")]
    if W == 8 && ISA > 0 {
        let t: &mut [V; 8] = (&mut tile[..]).try_into().unwrap();
        if ISA == 2 {
            x86::gather8_avx512(src.as_ptr(), stride, t);
        } else {
            x86::gather8_avx2(src.as_ptr(), stride, t);
        }
        return;
    }
    for l in 0..L {
        let row = &src[l * stride..][..W];
        for c in 0..W {
            tile[c][l] = row[c];
        }
    }
}

/// dst[l·stride + c] = tile[c][l] (the inverse of [`gather`]).
#[inline(always)]
unsafe fn scatter<const W: usize, const ISA: u8>(tile: &[V; W], dst: &mut [f32], stride: usize) {
    assert!(dst.len() >= (L - 1) * stride + W, "lanes: scatter");
    #[cfg(target_arch = "x86_64")]
    if W == 8 && ISA > 0 {
        let t: &[V; 8] = (&tile[..]).try_into().unwrap();
        if ISA == 2 {
            x86::scatter8_avx512(t, dst.as_mut_ptr(), stride);
        } else {
            x86::scatter8_avx2(t, dst.as_mut_ptr(), stride);
        }
        return;
    }
    for l in 0..L {
        let row = &mut dst[l * stride..][..W];
        for c in 0..W {
            row[c] = tile[c][l];
        }
    }
}

/// [`gather`] of the first `dst.len()` columns.
#[inline(always)]
unsafe fn gather_cols<const ISA: u8>(src: &[f32], stride: usize, dst: &mut [V]) {
    let n = dst.len();
    let full = n / 8 * 8;
    for (c0, tile) in (0..full).step_by(8).zip(dst.chunks_exact_mut(8)) {
        gather::<8, ISA>(&src[c0..], stride, tile.try_into().unwrap());
    }
    for (c, lanes) in dst.iter_mut().enumerate().skip(full) {
        for (l, v) in lanes.iter_mut().enumerate() {
            *v = src[l * stride + c];
        }
    }
}

/// [`scatter`] of the first `src.len()` columns.
#[inline(always)]
unsafe fn scatter_cols<const ISA: u8>(src: &[V], dst: &mut [f32], stride: usize) {
    let n = src.len();
    let full = n / 8 * 8;
    for (c0, tile) in (0..full).step_by(8).zip(src.chunks_exact(8)) {
        scatter::<8, ISA>(tile.try_into().unwrap(), &mut dst[c0..], stride);
    }
    for (c, lanes) in src.iter().enumerate().skip(full) {
        for (l, &v) in lanes.iter().enumerate() {
            dst[l * stride + c] = v;
        }
    }
}

/// Columns `c..c + DH` of the T rows of each sample's q|k|v block, lane-minor.
#[inline(always)]
unsafe fn part<const DH: usize, const T: usize, const ISA: u8>(
    qkv: &[f32],
    w: usize,
    c: usize,
) -> [[V; DH]; T] {
    let mut m = [[[0.0; L]; DH]; T];
    for (j, r) in m.iter_mut().enumerate() {
        gather::<DH, ISA>(&qkv[j * w + c..], T * w, r);
    }
    m
}

/// s_j = Σ_c a_c m[j][c] per lane, c in order from 0 ([`Fixed`]'s `dots`).
///
/// [`Fixed`]: super::Fixed
#[inline(always)]
fn dots<const DH: usize, const T: usize>(a: &[V; DH], m: &[[V; DH]; T]) -> [V; T] {
    let mut s = [[0.0; L]; T];
    for c in 0..DH {
        for j in 0..T {
            for l in 0..L {
                s[j][l] += a[c][l] * m[j][c][l];
            }
        }
    }
    s
}

/// out_c = Σ_j p_j m[j][c] per lane, j in order from 0 ([`Fixed`]'s
/// `weighted` into zeros).
///
/// [`Fixed`]: super::Fixed
#[inline(always)]
fn weighted<const DH: usize, const T: usize>(p: &[V; T], m: &[[V; DH]; T]) -> [V; DH] {
    let mut out = [[0.0; L]; DH];
    for j in 0..T {
        for c in 0..DH {
            for l in 0..L {
                out[c][l] += p[j][l] * m[j][c][l];
            }
        }
    }
    out
}

/// Σ_j a_j b_j per lane in order from 0 ([`Fixed`]'s `inner`).
///
/// [`Fixed`]: super::Fixed
#[inline(always)]
fn inner<const T: usize>(a: &[V; T], b: &[V; T]) -> V {
    let mut c = [0.0; L];
    for j in 0..T {
        for l in 0..L {
            c[l] += a[j][l] * b[j][l];
        }
    }
    c
}

/// [`super::softmax`] of every lane's row.
///
/// The maximum is taken by comparison, not `f32::max`: rustc 1.95 (LLVM)
/// compiled this loop with `f32::max` for AVX-512F so that it skipped the
/// ninth row (T = 9: the maximum of rows 0..8 only; AVX2 and baseline
/// builds were right), which changed the softmax's last bits. The
/// comparison gives the same value as `f32::max` (a NaN score is passed
/// over; only the sign of a zero maximum may differ, which no exponential
/// below sees: s − (±0) is s for s ≠ 0, and exp_f32(±0) = 1).
#[inline(always)]
fn softmax<const T: usize>(s: &mut [V; T]) {
    let mut max = [f32::NEG_INFINITY; L];
    for row in s.iter() {
        for l in 0..L {
            max[l] = if row[l] > max[l] { row[l] } else { max[l] };
        }
    }
    for row in s.iter_mut() {
        for l in 0..L {
            row[l] = exp_f32(row[l] - max[l]);
        }
    }
    let mut sum = [0.0; L];
    for row in s.iter() {
        for l in 0..L {
            sum[l] += row[l];
        }
    }
    let mut inv = [0.0; L];
    for l in 0..L {
        inv[l] = 1.0 / sum[l];
    }
    for row in s.iter_mut() {
        for l in 0..L {
            row[l] *= inv[l];
        }
    }
}

/// A block's rows `at..at + T` of a lane-minor (heads·T·T) matrix as T × T.
#[inline(always)]
fn block<const T: usize>(m: &[V], at: usize) -> &[V; T] {
    m[at..at + T].try_into().unwrap()
}

/// Full blocks of `n` samples.
fn full_blocks(n: usize) -> usize {
    n / L
}

/// [`Fixed::forward`](super::Fixed) of every full block of samples;
/// returns the samples done.
///
/// # Safety
/// The CPU has the instructions `ISA` names.
#[inline(always)]
pub(super) unsafe fn forward<const DH: usize, const T: usize, const ISA: u8>(
    shape: HeadShape,
    qkv: &[f32],
    probs: &mut [f32],
    o: &mut [f32],
) -> usize {
    let (d, w, heads, scale) = (shape.d, 3 * shape.d, shape.heads, shape.scale);
    let (sq, so, sp) = (T * w, T * d, heads * T * T);
    let blocks = full_blocks(qkv.len() / sq);
    let mut pl = vec![[0.0; L]; sp];
    for b in 0..blocks {
        let qkv = &qkv[b * L * sq..][..L * sq];
        let o = &mut o[b * L * so..][..L * so];
        for h in 0..heads {
            let (qo, ko, vo) = shape.offsets(h);
            let q = part::<DH, T, ISA>(qkv, w, qo);
            let k = part::<DH, T, ISA>(qkv, w, ko);
            let v = part::<DH, T, ISA>(qkv, w, vo);
            for (i, qi) in q.iter().enumerate() {
                let mut s = dots(qi, &k);
                for row in s.iter_mut() {
                    for x in row.iter_mut() {
                        *x *= scale;
                    }
                }
                softmax(&mut s);
                pl[(h * T + i) * T..][..T].copy_from_slice(&s);
                let out = weighted(&s, &v);
                scatter::<DH, ISA>(&out, &mut o[i * d + h * DH..], so);
            }
        }
        scatter_cols::<ISA>(&pl, &mut probs[b * L * sp..][..L * sp], sp);
    }
    blocks * L
}

/// [`Fixed::backward`](super::Fixed) of every full block of samples
/// (writes every entry of their `dqkv`); returns the samples done.
///
/// # Safety
/// The CPU has the instructions `ISA` names.
#[inline(always)]
pub(super) unsafe fn backward<const DH: usize, const T: usize, const ISA: u8>(
    shape: HeadShape,
    qkv: &[f32],
    probs: &[f32],
    dout: &[f32],
    dqkv: &mut [f32],
) -> usize {
    let (d, w, heads) = (shape.d, 3 * shape.d, shape.heads);
    let (sq, so, sp) = (T * w, T * d, heads * T * T);
    let blocks = full_blocks(qkv.len() / sq);
    let mut pl = vec![[0.0; L]; sp];
    for b in 0..blocks {
        let qkv = &qkv[b * L * sq..][..L * sq];
        let dout = &dout[b * L * so..][..L * so];
        let dqkv = &mut dqkv[b * L * sq..][..L * sq];
        gather_cols::<ISA>(&probs[b * L * sp..][..L * sp], sp, &mut pl);
        for h in 0..heads {
            let (qo, ko, vo) = shape.offsets(h);
            let q = part::<DH, T, ISA>(qkv, w, qo);
            let k = part::<DH, T, ISA>(qkv, w, ko);
            let v = part::<DH, T, ISA>(qkv, w, vo);
            let (mut dk, mut dv) = ([[[0.0; L]; DH]; T], [[[0.0; L]; DH]; T]);
            for (i, qi) in q.iter().enumerate() {
                let p = block::<T>(&pl, (h * T + i) * T);
                let mut g = [[0.0; L]; DH];
                gather::<DH, ISA>(&dout[i * d + h * DH..], so, &mut g);
                // Lanes (samples) whose ∂o_i is not all zero; the others
                // skip this query (Fixed::backward): ∂q_i = +0, no ∂k, ∂v.
                let mut live = [false; L];
                for gc in &g {
                    for l in 0..L {
                        live[l] |= gc[l] != 0.0;
                    }
                }
                let dq = if live == [true; L] {
                    query_backward::<DH, T, false>(
                        shape, qi, &k, &v, p, &g, &live, &mut dk, &mut dv,
                    )
                } else if live != [false; L] {
                    query_backward::<DH, T, true>(shape, qi, &k, &v, p, &g, &live, &mut dk, &mut dv)
                } else {
                    [[0.0; L]; DH]
                };
                scatter::<DH, ISA>(&dq, &mut dqkv[i * w + qo..], sq);
            }
            for j in 0..T {
                scatter::<DH, ISA>(&dk[j], &mut dqkv[j * w + ko..], sq);
                scatter::<DH, ISA>(&dv[j], &mut dqkv[j * w + vo..], sq);
            }
        }
    }
    blocks * L
}

/// One query of [`backward`]: returns ∂q_i and adds the ∂k, ∂v terms;
/// with `MASKED`, lanes not `live` get ∂q_i = +0 and add nothing.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn query_backward<const DH: usize, const T: usize, const MASKED: bool>(
    shape: HeadShape,
    qi: &[V; DH],
    k: &[[V; DH]; T],
    v: &[[V; DH]; T],
    p: &[V; T],
    g: &[V; DH],
    live: &[bool; L],
    dk: &mut [[V; DH]; T],
    dv: &mut [[V; DH]; T],
) -> [V; DH] {
    let scale = shape.scale;
    let dp = dots(g, v);
    let c = inner(p, &dp);
    let mut ds = [[0.0; L]; T];
    for j in 0..T {
        for l in 0..L {
            ds[j][l] = p[j][l] * (dp[j][l] - c[l]) * scale;
        }
    }
    let mut dq = weighted(&ds, k);
    for j in 0..T {
        for cc in 0..DH {
            for l in 0..L {
                let (a, b) = (
                    dk[j][cc][l] + ds[j][l] * qi[cc][l],
                    dv[j][cc][l] + p[j][l] * g[cc][l],
                );
                if MASKED {
                    dk[j][cc][l] = if live[l] { a } else { dk[j][cc][l] };
                    dv[j][cc][l] = if live[l] { b } else { dv[j][cc][l] };
                } else {
                    dk[j][cc][l] = a;
                    dv[j][cc][l] = b;
                }
            }
        }
    }
    if MASKED {
        for row in dq.iter_mut() {
            for l in 0..L {
                row[l] = if live[l] { row[l] } else { 0.0 };
            }
        }
    }
    dq
}

/// [`Fixed::tangent`](super::Fixed) of every full block of samples;
/// returns the samples done.
///
/// # Safety
/// The CPU has the instructions `ISA` names.
#[inline(always)]
pub(super) unsafe fn tangent<const DH: usize, const T: usize, const ISA: u8>(
    shape: HeadShape,
    qkv: &[f32],
    dqkv: &[f32],
    probs: &[f32],
    dout: &mut [f32],
) -> usize {
    let (d, w, heads, scale) = (shape.d, 3 * shape.d, shape.heads, shape.scale);
    let (sq, so, sp) = (T * w, T * d, heads * T * T);
    let blocks = full_blocks(qkv.len() / sq);
    let mut pl = vec![[0.0; L]; sp];
    for b in 0..blocks {
        let qkv = &qkv[b * L * sq..][..L * sq];
        let dqkv = &dqkv[b * L * sq..][..L * sq];
        let dout = &mut dout[b * L * so..][..L * so];
        gather_cols::<ISA>(&probs[b * L * sp..][..L * sp], sp, &mut pl);
        for h in 0..heads {
            let (qo, ko, vo) = shape.offsets(h);
            let q = part::<DH, T, ISA>(qkv, w, qo);
            let k = part::<DH, T, ISA>(qkv, w, ko);
            let v = part::<DH, T, ISA>(qkv, w, vo);
            let dq = part::<DH, T, ISA>(dqkv, w, qo);
            let dk = part::<DH, T, ISA>(dqkv, w, ko);
            let dv = part::<DH, T, ISA>(dqkv, w, vo);
            for i in 0..T {
                let p = block::<T>(&pl, (h * T + i) * T);
                let (a, b) = (dots(&dq[i], &k), dots(&q[i], &dk));
                let mut ds = [[0.0; L]; T];
                for j in 0..T {
                    for l in 0..L {
                        ds[j][l] = (a[j][l] + b[j][l]) * scale;
                    }
                }
                let c = inner(p, &ds);
                let mut out = [[0.0; L]; DH];
                for j in 0..T {
                    let mut dp = [0.0; L];
                    for l in 0..L {
                        dp[l] = p[j][l] * (ds[j][l] - c[l]);
                    }
                    for cc in 0..DH {
                        for l in 0..L {
                            out[cc][l] += dp[l] * v[j][cc][l];
                            out[cc][l] += p[j][l] * dv[j][cc][l];
                        }
                    }
                }
                scatter::<DH, ISA>(&out, &mut dout[i * d + h * DH..], so);
            }
        }
    }
    blocks * L
}

/// [`Fixed::score_probe`](super::Fixed) of every full block of samples;
/// returns the samples done.
///
/// # Safety
/// The CPU has the instructions `ISA` names.
#[inline(always)]
pub(super) unsafe fn score_probe<const DH: usize, const T: usize, const ISA: u8>(
    shape: HeadShape,
    qkv: &[f32],
    dqkv: &[f32],
    s: &mut [f32],
    ds: &mut [f32],
) -> usize {
    let (w, heads, scale) = (3 * shape.d, shape.heads, shape.scale);
    let (sq, sp) = (T * w, heads * T * T);
    let blocks = full_blocks(qkv.len() / sq);
    let (mut sl, mut dsl) = (vec![[0.0; L]; sp], vec![[0.0; L]; sp]);
    for b in 0..blocks {
        let qkv = &qkv[b * L * sq..][..L * sq];
        let dqkv = &dqkv[b * L * sq..][..L * sq];
        for h in 0..heads {
            let (qo, ko, _) = shape.offsets(h);
            let q = part::<DH, T, ISA>(qkv, w, qo);
            let k = part::<DH, T, ISA>(qkv, w, ko);
            let dq = part::<DH, T, ISA>(dqkv, w, qo);
            let dk = part::<DH, T, ISA>(dqkv, w, ko);
            for i in 0..T {
                let at = (h * T + i) * T;
                let (a, bb, c) = (dots(&q[i], &k), dots(&dq[i], &k), dots(&q[i], &dk));
                for j in 0..T {
                    for l in 0..L {
                        sl[at + j][l] = a[j][l] * scale;
                        dsl[at + j][l] = (bb[j][l] + c[j][l]) * scale;
                    }
                }
            }
        }
        scatter_cols::<ISA>(&sl, &mut s[b * L * sp..][..L * sp], sp);
        scatter_cols::<ISA>(&dsl, &mut ds[b * L * sp..][..L * sp], sp);
    }
    blocks * L
}

/// The 8-column tile transposes (16 samples: two halves of 8).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{L, V};
    use core::arch::x86_64::*;

    const _: () = assert!(L == 16);

    /// The 8×8 transpose of each 256-bit half of eight registers.
    #[inline]
    #[target_feature(enable = "avx512f")]
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

    /// tile[c][l] = src[l·stride + c], c < 8, l < 16.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gather8_avx512(src: *const f32, stride: usize, tile: &mut [V; 8]) {
        let mut r = [_mm512_setzero_ps(); 8];
        for (l, x) in r.iter_mut().enumerate() {
            let lo = _mm256_loadu_ps(src.add(l * stride));
            let hi = _mm256_loadu_ps(src.add((l + 8) * stride));
            let lo = _mm512_castps_pd(_mm512_castps256_ps512(lo));
            *x = _mm512_castpd_ps(_mm512_insertf64x4::<1>(lo, _mm256_castps_pd(hi)));
        }
        for (t, x) in tile.iter_mut().zip(t8x8_halves(r)) {
            _mm512_storeu_ps(t.as_mut_ptr(), x);
        }
    }

    /// dst[l·stride + c] = tile[c][l], c < 8, l < 16.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn scatter8_avx512(tile: &[V; 8], dst: *mut f32, stride: usize) {
        let mut r = [_mm512_setzero_ps(); 8];
        for (x, t) in r.iter_mut().zip(tile) {
            *x = _mm512_loadu_ps(t.as_ptr());
        }
        for (l, x) in t8x8_halves(r).into_iter().enumerate() {
            _mm256_storeu_ps(dst.add(l * stride), _mm512_castps512_ps256(x));
            let hi = _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x));
            _mm256_storeu_ps(dst.add((l + 8) * stride), _mm256_castpd_ps(hi));
        }
    }

    /// The 8×8 transpose of eight registers.
    #[inline]
    #[target_feature(enable = "avx2")]
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

    /// [`gather8_avx512`] with AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn gather8_avx2(src: *const f32, stride: usize, tile: &mut [V; 8]) {
        for half in [0, 8] {
            let mut r = [_mm256_setzero_ps(); 8];
            for (l, x) in r.iter_mut().enumerate() {
                *x = _mm256_loadu_ps(src.add((half + l) * stride));
            }
            for (t, x) in tile.iter_mut().zip(t8x8(r)) {
                _mm256_storeu_ps(t.as_mut_ptr().add(half), x);
            }
        }
    }

    /// [`scatter8_avx512`] with AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn scatter8_avx2(tile: &[V; 8], dst: *mut f32, stride: usize) {
        for half in [0, 8] {
            let mut r = [_mm256_setzero_ps(); 8];
            for (x, t) in r.iter_mut().zip(tile) {
                *x = _mm256_loadu_ps(t.as_ptr().add(half));
            }
            for (l, x) in t8x8(r).into_iter().enumerate() {
                _mm256_storeu_ps(dst.add((half + l) * stride), x);
            }
        }
    }
}
