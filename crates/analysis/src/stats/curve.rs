//! Curves `y(x)` sampled on a grid: threshold onsets, interpolation onto new
//! abscissae and seed bands.
//!
//! The single-step experiments sweep a step size (r = τ/ρa, or τ) on a grid
//! and record a loss ratio, retained accuracy or flip fraction per point.
//! They summarise a curve by where it first crosses a threshold (the
//! "onset", paper-spec §6.2, §6.3, §6.5) and several seeds' curves by a
//! median with a quantile band. Their grids are mostly logarithmic, so every
//! function here can interpolate linearly in log x (`log_x = true`), i.e.
//! along the straight segments a log-x plot draws.
//!
//! Grid requirements (checked; a violation panics with the function's name):
//! `x` and `y` have equal length, `x` is finite and strictly increasing, and
//! with `log_x` every `x` is positive. `y` may hold NaN (diverged or
//! unmeasured) and ±inf.

use super::nan_quantiles;

/// Checks the grid requirements of the module doc for `x` (and `y`'s length).
fn check_curve(x: &[f64], y: &[f64], log_x: bool, who: &str) {
    assert_eq!(
        x.len(),
        y.len(),
        "{who}: x and y must have the same length ({} vs {})",
        x.len(),
        y.len()
    );
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        panic!("{who}: x must be finite, x[{i}] = {}", x[i]);
    }
    if let Some(i) = x.windows(2).position(|w| w[0] >= w[1]) {
        panic!(
            "{who}: x must be strictly increasing, x[{i}] = {} is not < x[{}] = {}",
            x[i],
            i + 1,
            x[i + 1]
        );
    }
    if log_x && !x.is_empty() && x[0] <= 0.0 {
        panic!("{who}: log_x needs positive x, x[0] = {}", x[0]);
    }
}

/// The point a fraction `t ∈ [0, 1]` of the way from `x0` to `x1 > x0`,
/// geometrically when `log_x`. Clamped to `[x0, x1]` so rounding can never
/// move an onset outside its bracketing grid points.
fn between(x0: f64, x1: f64, t: f64, log_x: bool) -> f64 {
    if t >= 1.0 {
        return x1;
    }
    if t <= 0.0 {
        return x0;
    }
    let v = if log_x {
        // The base of the logarithm cancels; ln is as good as log10.
        (x0.ln() + t * (x1.ln() - x0.ln())).exp()
    } else {
        x0 + t * (x1 - x0)
    };
    v.clamp(x0, x1)
}

/// Where `y` first crosses `threshold` upwards, interpolated between the two
/// bracketing grid points; `None` if it never does.
///
/// The crossing is the first index `i` with `y[i] >= threshold` (a NaN `y`
/// never counts as crossed). Then:
/// * `i == 0`: the curve starts at or above the threshold, the onset is
///   `x[0]` (no earlier point to interpolate from);
/// * `y[i-1]` and `y[i]` both finite (so `y[i-1] < threshold <= y[i]`): the
///   onset is where the straight segment between them reaches `threshold`,
///   linear in log10(x) when `log_x` (the segment a log-x plot draws), else
///   linear in x. It lies in `[x[i-1], x[i]]` (above `x[i-1]` except when
///   the crossing is within rounding of it), and equals `x[i]` when
///   `y[i] == threshold`;
/// * otherwise (`y[i-1]` is NaN, or `y[i]` is +inf, or `y[i-1]` is -inf):
///   there is no finite segment to interpolate along, so the onset is the
///   grid point `x[i]`, as in [`first_grid_onset`]. A NaN gap thus delays
///   the onset to the first finite point at or above the threshold rather
///   than guessing what happened inside the gap.
///
/// A NaN threshold is never crossed. The result is always at most
/// [`first_grid_onset`]`(x, y, threshold)` and is `None` exactly when that is.
///
/// ```
/// use analysis::stats::onset;
/// let r = [1.0, 10.0, 100.0];
/// let loss_ratio = [1.0, 1.5, 2.5];
/// // Half-way from 1.5 to 2.5 is half-way from 10 to 100 in log10: 10^1.5.
/// let o = onset(&r, &loss_ratio, 2.0, true).unwrap();
/// assert!((o - 10f64.powf(1.5)).abs() < 1e-12);
/// assert_eq!(onset(&r, &loss_ratio, 2.0, false), Some(55.0));
/// assert_eq!(onset(&r, &loss_ratio, 3.0, true), None);
/// ```
///
/// Panics if the grid requirements of the module doc are violated.
pub fn onset(x: &[f64], y: &[f64], threshold: f64, log_x: bool) -> Option<f64> {
    check_curve(x, y, log_x, "onset");
    let i = y.iter().position(|&v| v >= threshold)?;
    if i == 0 {
        return Some(x[0]);
    }
    let (y0, y1) = (y[i - 1], y[i]);
    if !(y0.is_finite() && y1.is_finite()) {
        return Some(x[i]);
    }
    // y0 < threshold <= y1 here, so 0 < t <= 1 (rounding is monotone, so
    // threshold - y0 <= y1 - y0 survives it).
    let t = (threshold - y0) / (y1 - y0);
    Some(between(x[i - 1], x[i], t, log_x))
}

/// The first grid point `x[i]` with `y[i] >= threshold`, `None` if there is
/// none: the author's onset rule ("first grid r with loss ratio ≥ 1.1",
/// paper-spec §6.2; "≥ 2.0" in §6.5).
///
/// It is biased late by up to one grid step relative to [`onset`]; the
/// experiments report both. NaN `y` values never count as crossed. `x` need
/// not be sorted (only the lengths are checked).
///
/// ```
/// use analysis::stats::first_grid_onset;
/// assert_eq!(first_grid_onset(&[0.1, 1.0, 10.0], &[1.0, 1.2, 3.0], 1.1), Some(1.0));
/// assert_eq!(first_grid_onset(&[0.1, 1.0], &[f64::NAN, 1.0], 1.1), None);
/// ```
pub fn first_grid_onset(x: &[f64], y: &[f64], threshold: f64) -> Option<f64> {
    assert_eq!(
        x.len(),
        y.len(),
        "first_grid_onset: x and y must have the same length ({} vs {})",
        x.len(),
        y.len()
    );
    y.iter().position(|&v| v >= threshold).map(|i| x[i])
}

/// The curve `(x, y)` evaluated at the points `at` by linear interpolation
/// between neighbouring grid points (in log10 x when `log_x`), NaN outside
/// `[x[0], x[last]]`.
///
/// No extrapolation (unlike numpy's `interp`, which clamps): a seed whose
/// sweep does not reach a point must not vote in a band there (paper-spec
/// §6.5 B: "NaN outside each seed's range"). At a grid point the curve's own
/// value is returned exactly; a NaN neighbour makes the interpolated value
/// NaN. An empty curve or a NaN `at` gives NaN; `at` may be in any order.
///
/// ```
/// use analysis::stats::interp;
/// let v = interp(&[1.0, 100.0], &[0.0, 2.0], &[0.5, 1.0, 10.0, 100.0, 200.0], true);
/// assert!(v[0].is_nan() && v[4].is_nan());
/// assert_eq!(v[1], 0.0);
/// assert!((v[2] - 1.0).abs() < 1e-12); // 10 is half-way in log10
/// assert_eq!(v[3], 2.0);
/// ```
///
/// Panics if the grid requirements of the module doc are violated (in
/// particular "interp: x must be strictly increasing ...").
pub fn interp(x: &[f64], y: &[f64], at: &[f64], log_x: bool) -> Vec<f64> {
    check_curve(x, y, log_x, "interp");
    at.iter().map(|&a| interp_one(x, y, a, log_x)).collect()
}

/// [`interp`] at one point, on an already checked grid.
fn interp_one(x: &[f64], y: &[f64], a: f64, log_x: bool) -> f64 {
    // Also rejects a NaN `a` and an empty grid.
    if x.is_empty() || !(a >= x[0] && a <= x[x.len() - 1]) {
        return f64::NAN;
    }
    // First grid point >= a; j >= 1 unless a == x[0].
    let j = x.partition_point(|&xi| xi < a);
    if x[j] == a {
        return y[j];
    }
    let (x0, x1, y0, y1) = (x[j - 1], x[j], y[j - 1], y[j]);
    let lin = (a - x0) / (x1 - x0);
    let t = if log_x {
        let den = x1.ln() - x0.ln();
        // Neighbours so close that their logs round equal: the linear
        // fraction is then the same to rounding and avoids 0/0.
        if den > 0.0 {
            (a.ln() - x0.ln()) / den
        } else {
            lin
        }
    } else {
        lin
    }
    .clamp(0.0, 1.0);
    if y0 == y1 {
        // Also keeps inf as inf instead of inf - inf = NaN.
        return y0;
    }
    let v = y0 + t * (y1 - y0);
    if y0.is_finite() && y1.is_finite() {
        // Rounding must not leave the segment (keeps monotone curves monotone).
        v.clamp(y0.min(y1), y0.max(y1))
    } else {
        v
    }
}

/// The x range `(lo, hi)` that every curve covers: the largest first x and
/// the smallest last x. `None` when there are no curves, a curve is empty
/// or the ranges do not overlap.
///
/// The temperature experiment's panel A interpolates each seed onto grid
/// points spanning exactly this overlap (paper-spec §6.5), e.g.
/// `geomspace(lo, hi, 100)`. Only `x` matters here: a NaN `y` at the end of a
/// sweep still counts as covered.
///
/// Panics if the grid requirements of the module doc are violated
/// (`log_x = false`).
pub fn overlap(curves: &[(Vec<f64>, Vec<f64>)]) -> Option<(f64, f64)> {
    let mut range: Option<(f64, f64)> = None;
    for (x, y) in curves {
        check_curve(x, y, false, "overlap");
        let (a, b) = (*x.first()?, *x.last()?);
        range = Some(match range {
            None => (a, b),
            Some((lo, hi)) => (lo.max(a), hi.min(b)),
        });
    }
    range.filter(|(lo, hi)| lo <= hi)
}

/// Median and a quantile band of several curves on common abscissae, as
/// returned by [`band`]. All four vectors have the length of `x`.
///
/// Not to be confused with [`plot::Band`](crate::plot::Band), the shaded
/// area of a figure; [`Band::plot_band`] converts.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// The abscissae (the `at` given to [`band`]).
    pub x: Vec<f64>,
    /// NaN-aware median over the curves at each point.
    pub median: Vec<f64>,
    /// NaN-aware lower quantile (`lo_q`) at each point.
    pub lo: Vec<f64>,
    /// NaN-aware upper quantile (`hi_q`) at each point.
    pub hi: Vec<f64>,
}

impl Band {
    /// The `lo..hi` area as a figure band with legend text `label` (empty
    /// keeps it out of the legend); plot [`Band::median`] as a series.
    pub fn plot_band(&self, label: impl Into<String>) -> crate::plot::Band {
        crate::plot::Band::new(label, self.x.clone(), self.lo.clone(), self.hi.clone())
    }
}

/// Median and `lo_q`/`hi_q` quantile band over several seeds' (or
/// directions') curves.
///
/// Each curve `(x, y)` is interpolated onto `at` with [`interp`] (so it is
/// NaN outside its own x range and where its neighbouring points are NaN);
/// then at each point the median and the `lo_q`, `hi_q` quantiles are taken
/// over the curves that have a value there (NaN-aware, numpy-linear
/// quantiles, see [`nan_quantile`](super::nan_quantile)). A point no curve
/// covers is NaN in all three. `0.25`/`0.75` gives the IQR band of paper
/// figures 6, 9–12; `0.1`/`0.9` the band of Fig 8 (paper-spec §2).
///
/// ```
/// use analysis::stats::{band, geomspace};
/// let x = geomspace(0.01, 100.0, 9);
/// let curves: Vec<(Vec<f64>, Vec<f64>)> = (1..=3)
///     .map(|k| (x.clone(), x.iter().map(|r| k as f64 * r).collect()))
///     .collect();
/// let b = band(&curves, &[1.0], true, 0.25, 0.75);
/// assert_eq!((b.lo[0], b.median[0], b.hi[0]), (1.5, 2.0, 2.5));
/// ```
///
/// Panics unless `0 <= lo_q <= hi_q <= 1`, or if a curve violates the grid
/// requirements of the module doc.
pub fn band(
    curves: &[(Vec<f64>, Vec<f64>)],
    at: &[f64],
    log_x: bool,
    lo_q: f64,
    hi_q: f64,
) -> Band {
    assert!(
        (0.0..=1.0).contains(&lo_q) && (0.0..=1.0).contains(&hi_q) && lo_q <= hi_q,
        "band: need 0 <= lo_q <= hi_q <= 1, got lo_q = {lo_q}, hi_q = {hi_q}"
    );
    let on_grid: Vec<Vec<f64>> = curves
        .iter()
        .map(|(x, y)| {
            check_curve(x, y, log_x, "band");
            interp(x, y, at, log_x)
        })
        .collect();
    let n = at.len();
    let mut out = Band {
        x: at.to_vec(),
        median: Vec::with_capacity(n),
        lo: Vec::with_capacity(n),
        hi: Vec::with_capacity(n),
    };
    let mut column = Vec::with_capacity(curves.len());
    for j in 0..n {
        column.clear();
        column.extend(on_grid.iter().map(|c| c[j]));
        let q = nan_quantiles(&column, &[lo_q, 0.5, hi_q]);
        out.lo.push(q[0]);
        out.median.push(q[1]);
        out.hi.push(q[2]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{geomspace, linspace, logspace};
    use super::*;
    use proptest::prelude::*;

    const NAN: f64 = f64::NAN;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs())
    }

    #[test]
    fn onset_matches_analytic_log_crossing() {
        // y = 1 + 0.5·log10(x) is a straight line in log x, so the
        // log-interpolated crossing is exact: y = 1.3 at x = 10^0.6.
        let x = logspace(-2.0, 2.0, 9);
        let y: Vec<f64> = x.iter().map(|v| 1.0 + 0.5 * v.log10()).collect();
        let o = onset(&x, &y, 1.3, true).unwrap();
        assert!(close(o, 10f64.powf(0.6), 1e-12), "{o}");
        // The grid rule reports the next grid point, 10^1.
        assert!(close(first_grid_onset(&x, &y, 1.3).unwrap(), 10.0, 1e-12));
        // Hand-made three-point curve: half-way in y is half-way in log10 x
        // (√10·10) or in x (55).
        let (x, y) = ([1.0, 10.0, 100.0], [0.5, 1.0, 3.0]);
        assert!(close(
            onset(&x, &y, 2.0, true).unwrap(),
            10f64.powf(1.5),
            1e-14
        ));
        assert_eq!(onset(&x, &y, 2.0, false), Some(55.0));
        // Exactly at a grid value: that grid point.
        assert_eq!(onset(&x, &y, 1.0, true), Some(10.0));
    }

    #[test]
    fn onset_never_crossed_is_none() {
        let x = [0.1, 1.0, 10.0];
        assert_eq!(onset(&x, &[1.0, 1.5, 1.9], 2.0, true), None);
        assert_eq!(first_grid_onset(&x, &[1.0, 1.5, 1.9], 2.0), None);
        assert_eq!(onset(&x, &[NAN, NAN, NAN], 2.0, true), None);
        assert_eq!(onset(&x, &[1.0, 3.0, 4.0], NAN, true), None);
        assert_eq!(onset(&[], &[], 2.0, true), None);
    }

    #[test]
    fn onset_at_first_point() {
        let x = [0.1, 1.0, 10.0];
        assert_eq!(onset(&x, &[2.0, 1.0, 5.0], 2.0, true), Some(0.1));
        assert_eq!(onset(&x, &[7.0, 8.0, 9.0], 2.0, false), Some(0.1));
        assert_eq!(first_grid_onset(&x, &[7.0, 8.0, 9.0], 2.0), Some(0.1));
    }

    #[test]
    fn onset_nan_and_inf_rules() {
        let x = [0.1, 1.0, 10.0, 100.0];
        // NaN before the crossing: no finite segment, the grid point.
        assert_eq!(onset(&x, &[1.0, NAN, 3.0, 4.0], 2.0, true), Some(10.0));
        assert_eq!(onset(&x, &[NAN, 3.0, 4.0, 5.0], 2.0, true), Some(1.0));
        // A NaN gap earlier does not prevent interpolating a later segment.
        assert_eq!(onset(&x, &[NAN, 1.0, 3.0, 4.0], 2.0, false), Some(5.5));
        // Blow-up to +inf: the grid point, not the left end of the segment.
        assert_eq!(
            onset(&x, &[1.0, 1.5, f64::INFINITY, 4.0], 2.0, true),
            Some(10.0)
        );
        assert_eq!(
            onset(&x, &[f64::NEG_INFINITY, 3.0, 4.0, 5.0], 2.0, true),
            Some(1.0)
        );
    }

    #[test]
    #[should_panic(expected = "onset: x must be strictly increasing")]
    fn onset_rejects_unsorted_x() {
        onset(&[1.0, 0.5], &[0.0, 1.0], 0.5, false);
    }

    #[test]
    #[should_panic(expected = "onset: log_x needs positive x")]
    fn onset_rejects_nonpositive_log_x() {
        onset(&[0.0, 1.0], &[0.0, 1.0], 0.5, true);
    }

    #[test]
    fn interp_reproduces_grid_and_is_nan_outside() {
        let x = geomspace(1e-3, 10.0, 17);
        let y: Vec<f64> = x.iter().map(|v| v.sqrt() + 1.0).collect();
        for log_x in [false, true] {
            assert_eq!(interp(&x, &y, &x, log_x), y);
            let out = interp(&x, &y, &[9e-4, 10.0001, NAN, -1.0], log_x);
            assert!(out.iter().all(|v| v.is_nan()), "{out:?}");
        }
        assert!(interp(&[], &[], &[1.0], false)[0].is_nan());
        // Single point: defined only there.
        assert_eq!(interp(&[2.0], &[5.0], &[2.0], true), vec![5.0]);
        assert!(interp(&[2.0], &[5.0], &[2.5], true)[0].is_nan());
    }

    #[test]
    fn interp_linear_and_log() {
        let (x, y) = ([1.0, 100.0], [0.0, 4.0]);
        let lin = interp(&x, &y, &[10.0, 50.5], false);
        assert!(close(lin[0], 4.0 * 9.0 / 99.0, 1e-14));
        assert!(close(lin[1], 2.0, 1e-14));
        let log = interp(&x, &y, &[10.0], true);
        assert!(close(log[0], 2.0, 1e-14));
        // NaN neighbour poisons only its segments.
        let v = interp(
            &[1.0, 2.0, 3.0, 4.0],
            &[0.0, NAN, 2.0, 4.0],
            &[1.5, 2.5, 3.5],
            false,
        );
        assert!(v[0].is_nan() && v[1].is_nan() && v[2] == 3.0);
        // Constant infinite segment stays infinite.
        let v = interp(&[1.0, 2.0], &[f64::INFINITY, f64::INFINITY], &[1.5], false);
        assert_eq!(v[0], f64::INFINITY);
    }

    #[test]
    #[should_panic(expected = "interp: x must be strictly increasing, x[1] = 2 is not < x[2] = 2")]
    fn interp_rejects_non_increasing_x() {
        interp(&[1.0, 2.0, 2.0], &[0.0, 1.0, 2.0], &[1.5], false);
    }

    #[test]
    #[should_panic(expected = "interp: x and y must have the same length")]
    fn interp_rejects_length_mismatch() {
        interp(&[1.0, 2.0], &[0.0], &[1.5], false);
    }

    #[test]
    fn band_of_identical_curves_is_degenerate() {
        let x = geomspace(1e-3, 35.0, 42);
        let y: Vec<f64> = x.iter().map(|r| 1.0 + r * r).collect();
        let curves = vec![(x.clone(), y.clone()); 5];
        let at = geomspace(1e-3, 35.0, 100);
        let b = band(&curves, &at, true, 0.1, 0.9);
        assert_eq!(b.x, at);
        assert_eq!(b.lo, b.median);
        assert_eq!(b.hi, b.median);
        assert_eq!(b.median, interp(&x, &y, &at, true));
    }

    #[test]
    fn band_quantiles_and_coverage() {
        let x = linspace(0.0, 10.0, 11);
        let mut curves: Vec<(Vec<f64>, Vec<f64>)> = (1..=3)
            .map(|k| (x.clone(), x.iter().map(|v| k as f64 * v).collect()))
            .collect();
        // A fourth curve covering only [0, 5].
        curves.push((linspace(0.0, 5.0, 6), vec![100.0; 6]));
        let b = band(&curves, &[2.5, 8.0, 11.0], false, 0.25, 0.75);
        // At 2.5 all four vote: [2.5, 5, 7.5, 100].
        assert_eq!(b.median[0], 6.25);
        assert_eq!(b.lo[0], 4.375);
        assert_eq!(b.hi[0], 30.625);
        // At 8 only the first three: [8, 16, 24].
        assert_eq!((b.lo[1], b.median[1], b.hi[1]), (12.0, 16.0, 20.0));
        // At 11 nobody.
        assert!(b.lo[2].is_nan() && b.median[2].is_nan() && b.hi[2].is_nan());
        let pb = b.plot_band("IQR");
        assert_eq!(pb.x, b.x);
        assert_eq!((&pb.lo[..2], &pb.hi[..2]), (&b.lo[..2], &b.hi[..2]));
        // No curves: all NaN.
        let empty = band(&[], &[1.0], false, 0.25, 0.75);
        assert!(empty.median[0].is_nan());
    }

    #[test]
    #[should_panic(expected = "band: need 0 <= lo_q <= hi_q <= 1")]
    fn band_rejects_swapped_quantiles() {
        band(&[], &[1.0], false, 0.75, 0.25);
    }

    #[test]
    fn overlap_of_ranges() {
        let c = |a: f64, b: f64| (vec![a, b], vec![0.0, 0.0]);
        assert_eq!(
            overlap(&[c(1e-4, 2.0), c(1e-3, 1.5), c(1e-4, 3.0)]),
            Some((1e-3, 1.5))
        );
        assert_eq!(overlap(&[c(0.0, 1.0), c(2.0, 3.0)]), None);
        assert_eq!(overlap(&[]), None);
        assert_eq!(overlap(&[c(0.0, 1.0), (vec![], vec![])]), None);
    }

    /// A strictly increasing positive grid of 2..40 points and a `y` of the
    /// same length with some NaN.
    fn curve() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
        (
            1e-4f64..10.0,
            prop::collection::vec(
                (0.01f64..2.0, prop::option::weighted(0.9, -5.0f64..5.0)),
                2..40,
            ),
        )
            .prop_map(|(start, steps)| {
                let mut x = Vec::with_capacity(steps.len());
                let mut cur = start;
                for (factor, _) in &steps {
                    x.push(cur);
                    cur *= 1.0 + factor;
                }
                let y = steps.iter().map(|(_, v)| v.unwrap_or(f64::NAN)).collect();
                (x, y)
            })
    }

    proptest! {
        #![proptest_config(proptest::test_runner::Config { rng_seed: proptest::test_runner::RngSeed::Fixed(20261124), ..proptest::test_runner::Config::default() })]

        #[test]
        fn onset_lies_between_bracketing_grid_points(
            (x, y) in curve(),
            threshold in -5.0f64..5.0,
            log_x in any::<bool>(),
        ) {
            let o = onset(&x, &y, threshold, log_x);
            let g = first_grid_onset(&x, &y, threshold);
            prop_assert_eq!(o.is_some(), g.is_some());
            if let (Some(o), Some(g)) = (o, g) {
                let i = x.iter().position(|&v| v == g).unwrap();
                prop_assert!(y[i] >= threshold);
                prop_assert!(y[..i].iter().all(|&v| !(v >= threshold)));
                if i == 0 {
                    prop_assert_eq!(o, x[0]);
                } else {
                    prop_assert!(x[i - 1] <= o && o <= x[i], "{} not in [{}, {}]", o, x[i - 1], x[i]);
                }
                // Interpolating the curve back at the onset recovers the
                // threshold when the bracketing segment is finite.
                if i > 0 && y[i - 1].is_finite() && o < x[i] {
                    let back = interp(&x, &y, &[o], log_x)[0];
                    prop_assert!((back - threshold).abs() < 1e-9 * (1.0 + threshold.abs()), "{} vs {}", back, threshold);
                }
            }
        }

        #[test]
        fn interp_exact_on_grid_and_within_segment(
            (x, y) in curve(),
            u in 0.0f64..1.0,
            log_x in any::<bool>(),
        ) {
            let on = interp(&x, &y, &x, log_x);
            for (a, b) in on.iter().zip(&y) {
                prop_assert!(a == b || (a.is_nan() && b.is_nan()));
            }
            // A point inside the range lies between its segment's y values.
            let a = x[0] + u * (x[x.len() - 1] - x[0]);
            let v = interp(&x, &y, &[a], log_x)[0];
            let j = x.partition_point(|&xi| xi < a).max(1);
            let (y0, y1) = (y[j - 1], y[j]);
            if y0.is_nan() || y1.is_nan() {
                prop_assert!(v.is_nan() || x[j] == a || x[j - 1] == a);
            } else {
                prop_assert!(y0.min(y1) <= v && v <= y0.max(y1));
            }
        }

        #[test]
        fn band_is_ordered_and_degenerate_for_copies(
            (x, y) in curve(),
            copies in 1usize..6,
            log_x in any::<bool>(),
        ) {
            let at = linspace(x[0], x[x.len() - 1], 30);
            let b = band(&vec![(x.clone(), y.clone()); copies], &at, log_x, 0.1, 0.9);
            let direct = interp(&x, &y, &at, log_x);
            for j in 0..at.len() {
                let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
                prop_assert!(same(b.median[j], direct[j]));
                prop_assert!(same(b.lo[j], b.median[j]) && same(b.hi[j], b.median[j]));
            }
        }
    }
}
