//! Axis ranges, tick positions and tick labels, and the plotters coordinate
//! (`Axis`) that maps values to pixels with them.
//!
//! Linear axes map with plotters' `RangedCoordf64`, log axes with the
//! `LogCoord` of plotters' `.log_scale()` ranges; only the tick choice and
//! the tick labels are ours (plotters' log ticks vanish on ranges shorter
//! than a decade, and its labels print raw floats).

use plotters::coord::combinators::{IntoLogRange, LogCoord};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, KeyPointWeight, Ranged};
use plotters::coord::types::RangedCoordf64;
use std::ops::Range;

/// Fraction of the (log-)span added on each side of a range taken from data.
const PAD: f64 = 0.04;
/// At most this many labelled ticks per axis.
const MAX_TICKS: usize = 8;

/// The resolved description of one axis: visible range and ticks.
#[derive(Clone, Debug)]
pub(crate) struct AxisSpec {
    /// Lower visible limit (data units, > 0 on log axes).
    pub lo: f64,
    /// Upper visible limit.
    pub hi: f64,
    /// Logarithmic (base 10) axis.
    pub log: bool,
    /// Labelled ticks.
    pub major: Vec<f64>,
    /// Unlabelled minor grid positions.
    pub minor: Vec<f64>,
    /// Spacing of linear major ticks (0 when the ticks are not evenly spaced).
    step: f64,
    /// Log axis labelled as powers of ten (10⁻³, 10⁰, 2×10⁻⁵) rather than
    /// plain numbers (0.001, 1, 20): see [`AxisSpec::auto_powers`]; a
    /// figure may set it on all its decade axes of one direction
    /// ([`AxisSpec::decades_only`]) so that they read alike.
    pub powers: bool,
    /// The smallest positive value of the data a log axis was fitted to
    /// (`None` for a fixed range or a linear axis): a labelled tick lies
    /// at most half a decade above it.
    data_min: Option<f64>,
    /// The range markers are kept in (shown if inside, clamped to it),
    /// when the axis was widened beyond it to give them room
    /// ([`AxisSpec::widened`]); `None`: the visible range.
    marks: Option<(f64, f64)>,
}

impl AxisSpec {
    /// The axis for `values` (the data the axis must show), with the
    /// requested fixed range if it is usable (finite, non-empty, positive on
    /// a log axis); otherwise the data extent with a small padding.
    pub fn new(
        values: impl IntoIterator<Item = f64>,
        log: bool,
        fixed: Option<(f64, f64)>,
    ) -> Self {
        let values: Vec<f64> = values.into_iter().collect();
        let fixed = fixed.and_then(|r| usable(r, log));
        let (lo, hi) = match fixed {
            Some(r) => r,
            None => data_range(values.iter().copied(), log),
        };
        let (mut lo, hi) = if log { log_limits(lo, hi) } else { (lo, hi) };
        let data_min = (log && fixed.is_none())
            .then(|| values.iter().copied().filter(|v| v.is_finite() && *v > 0.0).fold(f64::INFINITY, f64::min))
            .filter(|m| m.is_finite() && *m >= lo);
        let (mut major, mut minor, mut step) = if log {
            log_ticks(lo, hi)
        } else {
            linear_ticks(lo, hi)
        };
        // A log axis fitted to data labels its bottom: where its lowest
        // label is more than half a decade above the lowest data, the
        // range goes down to the next value of its tick family (a power of
        // ten, or 1-2-5 of the decade), at most a few times.
        if let Some(m) = data_min {
            for _ in 0..12 {
                if bottom_decade_labelled(&major, m) || major.iter().any(|&t| t <= 0.0) {
                    break;
                }
                let decades = major.iter().all(|&t| power_of_ten(t).is_some());
                let d = (lo.log10() - 1e-9).floor();
                lo = if decades {
                    10f64.powf(d)
                } else {
                    // The largest 1, 2 or 5 times 10^d below the range.
                    [5.0, 2.0, 1.0].iter().map(|k| k * 10f64.powf(d)).find(|&v| v < lo * (1.0 - 1e-9)).unwrap_or(10f64.powf(d))
                };
                (major, minor, step) = log_ticks(lo, hi);
            }
        }
        let mut a = AxisSpec {
            lo,
            hi,
            log,
            major,
            minor,
            step,
            powers: false,
            data_min,
            marks: None,
        };
        a.powers = a.auto_powers();
        a
    }

    /// The range markers and scatter points are kept in: the visible range,
    /// or the range before [`AxisSpec::widened`] made room for them.
    pub fn mark_range(&self) -> (f64, f64) {
        self.marks.unwrap_or((self.lo, self.hi))
    }

    /// Whether a marker at `v` is shown (inside [`AxisSpec::mark_range`]).
    pub fn contains_mark(&self, v: f64) -> bool {
        let (lo, hi) = self.mark_range();
        v >= lo && v <= hi
    }

    /// This axis with the visible range `lo..hi` (containing the current
    /// one), its ticks and label format kept, and markers still kept in
    /// the current range: the room between is where a marker on the old
    /// edge draws whole instead of being cut by the frame.
    pub fn widened(&self, lo: f64, hi: f64) -> AxisSpec {
        let marks = Some(self.mark_range());
        AxisSpec {
            lo: lo.min(self.lo),
            hi: hi.max(self.hi),
            marks,
            ..self.clone()
        }
    }

    /// Keeps the marker range of `other` (an axis this one replaces).
    pub fn with_marks_of(mut self, other: &AxisSpec) -> AxisSpec {
        self.marks = other.marks;
        self
    }

    /// Whether this log axis reads best as powers of ten: the rule of every
    /// figure. Powers when the axis spans more than 3 decades, or when a
    /// labelled value would need an exponent as a plain number (a power of
    /// ten outside 0.01 .. 1000, another value outside 0.001 .. 10⁴); plain
    /// numbers otherwise. False on linear axes.
    pub fn auto_powers(&self) -> bool {
        if !self.log {
            return false;
        }
        let span = (self.hi / self.lo).log10();
        let needs_exponent = |v: f64| match power_of_ten(v) {
            Some(d) => !(-2..=3).contains(&d),
            None => !(1e-3..1e4).contains(&v.abs()),
        };
        span > 3.0 + 1e-9 || self.major.iter().any(|&v| needs_exponent(v))
    }

    /// A log axis whose labelled ticks are all powers of ten (two or more):
    /// the kind of axis whose label format a figure makes the same on all
    /// panels (see [`AxisSpec::powers`]).
    pub fn decades_only(&self) -> bool {
        self.log && self.major.len() >= 2 && self.major.iter().all(|&v| power_of_ten(v).is_some())
    }

    /// Value to the axis' linear space: log10 on log axes (non-positive
    /// values give -inf, NaN stays NaN), identity otherwise.
    pub fn value_to_t(&self, v: f64) -> f64 {
        if !self.log {
            v
        } else if v > 0.0 {
            v.log10()
        } else if v.is_nan() {
            f64::NAN
        } else {
            f64::NEG_INFINITY
        }
    }

    /// Inverse of [`AxisSpec::value_to_t`].
    pub fn t_to_value(&self, t: f64) -> f64 {
        if self.log {
            10f64.powf(t)
        } else {
            t
        }
    }

    /// The visible range in linear space.
    pub fn t_range(&self) -> (f64, f64) {
        (self.value_to_t(self.lo), self.value_to_t(self.hi))
    }

    /// Whether `v` lies in the visible range.
    pub fn contains(&self, v: f64) -> bool {
        v >= self.lo && v <= self.hi
    }

    /// Label exactly `ticks` (those inside the range), with no minor lines.
    /// A log axis fitted to data keeps its rule of a label at most half a
    /// decade above the smallest value: where none of `ticks` is, the range
    /// reaches down to the largest of them below that value.
    pub fn set_ticks(&mut self, ticks: &[f64]) {
        if let Some(m) = self.data_min {
            let inside: Vec<f64> = ticks.iter().copied().filter(|&v| v >= self.lo && v <= self.hi).collect();
            if !bottom_decade_labelled(&inside, m) {
                if let Some(below) = ticks.iter().copied().filter(|&v| v > 0.0 && v <= m).reduce(f64::max) {
                    self.lo = self.lo.min(below);
                }
            }
        }
        let (lo, hi) = (self.lo, self.hi);
        self.major = ticks
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v >= lo && *v <= hi)
            .collect();
        self.minor.clear();
        self.step = 0.0;
        self.powers = self.auto_powers();
    }

    /// Keeps every k-th labelled tick, for the smallest k at which `fits`
    /// accepts them (on a log axis the kept ones include a power of ten
    /// where one is labelled); the others become minor grid lines. Returns
    /// whether anything was dropped. At least one tick stays.
    pub fn thin_labels(&mut self, fits: impl Fn(&[f64]) -> bool) -> bool {
        if fits(&self.major) || self.major.len() <= 1 {
            return false;
        }
        // Log axis with 1-2-5 (or 1..9) labels over two or more decades:
        // the powers of ten alone read best (every k-th one if need be),
        // and 1 stays among them, the reference of every r axis.
        let decades: Vec<f64> = if self.log {
            self.major.iter().copied().filter(|&v| power_of_ten(v).is_some()).collect()
        } else {
            Vec::new()
        };
        if decades.len() >= 2 && decades.len() < self.major.len() {
            // The data's bottom decade keeps its label (the lowest tick,
            // below the lowest power of ten) where the labels then fit.
            let mut decades = decades;
            if let Some(m) = self.data_min {
                let lowest = self.major[0];
                if !bottom_decade_labelled(&decades, m) && bottom_decade_labelled(&[lowest], m) {
                    let with: Vec<f64> = std::iter::once(lowest).chain(decades.iter().copied()).collect();
                    if fits(&with) {
                        decades = with;
                    }
                }
            }
            let dropped: Vec<f64> = self.major.iter().copied().filter(|v| !decades.contains(v)).collect();
            self.minor.extend(dropped);
            self.major = decades;
            if !fits(&self.major) {
                self.thin_labels(fits);
            }
            return true;
        }
        let n = self.major.len();
        // Offset so that 1 (log axes; else the first power of ten) or zero
        // stays labelled.
        let anchor = self
            .major
            .iter()
            .position(|&v| if self.log { v == 1.0 } else { v == 0.0 })
            .or_else(|| {
                self.log
                    .then(|| self.major.iter().position(|&v| power_of_ten(v).is_some()))
                    .flatten()
            })
            .unwrap_or(0);
        for k in 2..=n {
            let kept: Vec<f64> = (0..n)
                .filter(|i| (*i as i64 - anchor as i64).rem_euclid(k as i64) == 0)
                .map(|i| self.major[i])
                .collect();
            if fits(&kept) || kept.len() <= 1 {
                let dropped: Vec<f64> = self.major.iter().copied().filter(|v| !kept.contains(v)).collect();
                self.minor.extend(dropped);
                self.major = kept;
                // Evenly spaced ticks stay evenly spaced, k steps apart.
                self.step *= k as f64;
                return true;
            }
        }
        false
    }

    /// The label printed at tick `v`.
    pub fn label(&self, v: f64) -> String {
        if self.log {
            // One format on every tick of the axis (see `powers`): never
            // 1e4 beside 1000, nor 10⁰ beside 0.5.
            if self.powers {
                power_label(v)
            } else {
                compact(v)
            }
        } else {
            linear_label(v, self.step, self.lo.abs().max(self.hi.abs()))
        }
    }
}

/// A fixed range made valid (ordered), or None if it cannot be shown.
fn usable((a, b): (f64, f64), log: bool) -> Option<(f64, f64)> {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    let ok = a.is_finite() && b.is_finite() && a < b && (!log || a > 0.0);
    ok.then_some((a, b))
}

/// Keeps a log range within [1e-300, 1e300] (and non-empty), so that
/// decades stay countable and subnormal data cannot make a zero floor.
fn log_limits(lo: f64, hi: f64) -> (f64, f64) {
    let lo = lo.clamp(1e-300, 1e299);
    let hi = hi.clamp(1e-299, 1e300);
    if lo < hi {
        (lo, hi)
    } else {
        (lo, lo * 10.0)
    }
}

/// Data extent (finite values; positive ones on log axes) padded by [`PAD`].
fn data_range(values: impl IntoIterator<Item = f64>, log: bool) -> (f64, f64) {
    let t = |v: f64| if log { v.log10() } else { v };
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        if v.is_finite() && (!log || v > 0.0) {
            lo = lo.min(t(v));
            hi = hi.max(t(v));
        }
    }
    let (lo, hi) = if lo > hi {
        (0.0, 1.0) // no data: [0, 1], or [1, 10] on a log axis
    } else if hi - lo <= 1e-12 * lo.abs().max(1.0) {
        let half = if log { 0.5 } else { (lo.abs() * 0.1).max(0.5) };
        (lo - half, hi + half)
    } else {
        // Halves first: the span of huge values must not overflow.
        let pad = (hi / 2.0 - lo / 2.0) * 2.0 * PAD;
        ((lo - pad).max(-f64::MAX), (hi + pad).min(f64::MAX))
    };
    if log {
        (10f64.powf(lo), 10f64.powf(hi))
    } else {
        (lo, hi)
    }
}

/// Multiples of a 1-2-5 step between `lo` and `hi`: (major, minor, step).
fn linear_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>, f64) {
    let raw = (hi / 2.0 - lo / 2.0) / (MAX_TICKS / 2 - 1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return (vec![lo, hi], vec![], 0.0);
    }
    let mag = 10f64.powf(raw.log10().floor());
    let (step, sub) = match raw / mag {
        m if m <= 1.0 => (mag, 5.0),
        m if m <= 2.0 => (2.0 * mag, 4.0),
        m if m <= 5.0 => (5.0 * mag, 5.0),
        _ => (10.0 * mag, 5.0),
    };
    let multiples = |s: f64| -> Vec<f64> {
        let (k0, k1) = (
            (lo / s - 1e-9).ceil() as i64,
            (hi / s + 1e-9).floor() as i64,
        );
        (k0..=k1.min(k0.saturating_add(1000)))
            .map(|k| k as f64 * s)
            .map(|v| if v.abs() < s * 1e-9 { 0.0 } else { v })
            .collect()
    };
    let major = multiples(step);
    let minor = multiples(step / sub);
    (major, minor, step)
}

/// Ticks on a log axis: (major, minor, 0).
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>, f64) {
    let (d0, d1) = (
        (lo.log10() - 1e-9).ceil() as i32,
        (hi.log10() + 1e-9).floor() as i32,
    );
    let in_range = |v: &f64| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9);
    if d1 > d0 + 1 {
        // At least three powers of ten: label decades, every `stride`-th one.
        let nd = (d1 - d0 + 1) as usize;
        let stride = nd.div_ceil(MAX_TICKS) as i32;
        let decades: Vec<i32> = (d0..=d1).filter(|d| d.rem_euclid(stride) == 0).collect();
        let major = decades.iter().map(|&d| 10f64.powi(d)).collect();
        let minor = if stride == 1 {
            (d0 - 1..=d1)
                .flat_map(|d| (2..=9).map(move |m| m as f64 * 10f64.powi(d)))
                .filter(in_range)
                .collect()
        } else {
            (d0..=d1)
                .filter(|d| d.rem_euclid(stride) != 0)
                .map(|d| 10f64.powi(d))
                .collect()
        };
        return (major, minor, 0.0);
    }
    // At most two decades visible: 1-2-5 multiples of powers of ten (with
    // the other multiples as minor lines), then 1..9 on shorter ranges.
    let (e0, e1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    for mantissas in [
        &[1.0, 2.0, 5.0][..],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    ] {
        let ticks: Vec<f64> = (e0..=e1)
            .flat_map(|d| mantissas.iter().map(move |m| m * 10f64.powi(d)))
            .filter(in_range)
            .collect();
        if ticks.len() >= 3 {
            let minor = (e0..=e1)
                .flat_map(|d| (1..=9).map(move |m| m as f64 * 10f64.powi(d)))
                .filter(|v| in_range(v) && !ticks.contains(v))
                .collect();
            return (ticks, minor, 0.0);
        }
    }
    // Very short range: plain evenly spaced ticks (still mapped on a log scale).
    let (major, _, _) = linear_ticks(lo, hi);
    (major, vec![], 0.0)
}

/// `Some(d)` if `v` is 10^d (to 1e-9 relative).
fn power_of_ten(v: f64) -> Option<i32> {
    if !(v > 0.0 && v.is_finite()) {
        return None;
    }
    let d = v.log10().round();
    ((v / 10f64.powf(d) - 1.0).abs() < 1e-9).then_some(d as i32)
}

/// `d` in superscript digits (with a superscript minus).
fn superscript(d: i32) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let digits = d.unsigned_abs().to_string();
    let mut out = String::new();
    if d < 0 {
        out.push('⁻');
    }
    out.extend(digits.bytes().map(|b| DIGITS[(b - b'0') as usize]));
    out
}

/// Whether the labelled `ticks` include one at most half a decade above
/// the data's smallest value `data_min` (so that the lowest data never lie
/// more than half a decade below every label: 0.003 under a lowest label
/// of 0.01 does, 0.7 under 1 does not).
fn bottom_decade_labelled(ticks: &[f64], data_min: f64) -> bool {
    let top = data_min * 10f64.sqrt();
    ticks.iter().any(|&t| t <= top * (1.0 + 1e-9))
}

/// `v` as a power of ten: 10ⁿ, or m×10ⁿ with at most 3 significant digits
/// of m.
fn power_label(v: f64) -> String {
    if let Some(d) = power_of_ten(v) {
        return format!("10{}", superscript(d));
    }
    if !(v.is_finite() && v > 0.0) {
        return compact(v);
    }
    let d = (v.log10() + 1e-9).floor() as i32;
    format!("{}×10{}", compact(v / 10f64.powi(d)), superscript(d))
}

/// Label for a linear tick of spacing `step` on an axis reaching `max_abs`:
/// scientific beyond 1e5 or below 1e-3, else fixed with the step's decimals.
fn linear_label(v: f64, step: f64, max_abs: f64) -> String {
    let step_ok = step > 0.0 && step.is_finite();
    if !(1e-3..1e5).contains(&max_abs) {
        if v == 0.0 {
            return "0".into();
        }
        let digits = if step_ok {
            (max_abs.log10().floor() - step.log10().floor()).clamp(0.0, 6.0) as usize
        } else {
            3
        };
        return trim_exp(&format!("{v:.digits$e}"));
    }
    let mut decimals = if step_ok {
        (-(step.log10().floor())).clamp(0.0, 12.0) as usize
    } else {
        3
    };
    // A step like 2.5 needs one more decimal than its magnitude suggests.
    let scaled = step * 10f64.powi(decimals as i32);
    if step_ok && (scaled.round() - scaled).abs() > 1e-6 {
        decimals += 1;
    }
    format!("{v:.decimals$}")
}

/// Shortest plain rendering with at most 3 significant digits.
fn compact(v: f64) -> String {
    let s = crate::table::fmt_sig(v, 3);
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// "2.50e-5" -> "2.5e-5", "1.00e6" -> "1e6".
fn trim_exp(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) if m.contains('.') => {
            format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
        }
        _ => s.to_string(),
    }
}

/// A plotters coordinate built from an [`AxisSpec`].
pub(crate) struct Axis {
    spec: AxisSpec,
    lin: RangedCoordf64,
    log: Option<LogCoord<f64>>,
}

impl Axis {
    /// The coordinate for `spec`.
    pub fn new(spec: AxisSpec) -> Self {
        let lin: RangedCoordf64 = (spec.lo..spec.hi).into();
        let log = spec.log.then(|| (spec.lo..spec.hi).log_scale().into());
        Axis { spec, lin, log }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        match &self.log {
            Some(l) => l.map(v, limit),
            None => self.lin.map(v, limit),
        }
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.max_num_points() == 0 {
            return vec![];
        }
        let mut pts = self.spec.major.clone();
        if matches!(hint.weight(), KeyPointWeight::Any) {
            pts.extend(&self.spec.minor);
        }
        pts
    }

    fn range(&self) -> Range<f64> {
        self.spec.lo..self.spec.hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(a: &AxisSpec) -> Vec<String> {
        a.major.iter().map(|&v| a.label(v)).collect()
    }

    #[test]
    fn linear_ticks_are_round() {
        let a = AxisSpec::new([], false, Some((0.0, 1.0)));
        assert_eq!(labels(&a), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let a = AxisSpec::new([], false, Some((-3.0, 12.0)));
        assert_eq!(labels(&a), ["0", "5", "10"]);
        let a = AxisSpec::new([], false, Some((0.0, 2e6)));
        assert!(labels(&a).iter().any(|l| l == "1e6"), "{:?}", labels(&a));
    }

    #[test]
    fn log_ticks_are_readable() {
        let a = AxisSpec::new([], true, Some((1e-3, 100.0)));
        assert_eq!(labels(&a), ["10⁻³", "10⁻²", "10⁻¹", "10⁰", "10¹", "10²"]);
        // More than 3 decades: powers of ten, though each would fit plain.
        let a = AxisSpec::new([], true, Some((1e-2, 1000.0)));
        assert_eq!(labels(&a), ["10⁻²", "10⁻¹", "10⁰", "10¹", "10²", "10³"]);
        assert!(a.minor.contains(&0.2));
        // Three decades or fewer: plain numbers.
        let a = AxisSpec::new([], true, Some((1e-2, 10.0)));
        assert_eq!(labels(&a), ["0.01", "0.1", "1", "10"]);
        // A short range whose values would need an exponent: m×10ⁿ.
        let a = AxisSpec::new([], true, Some((1e-5, 1e-4)));
        assert!(labels(&a).contains(&"2×10⁻⁵".to_string()), "{:?}", labels(&a));
        let a = AxisSpec::new([], true, Some((2.0, 8.0)));
        assert!(a.major.len() >= 3, "{:?}", a.major);
        let a = AxisSpec::new([], true, Some((1e-30, 1e10)));
        assert!(
            a.major.len() <= MAX_TICKS && a.major.len() >= 4,
            "{:?}",
            a.major
        );
        let a = AxisSpec::new([], true, Some((1.1, 1.3)));
        assert!(a.major.len() >= 2, "{:?}", a.major);
    }

    #[test]
    fn thinned_log_labels_keep_one_and_the_powers_of_ten() {
        // Fig 12's r axis: 0.02 .. 4 labels 0.02, 0.05, ..., 2; crowded,
        // it keeps the decades (1 among them), never 0.02, 0.1, 0.5, 2.
        let mut a = AxisSpec::new([], true, Some((0.02, 4.0)));
        assert!(a.major.contains(&1.0), "{:?}", a.major);
        assert!(a.thin_labels(|t| t.len() <= 4));
        assert_eq!(a.major, [0.1, 1.0]);
        // Many decades, thinned further: every k-th decade, 1 kept.
        let mut a = AxisSpec::new([], true, Some((1e-6, 1e6)));
        assert!(a.thin_labels(|t| t.len() <= 5));
        assert!(a.major.contains(&1.0) && a.major.len() <= 5, "{:?}", a.major);
        // One decade only (0.3 .. 8): 1 stays the anchor.
        let mut a = AxisSpec::new([], true, Some((0.3, 8.0)));
        assert!(a.thin_labels(|t| t.len() <= 2));
        assert!(a.major.contains(&1.0), "{:?}", a.major);
    }

    #[test]
    fn a_log_axis_labels_the_bottom_decade_of_its_data() {
        // Fig 11b's radii: data 0.003 .. 2 once labelled 0.01, 0.1, 1 only.
        let a = AxisSpec::new([0.003, 0.02, 2.0], true, None);
        assert!(a.major[0] <= 0.003, "{:?}", a.major);
        assert_eq!(labels(&a), ["10⁻³", "10⁻²", "10⁻¹", "10⁰"]);
        // Fig 9's loss ratios: 0.7 under a lowest label of 1 is close
        // enough; the range is not stretched.
        let a = AxisSpec::new([0.7, 1e4], true, None);
        assert!(a.lo > 0.4 && a.major[0] == 1.0, "{:?} from {}", a.major, a.lo);
        // A fixed range is kept as given.
        let a = AxisSpec::new([0.003, 2.0], true, Some((0.002, 3.0)));
        assert_eq!(a.lo, 0.002);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { rng_seed: proptest::test_runner::RngSeed::Fixed(14), ..proptest::test_runner::Config::default() })]
        /// Whatever positive data a log axis is fitted to, a labelled tick
        /// lies at most half a decade above its smallest value, and every
        /// label of the axis has one format.
        #[test]
        fn log_axes_label_their_bottom_decade_in_one_format(
            lo in -30.0f64..30.0,
            span in 0.01f64..12.0,
            n in 2usize..20,
        ) {
            let v: Vec<f64> = (0..n).map(|i| 10f64.powf(lo + span * i as f64 / (n - 1) as f64)).collect();
            let a = AxisSpec::new(v.iter().copied(), true, None);
            proptest::prop_assert!(bottom_decade_labelled(&a.major, v[0]), "{:?} for data from {}", a.major, v[0]);
            let l = labels(&a);
            let powers = l.iter().filter(|t| t.contains('⁰') || t.contains("10⁻") || t.contains('×') || t.starts_with("10¹") || t.starts_with("10²") || t.starts_with("10³") || t.starts_with("10⁴") || t.starts_with("10⁵") || t.starts_with("10⁶") || t.starts_with("10⁷") || t.starts_with("10⁸") || t.starts_with("10⁹")).count();
            proptest::prop_assert!(powers == 0 || powers == l.len(), "{:?}", l);
            proptest::prop_assert!(l.iter().all(|t| !t.contains('e')), "{:?}", l);
        }
    }

    #[test]
    fn ranges_from_data() {
        let a = AxisSpec::new([f64::NAN, -1.0, 0.0, 1e-2, 1e2, f64::INFINITY], true, None);
        assert!(a.lo < 1e-2 && a.lo > 1e-3 && a.hi > 1e2 && a.hi < 1e3);
        let a = AxisSpec::new([5.0, 5.0], false, None);
        assert!(a.lo < 5.0 && a.hi > 5.0);
        let a = AxisSpec::new([], true, None);
        assert_eq!((a.lo, a.hi), (1.0, 10.0));
        // An unusable fixed range falls back to the data.
        let a = AxisSpec::new([1.0, 2.0], true, Some((-1.0, 2.0)));
        assert!(a.lo > 0.0);
    }
}
