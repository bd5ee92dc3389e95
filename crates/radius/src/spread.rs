//! Per-sample spread Δa, the radius bound ρa = π/Δa, its aggregation over a
//! sample set, the normalised step r = τ/ρa and the temperature law.

use std::f64::consts::PI;

/// Spread of one sample's slopes, Δa = max_k a_k − min_k a_k (paper eq. 8).
///
/// Fewer than two slopes give 0 (a single logit cannot move relative to
/// itself). A NaN slope gives NaN, so a broken JVP is never mistaken for a
/// safe one.
pub fn delta_a(slopes: &[f64]) -> f64 {
    if slopes.iter().any(|a| a.is_nan()) {
        return f64::NAN;
    }
    let (lo, hi) = slopes
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &a| {
            (lo.min(a), hi.max(a))
        });
    if slopes.len() < 2 {
        0.0
    } else {
        hi - lo
    }
}

/// Radius bound from a spread: ρa = π / Δa. Δa = 0 gives `+inf` (no ghost
/// can exist when all logits move together), never a division error.
pub fn rho_a_from_delta(delta_a: f64) -> f64 {
    if delta_a == 0.0 {
        f64::INFINITY
    } else {
        PI / delta_a
    }
}

/// Radius bound of one sample, ρa = π / Δa (half-plane lemma, paper §4).
///
/// When Δa exceeds the largest f64 although every slope is finite (slopes
/// near ±1e308; [`delta_a`] then gives `+inf`), the radius is still
/// computed, from the halves: π/Δa = (π/2) / (max a/2 − min a/2).
pub fn rho_a(slopes: &[f64]) -> f64 {
    let spread = delta_a(slopes);
    if spread == f64::INFINITY && slopes.iter().all(|a| a.is_finite()) {
        let halves: Vec<f64> = slopes.iter().map(|a| a * 0.5).collect();
        return (PI * 0.5) / delta_a(&halves);
    }
    rho_a_from_delta(spread)
}

/// Temperature law (paper §5.3): for logits z/T the slopes are a/T, so the
/// bound is ρa(T) = π T / Δa with Δa measured on the untempered slopes.
pub fn rho_a_tempered(delta_a: f64, temperature: f64) -> f64 {
    rho_a_from_delta(delta_a) * temperature
}

/// Normalised step r = τ / ρa (paper eq. 10): r < 1 is inside the radius.
pub fn normalized_step(tau: f64, rho_a: f64) -> f64 {
    tau / rho_a
}

/// Temperature-scaled coordinate r_T = τ Δa / (π T) = τ / ρa(T).
pub fn normalized_step_tempered(tau: f64, delta_a: f64, temperature: f64) -> f64 {
    tau * delta_a / (PI * temperature)
}

/// Spreads Δa of every row of a row-major `n × k` slope matrix.
///
/// # Panics
/// If `k == 0` or `slopes.len()` is not a multiple of `k`.
pub fn spreads_of_rows(slopes: &[f64], k: usize) -> Vec<f64> {
    assert!(
        k > 0 && slopes.len().is_multiple_of(k),
        "slope matrix of {} values is not n x {k}",
        slopes.len()
    );
    slopes.chunks_exact(k).map(delta_a).collect()
}

/// The largest spread Δ = max − min of a row over the rows of a row-major
/// matrix of `width` columns, for f32 or f64 values (widened exactly): the
/// same number as the largest [`delta_a`] of the rows, without a copy. The
/// attention radius ρ_attn = π / this over the score tangents (spec C8).
/// No rows (or rows of fewer than two values) give 0; a NaN gives NaN.
///
/// # Panics
/// If `width == 0` or `values.len()` is not a multiple of `width`.
pub fn max_row_spread<T: Copy + Into<f64>>(values: &[T], width: usize) -> f64 {
    assert!(
        width > 0 && values.len().is_multiple_of(width),
        "matrix of {} values is not n x {width}",
        values.len()
    );
    let mut worst = 0.0f64;
    let mut nan = false;
    for row in values.chunks_exact(width) {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in row {
            let v: f64 = v.into();
            nan |= v.is_nan();
            lo = lo.min(v);
            hi = hi.max(v);
        }
        worst = worst.max(hi - lo);
    }
    if nan {
        f64::NAN
    } else {
        worst
    }
}

/// How per-sample spreads are combined into one radius for a sample set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    /// The theory's choice: one step moves every sample, so the set radius is
    /// the smallest per-sample radius, ρa(S) = π / max_x Δa(x).
    Max,
    /// A robust alternative the paper lists as future work: the q-quantile
    /// (0 ≤ q ≤ 1, linear interpolation) of the spreads.
    Quantile(f64),
}

/// The radius of a sample set and the sample that sets it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SetRadius {
    /// The aggregated spread Δa(S).
    pub delta_a: f64,
    /// ρa(S) = π / Δa(S).
    pub rho_a: f64,
    /// Index of the bottleneck sample: the one with the largest spread for
    /// [`Aggregation::Max`], the one with the smallest spread at or above the
    /// quantile otherwise. `None` for an empty set.
    pub bottleneck: Option<usize>,
}

/// Aggregate per-sample spreads into a set radius (paper §4.4).
///
/// NaN spreads poison the result (NaN radius, bottleneck at the NaN sample):
/// a diverged model must not look safe. An empty set has an infinite radius.
pub fn set_rho_a(spreads: &[f64], aggregation: Aggregation) -> SetRadius {
    if let Some(i) = spreads.iter().position(|d| d.is_nan()) {
        return SetRadius {
            delta_a: f64::NAN,
            rho_a: f64::NAN,
            bottleneck: Some(i),
        };
    }
    if spreads.is_empty() {
        return SetRadius {
            delta_a: 0.0,
            rho_a: f64::INFINITY,
            bottleneck: None,
        };
    }
    let (delta, index) = match aggregation {
        Aggregation::Max => {
            let (i, d) =
                spreads
                    .iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |(bi, bd), (i, &d)| {
                        if d > bd {
                            (i, d)
                        } else {
                            (bi, bd)
                        }
                    });
            (d, i)
        }
        Aggregation::Quantile(q) => {
            let d = quantile(spreads, q);
            let i = spreads
                .iter()
                .enumerate()
                .filter(|(_, &s)| s >= d)
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
                .unwrap_or(0);
            (d, i)
        }
    };
    SetRadius {
        delta_a: delta,
        rho_a: rho_a_from_delta(delta),
        bottleneck: Some(index),
    }
}

/// The q-quantile of finite values with linear interpolation between order
/// statistics (numpy's default). `q` is clamped to [0, 1]; empty input gives NaN.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// [`quantile`] without a sorted copy: the same value (same order
/// statistics, same interpolation formula), found by selection in O(n);
/// `values` is reordered. For a low quantile of a large set (the 1% of
/// ρ_ffn over millions of units) a strided sample first gives a threshold,
/// and only the values at or below it are searched; when the sample guesses
/// too low, the whole slice is. Empty input or any NaN gives NaN.
pub fn quantile_in_place(values: &mut [f64], q: f64) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    match low_order_statistics(values, lo, hi) {
        Some((a, b)) => a + (b - a) * (pos - lo as f64),
        None => f64::NAN,
    }
}

/// The order statistics of ranks `lo` and `hi` (`hi` is `lo` or `lo + 1`,
/// below `values.len()`); `None` if a value is NaN.
fn low_order_statistics(values: &mut [f64], lo: usize, hi: usize) -> Option<(f64, f64)> {
    const STRIDE: usize = 64;
    let n = values.len();
    if n >= 1 << 14 && hi < n / 8 {
        let mut sample: Vec<f64> = values.iter().step_by(STRIDE).copied().collect();
        // About (hi + 1)/STRIDE sample values lie at or below the answer:
        // twice that plus a margin almost always covers it.
        let want = 2 * (hi + 1) / STRIDE + 32;
        if want < sample.len() {
            let threshold = *sample.select_nth_unstable_by(want, f64::total_cmp).1;
            // Every value ordered below one kept is kept (v ≤ t), so the
            // kept values' lowest order statistics are the slice's. The
            // same pass looks for NaN (never ≤ t).
            let mut kept = Vec::with_capacity(2 * (want + 1) * STRIDE);
            let mut nan = false;
            for &v in values.iter() {
                if v <= threshold {
                    kept.push(v);
                } else {
                    nan |= v.is_nan();
                }
            }
            if nan {
                return None;
            }
            if kept.len() > hi {
                return Some(select_pair(&mut kept, lo, hi));
            }
        }
    }
    if values.iter().any(|v| v.is_nan()) {
        return None;
    }
    Some(select_pair(values, lo, hi))
}

/// Ranks `lo` and `hi` ∈ {lo, lo + 1} by selection.
pub(crate) fn select_pair(values: &mut [f64], lo: usize, hi: usize) -> (f64, f64) {
    let (_, a, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let a = *a;
    let b = if hi == lo {
        a
    } else {
        above
            .iter()
            .copied()
            .min_by(f64::total_cmp)
            .expect("hi is below the length")
    };
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_radius_of_one_sample() {
        assert_eq!(delta_a(&[1.0, 0.5, -3.0]), 4.0);
        assert!((rho_a(&[1.0, 0.5, -3.0]) - PI / 4.0).abs() < 1e-15);
        assert_eq!(delta_a(&[2.0]), 0.0);
        assert_eq!(delta_a(&[]), 0.0);
        assert!(delta_a(&[1.0, f64::NAN]).is_nan());
    }

    #[test]
    fn zero_spread_is_infinite_radius() {
        assert_eq!(rho_a(&[0.7, 0.7, 0.7]), f64::INFINITY);
        assert_eq!(rho_a_from_delta(0.0), f64::INFINITY);
        assert_eq!(normalized_step(1.0, f64::INFINITY), 0.0);
    }

    #[test]
    fn max_aggregation_finds_bottleneck() {
        let r = set_rho_a(&[1.0, 5.0, 2.0], Aggregation::Max);
        assert_eq!(r.bottleneck, Some(1));
        assert_eq!(r.delta_a, 5.0);
        assert!((r.rho_a - PI / 5.0).abs() < 1e-15);
    }

    #[test]
    fn quantile_aggregation() {
        let spreads = [4.0, 1.0, 3.0, 2.0, 5.0];
        let r = set_rho_a(&spreads, Aggregation::Quantile(0.5));
        assert_eq!(r.delta_a, 3.0);
        assert_eq!(r.bottleneck, Some(2));
        let r = set_rho_a(&spreads, Aggregation::Quantile(0.9));
        assert!((r.delta_a - 4.6).abs() < 1e-12);
        assert_eq!(r.bottleneck, Some(4));
        assert_eq!(set_rho_a(&spreads, Aggregation::Quantile(1.0)).delta_a, 5.0);
    }

    #[test]
    fn quantile_in_place_equals_the_sorted_quantile() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for &n in &[1usize, 2, 7, 100, 20_000, 70_001] {
            // Ties, signed zeros and a wide range of magnitudes.
            let v: Vec<f64> = (0..n)
                .map(|i| match i % 7 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => (rng.gen_range(0..5) as f64) * 0.5,
                    _ => rng.gen_range(-3.0f64..6.0).exp(),
                })
                .collect();
            for &q in &[0.0, 0.001, 0.01, 0.1, 0.3, 0.5, 0.99, 1.0] {
                let want = quantile(&v, q);
                let got = quantile_in_place(&mut v.clone(), q);
                assert_eq!(got.to_bits(), want.to_bits(), "n {n}, q {q}");
            }
        }
        // The sampled threshold guessing too low falls back to the whole set.
        let mut v: Vec<f64> = (0..40_000)
            .map(|i| if i % 64 == 0 { 0.0 } else { 1.0 + i as f64 })
            .collect();
        let want = quantile(&v, 0.05);
        assert_eq!(quantile_in_place(&mut v, 0.05), want);
        assert!(quantile_in_place(&mut [], 0.5).is_nan());
        assert!(quantile_in_place(&mut [1.0, f64::NAN], 0.5).is_nan());
    }

    #[test]
    fn max_row_spread_is_the_largest_delta_a() {
        let m = [0.0f32, 1.0, -2.0, 5.0, 5.0, 5.0, 0.5, 0.25, 3.0];
        let rows = spreads_of_rows(&m.iter().map(|&v| v as f64).collect::<Vec<_>>(), 3);
        assert_eq!(
            max_row_spread(&m, 3),
            rows.iter().copied().fold(0.0, f64::max)
        );
        assert_eq!(max_row_spread(&m, 3), 3.0);
        assert_eq!(max_row_spread::<f64>(&[], 4), 0.0);
        assert_eq!(max_row_spread(&[7.0f64], 1), 0.0);
        assert!(max_row_spread(&[1.0f32, f32::NAN, 0.0, 0.0], 2).is_nan());
    }

    #[test]
    fn nan_and_empty_sets() {
        assert!(set_rho_a(&[1.0, f64::NAN], Aggregation::Max).rho_a.is_nan());
        let e = set_rho_a(&[], Aggregation::Max);
        assert_eq!(e.rho_a, f64::INFINITY);
        assert_eq!(e.bottleneck, None);
    }

    #[test]
    fn rows_and_paper_worked_numbers() {
        // Paper §8.4: ρa ≈ 3.14 at Δa = 1, 0.31 at 10, 0.10 at 30.
        assert!((rho_a_from_delta(1.0) - 3.14159).abs() < 1e-5);
        assert!((rho_a_from_delta(10.0) - 0.314159).abs() < 1e-6);
        assert!((rho_a_from_delta(30.0) - 0.104720).abs() < 1e-6);
        // τ = 0.1 at Δa = 30 gives r ≈ 0.95.
        assert!((normalized_step(0.1, rho_a_from_delta(30.0)) - 0.95493).abs() < 1e-5);
        assert_eq!(
            spreads_of_rows(&[0.0, 1.0, 2.0, -1.0, 0.0, 3.0], 3),
            vec![2.0, 4.0]
        );
    }

    #[test]
    fn temperature_law_matches_scaled_slopes() {
        let slopes = [0.3, -1.2, 2.5, 0.0];
        for &t in &[0.25, 0.5, 1.0, 2.0, 8.0] {
            let scaled: Vec<f64> = slopes.iter().map(|a| a / t).collect();
            let direct = rho_a(&scaled);
            let law = rho_a_tempered(delta_a(&slopes), t);
            assert!((direct - law).abs() <= 1e-14 * law, "T = {t}");
            let tau = 0.37;
            assert!(
                (normalized_step_tempered(tau, delta_a(&slopes), t) - tau / direct).abs() < 1e-14
            );
        }
    }
}
