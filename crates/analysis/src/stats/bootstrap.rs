//! Percentile bootstrap confidence intervals.
//!
//! Used for the uncertainty of seed aggregates (e.g. the temperature
//! experiment's "collapse std", paper-spec §6.5: the std over temperatures of
//! the per-temperature median onsets, resampled over seeds).
//!
//! Rules shared by both entry points:
//! * each resample draws `n` indices uniformly with replacement from `0..n`
//!   with a [`ChaCha8Rng`] seeded by `seed`, so a CI is a pure function of its
//!   inputs (same seed, same CI, on every platform);
//! * the interval is the percentile interval: the `(1 - level) / 2` and
//!   `(1 + level) / 2` quantiles of the resampled statistics, interpolated
//!   like numpy's default `percentile` (see [`quantile`](super::quantile));
//! * a resample whose statistic is NaN (e.g. a median onset that no seed in
//!   the resample reached) is skipped rather than poisoning the quantiles;
//!   when more than half of the resamples are NaN the statistic is not
//!   estimable from these data and the CI is `(NaN, NaN)`. ±inf statistics
//!   are kept as ordinary values;
//! * empty data or `resamples == 0` gives `(NaN, NaN)`; `level` outside
//!   `(0, 1)` is a caller bug and panics.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::nan_quantiles;

/// Percentile bootstrap confidence interval `(lo, hi)` of `statistic` over
/// `samples`.
///
/// Draws `resamples` resamples of `samples.len()` values with replacement
/// (a `ChaCha8Rng` seeded with `seed`), evaluates `statistic` on each and
/// returns the `(1 - level) / 2` and `(1 + level) / 2` quantiles of the
/// results; `level = 0.95` is the usual 95% interval. NaN statistics are
/// skipped; if more than half are NaN, or `samples` is empty, or
/// `resamples == 0`, the result is `(NaN, NaN)`.
///
/// ```
/// use analysis::stats::{bootstrap_ci, mean};
/// let xs: Vec<f64> = (0..200).map(|i| (i % 10) as f64).collect();
/// let (lo, hi) = bootstrap_ci(&xs, mean, 2000, 0.95, 7);
/// assert!(lo < 4.5 && 4.5 < hi);
/// ```
///
/// Panics if `level` is not in `(0, 1)`.
pub fn bootstrap_ci(
    samples: &[f64],
    statistic: impl Fn(&[f64]) -> f64,
    resamples: usize,
    level: f64,
    seed: u64,
) -> (f64, f64) {
    let mut buf = Vec::with_capacity(samples.len());
    percentile_ci(samples.len(), resamples, level, seed, |idx| {
        buf.clear();
        buf.extend(idx.iter().map(|&i| samples[i]));
        statistic(&buf)
    })
}

/// Percentile bootstrap CI of a statistic of whole units, resampling the
/// units (typically seeds) with replacement.
///
/// Use it when the statistic is computed from several values per unit that
/// must stay together, e.g. each seed's onsets at all temperatures: the
/// statistic receives the resampled units (references, duplicates included)
/// and can aggregate across them however it likes (per-temperature median
/// over seeds, then the std over temperatures). Resampling the individual
/// values instead would break the within-seed correlation the interval must
/// reflect.
///
/// Same rules, defaults and random stream as [`bootstrap_ci`]: for scalar
/// units, `bootstrap_ci_by_unit(xs, |u| f(&copied(u)), ..)` equals
/// `bootstrap_ci(xs, f, ..)` with the same seed.
///
/// ```
/// use analysis::stats::{bootstrap_ci_by_unit, median, std};
/// // Three seeds, each with an onset per temperature.
/// let seeds = vec![vec![1.0, 2.0, 4.0], vec![1.2, 2.1, 3.8], vec![0.9, 1.8, 4.3]];
/// let spread = |units: &[&Vec<f64>]| {
///     let per_t: Vec<f64> = (0..3)
///         .map(|t| median(&units.iter().map(|u| u[t]).collect::<Vec<_>>()))
///         .collect();
///     std(&per_t)
/// };
/// let (lo, hi) = bootstrap_ci_by_unit(&seeds, spread, 1000, 0.9, 1);
/// assert!(lo <= hi);
/// ```
///
/// Panics if `level` is not in `(0, 1)`.
pub fn bootstrap_ci_by_unit<T>(
    units: &[T],
    statistic: impl Fn(&[&T]) -> f64,
    resamples: usize,
    level: f64,
    seed: u64,
) -> (f64, f64) {
    let mut buf: Vec<&T> = Vec::with_capacity(units.len());
    percentile_ci(units.len(), resamples, level, seed, |idx| {
        buf.clear();
        buf.extend(idx.iter().map(|&i| &units[i]));
        statistic(&buf)
    })
}

/// The shared core: draws `resamples` index vectors of length `n` and turns
/// the statistics `stat_of(indices)` into a percentile interval.
fn percentile_ci(
    n: usize,
    resamples: usize,
    level: f64,
    seed: u64,
    mut stat_of: impl FnMut(&[usize]) -> f64,
) -> (f64, f64) {
    assert!(
        level > 0.0 && level < 1.0,
        "bootstrap: level must be in (0, 1), got {level}"
    );
    if n == 0 || resamples == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx = vec![0usize; n];
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for slot in idx.iter_mut() {
            // Draw in u64, not usize: rand samples a usize range through the
            // platform's pointer width, which would make the stream (and the
            // CI) differ between 32- and 64-bit targets.
            *slot = rng.gen_range(0..n as u64) as usize;
        }
        stats.push(stat_of(&idx));
    }
    let nan = stats.iter().filter(|s| s.is_nan()).count();
    if 2 * nan > resamples {
        return (f64::NAN, f64::NAN);
    }
    let alpha = (1.0 - level) / 2.0;
    // nan_quantiles skips the NaN resamples, as the rule above says.
    let q = nan_quantiles(&stats, &[alpha, 1.0 - alpha]);
    (q[0], q[1])
}

#[cfg(test)]
mod tests {
    use super::super::{mean, median, std};
    use super::*;

    /// Irwin–Hall(12) − 6 + `mu`: mean `mu`, variance 1, close to normal;
    /// deterministic via its own seed.
    fn normalish(n: usize, mu: f64, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| mu + (0..12).map(|_| rng.gen::<f64>()).sum::<f64>() - 6.0)
            .collect()
    }

    #[test]
    fn ci_of_mean_contains_truth_and_narrows_with_n() {
        let mu = 3.0;
        let mut widths = Vec::new();
        for (k, &n) in [100usize, 1000, 10_000].iter().enumerate() {
            let xs = normalish(n, mu, 100 + k as u64);
            // A 99.9% interval: missing the truth would take a 3.3σ sample.
            let (lo, hi) = bootstrap_ci(&xs, mean, 4000, 0.999, 11);
            assert!(
                lo < mu && mu < hi,
                "n={n}: 99.9% CI ({lo}, {hi}) misses {mu}"
            );
            let (lo, hi) = bootstrap_ci(&xs, mean, 2000, 0.95, 11);
            let m = mean(&xs);
            assert!(
                lo < m && m < hi,
                "n={n}: CI ({lo}, {hi}) misses the sample mean {m}"
            );
            // Normal theory: width ≈ 2 · 1.96 · σ/√n with σ = 1.
            let width = hi - lo;
            let expected = 2.0 * 1.959964 / (n as f64).sqrt();
            assert!(
                (width / expected - 1.0).abs() < 0.15,
                "n={n}: width {width} vs normal theory {expected}"
            );
            widths.push(width);
        }
        // Each 10× more data shrinks the width by about √10 ≈ 3.2.
        assert!(
            widths[1] < widths[0] / 2.5 && widths[2] < widths[1] / 2.5,
            "{widths:?}"
        );
    }

    #[test]
    fn ci_of_mean_has_nominal_coverage() {
        // Over many independent samples a 95% interval should contain the
        // true mean about 95% of the time (the percentile bootstrap
        // under-covers slightly at small n). 400 trials: binomial sd ≈ 1.1%.
        let trials = 400;
        let covered = (0..trials)
            .filter(|&t| {
                let xs = normalish(50, 0.0, 10_000 + t as u64);
                let (lo, hi) = bootstrap_ci(&xs, mean, 500, 0.95, t as u64);
                lo < 0.0 && 0.0 < hi
            })
            .count();
        let rate = covered as f64 / trials as f64;
        assert!((0.90..=0.985).contains(&rate), "coverage {rate}");
    }

    #[test]
    fn same_seed_same_ci() {
        let xs = normalish(300, 0.0, 5);
        let a = bootstrap_ci(&xs, median, 500, 0.9, 42);
        let b = bootstrap_ci(&xs, median, 500, 0.9, 42);
        assert_eq!(a, b);
        let c = bootstrap_ci(&xs, mean, 500, 0.9, 43);
        let d = bootstrap_ci(&xs, mean, 500, 0.9, 42);
        assert_ne!(c, d, "a different seed should give a different stream");
    }

    #[test]
    fn wider_level_gives_wider_interval() {
        let xs = normalish(200, 0.0, 9);
        let (l90, h90) = bootstrap_ci(&xs, mean, 1000, 0.90, 1);
        let (l99, h99) = bootstrap_ci(&xs, mean, 1000, 0.99, 1);
        assert!(l99 <= l90 && h90 <= h99);
    }

    #[test]
    fn nan_resamples_are_skipped_up_to_half() {
        // 0.0 plus 1..=20: a resample of 21 draws contains the 0.0 with
        // probability 1 − (20/21)^21 ≈ 0.64.
        let xs: Vec<f64> = (0..=20).map(|i| i as f64).collect();
        let has_zero = |s: &[f64]| s.contains(&0.0);
        // NaN in ≈ 36% of resamples: skipped, CI finite.
        let (lo, hi) = bootstrap_ci(
            &xs,
            |s| if has_zero(s) { mean(s) } else { f64::NAN },
            1000,
            0.95,
            3,
        );
        assert!(lo.is_finite() && hi.is_finite() && lo < hi, "({lo}, {hi})");
        // NaN in ≈ 64%: not estimable.
        let (lo, hi) = bootstrap_ci(
            &xs,
            |s| if has_zero(s) { f64::NAN } else { mean(s) },
            1000,
            0.95,
            3,
        );
        assert!(lo.is_nan() && hi.is_nan());
        let (lo, hi) = bootstrap_ci(&xs, |_| f64::NAN, 100, 0.95, 3);
        assert!(lo.is_nan() && hi.is_nan());
    }

    #[test]
    fn degenerate_inputs() {
        let (lo, hi) = bootstrap_ci(&[], mean, 100, 0.95, 0);
        assert!(lo.is_nan() && hi.is_nan());
        let (lo, hi) = bootstrap_ci(&[1.0, 2.0], mean, 0, 0.95, 0);
        assert!(lo.is_nan() && hi.is_nan());
        // A constant sample has a zero-width interval at the constant.
        assert_eq!(bootstrap_ci(&[2.5; 10], mean, 200, 0.95, 0), (2.5, 2.5));
    }

    #[test]
    #[should_panic(expected = "bootstrap: level must be in (0, 1)")]
    fn rejects_bad_level() {
        bootstrap_ci(&[1.0, 2.0], mean, 10, 95.0, 0);
    }

    #[test]
    fn by_unit_matches_scalar_version_on_scalars() {
        let xs = normalish(50, 1.0, 77);
        let a = bootstrap_ci(&xs, mean, 700, 0.95, 8);
        let b = bootstrap_ci_by_unit(
            &xs,
            |u| mean(&u.iter().map(|x| **x).collect::<Vec<_>>()),
            700,
            0.95,
            8,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn by_unit_keeps_units_together() {
        // Onsets per seed (rows) and temperature (columns). The statistic is
        // the temperature experiment's: std over temperatures of log10 of the
        // per-temperature median over seeds.
        let collapse_std = |units: &[&Vec<f64>]| {
            let per_t: Vec<f64> = (0..units[0].len())
                .map(|t| median(&units.iter().map(|u| u[t]).collect::<Vec<_>>()).log10())
                .collect();
            std(&per_t)
        };
        // Identical seeds: every resample gives the same value.
        let same = vec![vec![0.1, 0.2, 0.4]; 5];
        let point = collapse_std(&same.iter().collect::<Vec<_>>());
        assert_eq!(
            bootstrap_ci_by_unit(&same, collapse_std, 300, 0.95, 2),
            (point, point)
        );
        // Varying seeds: the interval brackets the point estimate.
        let seeds = vec![
            vec![0.14, 0.19, 0.39],
            vec![0.15, 0.18, 0.41],
            vec![0.13, 0.24, 0.35],
            vec![0.16, 0.21, 0.40],
            vec![0.12, 0.17, 0.44],
        ];
        let point = collapse_std(&seeds.iter().collect::<Vec<_>>());
        let (lo, hi) = bootstrap_ci_by_unit(&seeds, collapse_std, 2000, 0.95, 2);
        assert!(lo < point && point < hi, "({lo}, {hi}) vs {point}");
        assert!(lo > 0.0);
    }
}
