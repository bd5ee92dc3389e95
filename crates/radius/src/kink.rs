//! Kink distances of piecewise-linear units (paper Appendix 2) and the
//! transformer experiment's FFN radius ρ_ffn (spec C8).
//!
//! A pre-activation h moving as h + t·ḣ along a direction reaches a ReLU
//! kink at h = 0 after t = |h|/|ḣ|: the unit's radius. The transformer
//! experiment (paper Table 2) takes, as a conservative proxy although its
//! FFN uses the exact (entire) GELU, the 1% quantile of that distance over
//! every FFN pre-activation as ρ_ffn.

use crate::spread::quantile_in_place;

/// The floor on |ḣ| in [`kink_distance`] (spec C8: max(|ḣ|, 1e-12)).
pub const KINK_TANGENT_FLOOR: f64 = 1e-12;

/// Distance along the direction from pre-activation `h` (tangent `h_dot`)
/// to the kink at 0: |h| / max(|ḣ|, 1e-12). A NaN in either gives NaN (a
/// broken JVP never looks safe).
pub fn kink_distance(h: f64, h_dot: f64) -> f64 {
    if h_dot.is_nan() {
        return f64::NAN;
    }
    h.abs() / h_dot.abs().max(KINK_TANGENT_FLOOR)
}

/// ρ_ffn of spec C8: the q-quantile (linear interpolation, numpy's
/// default; the same value as [`crate::quantile`] of every
/// [`kink_distance`]) of the kink distances of the units in `segments`,
/// each a pair (h, ḣ) of equal-length slices (one per FFN layer: every
/// sample, token and unit). No unit gives +inf (no FFN, no limit); a NaN
/// h or ḣ gives NaN.
///
/// Millions of units and a low quantile (the 1% of ρ_ffn): a strided
/// sample of the distances gives a threshold t, one pass keeps the units
/// whose distance can be ≤ t (|h| ≤ t·max(|ḣ|, 1e-12), tested without a
/// division in blocks that vectorise), and the quantile is selected among
/// their exact distances; when the sample guesses too low, every distance
/// is stored and selected.
///
/// # Panics
/// If a segment's h and ḣ differ in length.
pub fn rho_ffn<T: Copy + Into<f64>>(segments: &[(&[T], &[T])], q: f64) -> f64 {
    for (h, h_dot) in segments {
        assert_eq!(
            h.len(),
            h_dot.len(),
            "rho_ffn: h and h dot differ in length"
        );
    }
    let n: usize = segments.iter().map(|(h, _)| h.len()).sum();
    if n == 0 {
        return f64::INFINITY;
    }
    let distance = |h: T, d: T| kink_distance(h.into(), d.into());
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let interpolate = |(a, b): (f64, f64)| a + (b - a) * (pos - lo as f64);
    const STRIDE: usize = 64;
    if n >= 1 << 14 && hi < n / 8 {
        // Every STRIDE-th unit of the concatenated segments.
        let mut sample = Vec::with_capacity(n / STRIDE + segments.len());
        let mut skip = 0;
        for (h, d) in segments {
            let mut i = skip;
            while i < h.len() {
                sample.push(distance(h[i], d[i]));
                i += STRIDE;
            }
            skip = i - h.len();
        }
        if let Some(t) = sample_threshold(sample, hi, STRIDE) {
            match kept_below(segments, t) {
                Kept::Nan => return f64::NAN,
                Kept::Values(mut kept) if kept.len() > hi => {
                    return interpolate(crate::spread::select_pair(&mut kept, lo, hi));
                }
                Kept::Values(_) => {}
            }
        }
    }
    let mut all: Vec<f64> = segments
        .iter()
        .flat_map(|(h, d)| h.iter().zip(d.iter()))
        .map(|(&h, &d)| distance(h, d))
        .collect();
    quantile_in_place(&mut all, q)
}

/// A threshold that about 1.5 times the `hi + 1` lowest values of the
/// full set lie below (the margin is over ten standard deviations of the
/// sample count for the 1% of millions), from a sample of every `stride`-th value; `None` when the
/// sample is too small to say or holds NaN.
fn sample_threshold(mut sample: Vec<f64>, hi: usize, stride: usize) -> Option<f64> {
    let want = 3 * (hi + 1) / (2 * stride) + 32;
    if want >= sample.len() || sample.iter().any(|v| v.is_nan()) {
        return None;
    }
    Some(*sample.select_nth_unstable_by(want, f64::total_cmp).1)
}

/// The units' distances at or below a threshold, or NaN seen.
enum Kept {
    Values(Vec<f64>),
    Nan,
}

/// Every kink distance ≤ `t` (with them, every distance ordered below one
/// of them: the kept set's lowest order statistics are the full set's).
/// Blocks of 8 units are first tested without division (|h| ≤
/// t·max(|ḣ|, 1e-12), widened by 8 ulps so that no distance ≤ t is
/// missed, and any NaN noted); only blocks with a candidate compute
/// exact distances. Compiled for AVX-512 and AVX2 too (chosen at run
/// time): one block is one vector of f64, and the test has no rounding
/// of its own to differ between versions.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn kept_below<T: Copy + Into<f64>>(segments: &[(&[T], &[T])], t: f64) -> Kept {
    const BLOCK: usize = 8;
    let bound = t * (1.0 + 8.0 * f64::EPSILON);
    // Flags, not branches, so that the block's test is one vector compare.
    let test = |hb: &[T], db: &[T]| -> (bool, bool) {
        let (mut candidates, mut nan) = (0u32, 0u32);
        for (&x, &dx) in hb.iter().zip(db) {
            let (a, m): (f64, f64) = (x.into(), dx.into());
            let (a, m) = (a.abs(), m.abs());
            nan |= u32::from(a.is_nan() | m.is_nan());
            // !(a > ...): also a candidate when the bound is NaN (0·inf).
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            let candidate = !(a > bound * m.max(KINK_TANGENT_FLOOR));
            candidates |= u32::from(candidate);
        }
        (candidates != 0, nan != 0)
    };
    let mut kept = Vec::new();
    let mut keep = |hb: &[T], db: &[T]| {
        for (&x, &dx) in hb.iter().zip(db) {
            let d = kink_distance(x.into(), dx.into());
            if d <= t {
                kept.push(d);
            }
        }
    };
    for (h, h_dot) in segments {
        let (hc, dc) = (h.chunks_exact(BLOCK), h_dot.chunks_exact(BLOCK));
        let (hr, dr) = (hc.remainder(), dc.remainder());
        for (hb, db) in hc.zip(dc) {
            let (hb, db): (&[T; BLOCK], &[T; BLOCK]) =
                (hb.try_into().unwrap(), db.try_into().unwrap());
            let (candidate, nan) = test(hb, db);
            if nan {
                return Kept::Nan;
            }
            if candidate {
                keep(hb, db);
            }
        }
        let (candidate, nan) = test(hr, dr);
        if nan {
            return Kept::Nan;
        }
        if candidate {
            keep(hr, dr);
        }
    }
    Kept::Values(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_their_quantile() {
        assert_eq!(kink_distance(-2.0, 0.5), 4.0);
        assert_eq!(kink_distance(3.0, -1.0), 3.0);
        // A unit that does not move: the floor, not a division by zero.
        assert_eq!(kink_distance(1.0, 0.0), 1e12);
        assert_eq!(kink_distance(0.0, 0.0), 0.0);
        assert!(kink_distance(1.0, f64::NAN).is_nan());
        assert!(kink_distance(f64::NAN, 1.0).is_nan());
        // Distances 5, 1, 3, 2, 4: 1% of the way from the smallest (1)
        // to the second (2) over 4 gaps.
        let (h, d) = ([5.0, -1.0, 3.0, 2.0, 4.0], [1.0, 1.0, -1.0, 1.0, 1.0]);
        assert!((rho_ffn(&[(&h, &d)], 0.01) - 1.04).abs() < 1e-12);
        let none: [(&[f64], &[f64]); 0] = [];
        assert_eq!(rho_ffn(&none, 0.01), f64::INFINITY);
        assert!(rho_ffn(&[(&[1.0f64, 2.0][..], &[1.0, f64::NAN][..])], 0.01).is_nan());
    }

    /// The sampled path gives exactly the sorted quantile of every
    /// distance, over several segments of f32 or f64 units, with ties,
    /// signed zeros, units that do not move, infinite tangents and NaN.
    #[test]
    fn rho_ffn_equals_the_quantile_of_every_distance() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for &n in &[3usize, 1000, 40_000, 90_001] {
            let mut unit = |i: usize| -> (f32, f32) {
                let h = match i % 11 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => (rng.gen_range(0..4) as f32) * 0.25,
                    _ => rng.gen_range(-3.0f32..3.0),
                };
                let d = match i % 13 {
                    0 => 0.0,
                    1 => f32::INFINITY,
                    _ => rng.gen_range(-2.0f32..2.0) * 10f32.powi(rng.gen_range(-3..3)),
                };
                (h, d)
            };
            let units: Vec<(f32, f32)> = (0..n).map(&mut unit).collect();
            let (h, d): (Vec<f32>, Vec<f32>) = units.into_iter().unzip();
            let cut = n / 3;
            let segments = [(&h[..cut], &d[..cut]), (&h[cut..], &d[cut..])];
            let all: Vec<f64> = h
                .iter()
                .zip(&d)
                .map(|(&a, &b)| kink_distance(a.into(), b.into()))
                .collect();
            for &q in &[0.0, 0.001, 0.01, 0.05, 0.5, 1.0] {
                let want = crate::quantile(&all, q);
                assert_eq!(
                    rho_ffn(&segments, q).to_bits(),
                    want.to_bits(),
                    "n {n}, q {q}"
                );
            }
            let (h64, d64): (Vec<f64>, Vec<f64>) = (
                h.iter().map(|&v| v.into()).collect(),
                d.iter().map(|&v| v.into()).collect(),
            );
            assert_eq!(
                rho_ffn(&[(&h64[..], &d64[..])], 0.01),
                crate::quantile(&all, 0.01)
            );
            let mut hn = h.clone();
            hn[n - 1] = f32::NAN;
            assert!(rho_ffn(&[(&hn[..], &d[..])], 0.01).is_nan());
            let mut dn = d.clone();
            dn[n / 2] = f32::NAN;
            assert!(rho_ffn(&[(&h[..], &dn[..])], 0.01).is_nan());
        }
    }
}
