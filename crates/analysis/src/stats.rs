//! Small statistics and grids reused by the experiments.
//!
//! Three groups, one place, so every experiment aggregates seeds, detects
//! onsets and draws bands the same way (paper-spec §2, §6.2, §6.3, §6.5):
//! * descriptive statistics (this file): [`quantile`], [`median`], [`iqr`],
//!   [`mean`], [`std`](fn@std) and their NaN-ignoring `nan_*` variants;
//! * grids (this file): [`linspace`], [`logspace`] (takes *exponents*) and
//!   [`geomspace`] (takes the *endpoints*);
//! * resampling (`stats/bootstrap.rs`): [`bootstrap_ci`] over values and
//!   [`bootstrap_ci_by_unit`] over whole units such as seeds;
//! * curves (`stats/curve.rs`): threshold onsets ([`onset`], interpolated;
//!   [`first_grid_onset`], the author's grid rule), [`interp`] onto new
//!   abscissae, [`overlap`] of several curves' ranges and the seed [`band`]
//!   (median and two quantiles per point, [`Band`]).
//!
//! Conventions:
//! * [`quantile`] interpolates linearly between order statistics, exactly like
//!   numpy's default (`method="linear"`): position `q * (n - 1)` in the sorted data.
//! * Plain functions return NaN when the data is empty or contains a NaN;
//!   the `nan_*` variants ignore NaN values (±inf are kept as ordinary values)
//!   and return NaN only when nothing is left.
//! * [`std`](fn@std) is the sample standard deviation (ddof = 1); it is NaN below 2 values.
//! * Curves are `(x, y)` slices of equal length with `x` finite and strictly
//!   increasing (and positive when interpolating in log x); a violation is a
//!   bug in the caller and panics with a message naming the function. `y` may
//!   hold NaN (a diverged or unmeasured point) and ±inf.

mod bootstrap;
mod curve;

pub use bootstrap::{bootstrap_ci, bootstrap_ci_by_unit};
pub use curve::{band, first_grid_onset, interp, onset, overlap, Band};

/// Quantile `q` in `[0, 1]` of `xs` with linear interpolation (numpy default).
/// NaN if `xs` is empty, contains NaN, or `q` is outside `[0, 1]` or NaN.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    nan_quantile(xs, q)
}

/// [`quantile`] ignoring NaN values.
pub fn nan_quantile(xs: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    sorted_quantile(&v, q)
}

/// Quantiles of already sorted, NaN-free data (no checks on the order).
fn sorted_quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let frac = pos - lo as f64;
    if frac == 0.0 || v[lo] == v[hi] {
        v[lo]
    } else {
        // Clamp: rounding must not step past the next order statistic.
        (v[lo] + (v[hi] - v[lo]) * frac).clamp(v[lo], v[hi])
    }
}

/// Several quantiles at once (one sort), NaN values ignored.
pub fn nan_quantiles(xs: &[f64], qs: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    qs.iter().map(|&q| sorted_quantile(&v, q)).collect()
}

/// Per index `i` in `0..n`: the NaN-skipping quantiles `qs` of
/// `value(item, i)` over `items`: `out[k][i]` is quantile `qs[k]` at `i`.
/// The median-and-IQR band of per-step (or per-grid-point) curves over
/// seeds: `per_index_quantiles(&runs, steps, |r, t| r.loss[t], &[0.25, 0.5, 0.75])`.
pub fn per_index_quantiles<T>(
    items: &[T],
    n: usize,
    value: impl Fn(&T, usize) -> f64,
    qs: &[f64],
) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::with_capacity(n); qs.len()];
    for i in 0..n {
        let column: Vec<f64> = items.iter().map(|x| value(x, i)).collect();
        for (o, q) in out.iter_mut().zip(nan_quantiles(&column, qs)) {
            o.push(q);
        }
    }
    out
}

/// The largest finite value of `xs`; NaN if none is finite (a diverged
/// run's inf and NaN entries are not a maximum).
pub fn max_finite(xs: &[f64]) -> f64 {
    xs.iter()
        .copied()
        .filter(|x| x.is_finite())
        .reduce(f64::max)
        .unwrap_or(f64::NAN)
}

/// Median (the 0.5 quantile); NaN if empty or any value is NaN.
pub fn median(xs: &[f64]) -> f64 {
    quantile(xs, 0.5)
}

/// Median ignoring NaN values.
pub fn nan_median(xs: &[f64]) -> f64 {
    nan_quantile(xs, 0.5)
}

/// Interquartile range as the pair `(25th percentile, 75th percentile)`.
pub fn iqr(xs: &[f64]) -> (f64, f64) {
    (quantile(xs, 0.25), quantile(xs, 0.75))
}

/// [`iqr`] ignoring NaN values.
pub fn nan_iqr(xs: &[f64]) -> (f64, f64) {
    let q = nan_quantiles(xs, &[0.25, 0.75]);
    (q[0], q[1])
}

/// Arithmetic mean; NaN if empty (a NaN value propagates).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Mean ignoring NaN values.
pub fn nan_mean(xs: &[f64]) -> f64 {
    let v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    mean(&v)
}

/// Sample standard deviation (ddof = 1, two-pass); NaN below 2 values.
pub fn std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let m = mean(xs);
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (xs.len() - 1) as f64).sqrt()
}

/// Sample standard deviation ignoring NaN values.
pub fn nan_std(xs: &[f64]) -> f64 {
    let v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    std(&v)
}

/// `n` evenly spaced values from `a` to `b` inclusive; the first is exactly
/// `a` and the last exactly `b`. `n == 1` gives `[a]`, `n == 0` gives `[]`.
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![a],
        _ => {
            let step = (b - a) / (n - 1) as f64;
            let mut v: Vec<f64> = (0..n).map(|i| a + step * i as f64).collect();
            v[n - 1] = b;
            v
        }
    }
}

/// `n` values from `10^a` to `10^b`, evenly spaced in log10 (numpy's
/// `logspace(a, b, n)`); the endpoints are exactly `10^a` and `10^b`.
///
/// Note that `a` and `b` are *exponents*: `logspace(-2.0, 2.0, 5)` is
/// `[0.01, 0.1, 1, 10, 100]`. To give the endpoints themselves use
/// [`geomspace`].
pub fn logspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    linspace(a, b, n)
        .into_iter()
        .map(|e| 10f64.powf(e))
        .collect()
}

/// `n` values from `a` to `b` inclusive in geometric progression (numpy's
/// `geomspace(a, b, n)`): constant ratio between neighbours, the first exactly
/// `a` and the last exactly `b`. `n == 1` gives `[a]`, `n == 0` gives `[]`.
///
/// Unlike [`logspace`], `a` and `b` are the *endpoints*, not exponents:
/// `geomspace(1e-4, 2.0, 80)` is the temperature experiment's τ grid
/// (paper-spec §6.5). Exact endpoints matter because [`interp`] returns NaN
/// outside a curve's range: a grid spanning exactly a curve's range must not
/// lose its end points to rounding.
///
/// Panics unless `a` and `b` are finite, non-zero and of the same sign (a
/// geometric progression cannot cross or touch zero). Both negative gives
/// the mirrored progression, as in numpy.
pub fn geomspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    assert!(
        a.is_finite() && b.is_finite() && a != 0.0 && b != 0.0 && (a > 0.0) == (b > 0.0),
        "geomspace: endpoints must be finite, non-zero and of the same sign, got {a} and {b}"
    );
    let sign = a.signum();
    let mut v: Vec<f64> = logspace((sign * a).log10(), (sign * b).log10(), n)
        .into_iter()
        .map(|x| sign * x)
        .collect();
    // 10^log10(a) need not round-trip to a; pin the endpoints.
    if n >= 1 {
        v[0] = a;
    }
    if n >= 2 {
        v[n - 1] = b;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numpy_linear_quantiles() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        // numpy.quantile([1,2,3,4], [0, .25, .5, .9, 1]) = [1, 1.75, 2.5, 3.7, 4]
        assert_eq!(quantile(&xs, 0.0), 1.0);
        assert!((quantile(&xs, 0.25) - 1.75).abs() < 1e-12);
        assert_eq!(median(&xs), 2.5);
        assert!((quantile(&xs, 0.9) - 3.7).abs() < 1e-12);
        assert_eq!(quantile(&xs, 1.0), 4.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(iqr(&[1.0, 2.0, 3.0, 4.0, 5.0]), (2.0, 4.0));
    }

    #[test]
    fn nan_handling() {
        let xs = [1.0, f64::NAN, 3.0];
        assert!(median(&xs).is_nan());
        assert_eq!(nan_median(&xs), 2.0);
        assert_eq!(nan_mean(&xs), 2.0);
        assert!(mean(&xs).is_nan());
        assert!((nan_std(&xs) - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(nan_iqr(&xs), (1.5, 2.5));
        assert!(nan_median(&[f64::NAN]).is_nan());
        assert!(median(&[]).is_nan());
        assert!(quantile(&[1.0], 1.5).is_nan());
        assert_eq!(nan_median(&[1.0, f64::INFINITY, 2.0]), 2.0);
    }

    #[test]
    fn std_is_sample_std() {
        // numpy.std([2,4,4,4,5,5,7,9], ddof=1) = 2.138089935299395
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!((std(&xs) - 2.138089935299395).abs() < 1e-12);
        assert!(std(&[1.0]).is_nan());
    }

    #[test]
    fn grids() {
        assert_eq!(linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(linspace(2.0, 3.0, 1), vec![2.0]);
        assert!(linspace(0.0, 1.0, 0).is_empty());
        let l = logspace(-2.0, 2.0, 5);
        assert_eq!(l[0], 0.01);
        assert_eq!(l[4], 100.0);
        assert!((l[2] - 1.0).abs() < 1e-15);
    }

    #[test]
    fn geomspace_takes_endpoints() {
        let g = geomspace(0.01, 100.0, 5);
        assert_eq!(g[0], 0.01);
        assert_eq!(g[4], 100.0);
        let l = logspace(-2.0, 2.0, 5);
        for (a, b) in g.iter().zip(&l) {
            assert!((a / b - 1.0).abs() < 1e-14, "{g:?} vs {l:?}");
        }
        // Endpoints whose log10 does not round-trip are still exact.
        let t = geomspace(1e-4, 2.0, 80);
        assert_eq!((t[0], t[79]), (1e-4, 2.0));
        let ratio = t[1] / t[0];
        for w in t.windows(2) {
            assert!((w[1] / w[0] / ratio - 1.0).abs() < 1e-12);
        }
        assert_eq!(geomspace(3.0, 7.0, 1), vec![3.0]);
        assert!(geomspace(3.0, 7.0, 0).is_empty());
        let neg = geomspace(-1.0, -100.0, 3);
        assert_eq!(neg[0], -1.0);
        assert!((neg[1] + 10.0).abs() < 1e-12);
        assert_eq!(neg[2], -100.0);
    }

    #[test]
    #[should_panic(expected = "geomspace: endpoints must be finite, non-zero and of the same sign")]
    fn geomspace_rejects_zero() {
        geomspace(0.0, 1.0, 3);
    }

    proptest! {
        #![proptest_config(proptest::test_runner::Config { rng_seed: proptest::test_runner::RngSeed::Fixed(20261124), ..proptest::test_runner::Config::default() })]
        #[test]
        fn quantile_monotone_in_q(
            xs in prop::collection::vec(-1e6f64..1e6, 1..50),
            q1 in 0.0f64..=1.0,
            q2 in 0.0f64..=1.0,
        ) {
            let (lo, hi) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
            prop_assert!(quantile(&xs, lo) <= quantile(&xs, hi));
        }

        #[test]
        fn median_between_min_and_max(xs in prop::collection::vec(-1e6f64..1e6, 1..50)) {
            let m = median(&xs);
            let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
            let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(min <= m && m <= max);
        }

        #[test]
        fn linspace_endpoints_exact(a in -1e6f64..1e6, b in -1e6f64..1e6, n in 2usize..200) {
            let v = linspace(a, b, n);
            prop_assert_eq!(v.len(), n);
            prop_assert_eq!(v[0], a);
            prop_assert_eq!(v[n - 1], b);
        }

        #[test]
        fn nan_variants_ignore_nan(xs in prop::collection::vec(-1e3f64..1e3, 1..30), k in 0usize..5) {
            let mut with_nan = xs.clone();
            for _ in 0..k { with_nan.push(f64::NAN); }
            prop_assert_eq!(nan_median(&with_nan), median(&xs));
            prop_assert_eq!(nan_mean(&with_nan), mean(&xs));
        }
    }
}
