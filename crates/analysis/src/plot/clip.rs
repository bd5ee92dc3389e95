//! Turning raw data into what can be drawn inside a panel.
//!
//! Rules (applied in the axis' linear space, i.e. log10 on log axes):
//! * a point with a NaN or infinite coordinate, or a non-positive x on a log
//!   x axis, is skipped and breaks the line there;
//! * y values outside the visible range are clamped to the floor/ceiling
//!   (a non-positive y on a log axis is below any floor);
//! * lines are cut exactly at the left/right edges of the visible x range.

use super::axis::AxisSpec;

/// A drawable point: x and `K` y values (a line has one, a band two).
pub(crate) type Pt<const K: usize> = (f64, [f64; K]);

/// The visible pieces of a polyline whose points are `(x[i], ys[k][i])`,
/// in data coordinates, y clamped to the visible range (for bands: an area
/// that leaves the box is cut by its frame). Extra elements of longer
/// slices are ignored.
pub(crate) fn runs<const K: usize>(
    x: &[f64],
    ys: [&[f64]; K],
    xa: &AxisSpec,
    ya: &AxisSpec,
) -> Vec<Vec<Pt<K>>> {
    let (ylo, yhi) = ya.t_range();
    to_values(t_runs(x, ys, xa, ya, |t| t.clamp(ylo, yhi)), xa, ya)
}

/// Where a line leaves (or enters) the visible y range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EdgeMark {
    /// Data coordinates of the crossing, on the top or bottom edge.
    pub at: (f64, f64),
    /// True on the top edge (the line goes above the box).
    pub top: bool,
}

/// The visible pieces of a line, cut at the y edges instead of clamped: a
/// curve that leaves the box ends where it crosses the frame, and each
/// crossing is returned as an [`EdgeMark`] to draw there, so a diverging
/// curve never runs along the frame as a false plateau.
pub(crate) fn line_runs(
    x: &[f64],
    y: &[f64],
    xa: &AxisSpec,
    ya: &AxisSpec,
) -> (Vec<Vec<(f64, f64)>>, Vec<EdgeMark>) {
    let (ylo, yhi) = ya.t_range();
    // Far outside stands for infinitely far (a non-positive y on a log axis
    // is below any floor); the crossing point is then at the edge itself.
    let far = 1e6 * (yhi - ylo).max(1e-300);
    let unclamped = |t: f64| {
        if t.is_nan() || t == f64::NEG_INFINITY {
            ylo - far
        } else if t == f64::INFINITY {
            yhi + far
        } else {
            t.clamp(ylo - far, yhi + far)
        }
    };
    let inside = |t: f64| t >= ylo && t <= yhi;
    let (mut pieces, mut marks) = (Vec::new(), Vec::new());
    for run in t_runs(x, [y], xa, ya, unclamped) {
        let mut piece: Vec<Pt<1>> = Vec::new();
        for (i, &q) in run.iter().enumerate() {
            if i == 0 {
                if inside(q.1[0]) {
                    piece.push(q);
                }
                continue;
            }
            let p = run[i - 1];
            let (pi, qi) = (inside(p.1[0]), inside(q.1[0]));
            let cross = |edge: f64| {
                let s = (edge - p.1[0]) / (q.1[0] - p.1[0]);
                (p.0 + (q.0 - p.0) * s, [edge])
            };
            let edge_of = |t: f64| if t > yhi { yhi } else { ylo };
            match (pi, qi) {
                (true, true) => piece.push(q),
                (true, false) => {
                    let c = cross(edge_of(q.1[0]));
                    piece.push(c);
                    marks.push((c, q.1[0] > yhi));
                    pieces.push(std::mem::take(&mut piece));
                }
                (false, true) => {
                    let c = cross(edge_of(p.1[0]));
                    marks.push((c, p.1[0] > yhi));
                    piece.push(c);
                    piece.push(q);
                }
                (false, false) => {
                    if (p.1[0] > yhi) != (q.1[0] > yhi) {
                        // Through the whole box, from one edge to the other.
                        let (a, b) = (cross(edge_of(p.1[0])), cross(edge_of(q.1[0])));
                        marks.push((a, p.1[0] > yhi));
                        marks.push((b, q.1[0] > yhi));
                        pieces.push(vec![a, b]);
                    }
                }
            }
        }
        if !piece.is_empty() {
            pieces.push(piece);
        }
    }
    let pieces = to_values(pieces, xa, ya)
        .into_iter()
        .map(|r| r.into_iter().map(|(x, [y])| (x, y)).collect())
        .collect();
    let marks = marks
        .into_iter()
        .map(|((tx, [ty]), top)| EdgeMark {
            at: (xa.t_to_value(tx), ya.t_to_value(ty)),
            top,
        })
        .collect();
    (pieces, marks)
}

/// Pieces (in the axes' linear space) of the finite stretches of a
/// polyline, cut at the x edges, y mapped by `fy` from linear space.
fn t_runs<const K: usize>(
    x: &[f64],
    ys: [&[f64]; K],
    xa: &AxisSpec,
    ya: &AxisSpec,
    fy: impl Fn(f64) -> f64,
) -> Vec<Vec<Pt<K>>> {
    let n = ys.iter().map(|y| y.len()).fold(x.len(), usize::min);
    let mut out: Vec<Vec<Pt<K>>> = vec![];
    let mut run: Vec<Pt<K>> = vec![];
    for i in 0..n {
        let tx = xa.value_to_t(x[i]);
        let raw_ok = ys.iter().all(|y| y[i].is_finite());
        if !tx.is_finite() || !raw_ok {
            flush(&mut out, &mut run, xa);
            continue;
        }
        let ty = ys.map(|y| fy(ya.value_to_t(y[i])));
        run.push((tx, ty));
    }
    flush(&mut out, &mut run, xa);
    out
}

/// Linear-space pieces back in data coordinates.
fn to_values<const K: usize>(
    pieces: Vec<Vec<Pt<K>>>,
    xa: &AxisSpec,
    ya: &AxisSpec,
) -> Vec<Vec<Pt<K>>> {
    pieces
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|(tx, ty)| (xa.t_to_value(tx), ty.map(|t| ya.t_to_value(t))))
                .collect()
        })
        .collect()
}

/// Cuts the finished run (linear space) at the x edges and moves its
/// visible pieces to `out`.
fn flush<const K: usize>(out: &mut Vec<Vec<Pt<K>>>, run: &mut Vec<Pt<K>>, xa: &AxisSpec) {
    let (lo, hi) = xa.t_range();
    let inside = |p: &Pt<K>| p.0 >= lo && p.0 <= hi;
    let mut piece: Vec<Pt<K>> = vec![];
    for (i, &q) in run.iter().enumerate() {
        if i == 0 {
            if inside(&q) {
                piece.push(q);
            }
            continue;
        }
        let p = run[i - 1];
        match (inside(&p), inside(&q)) {
            (true, true) => piece.push(q),
            (true, false) => {
                piece.push(at_x(p, q, edge(q.0, lo, hi)));
                out.push(std::mem::take(&mut piece));
            }
            (false, true) => {
                piece.push(at_x(p, q, edge(p.0, lo, hi)));
                piece.push(q);
            }
            (false, false) => {
                // Crossing the whole range from one side to the other.
                if (p.0 < lo && q.0 > hi) || (p.0 > hi && q.0 < lo) {
                    let a = at_x(p, q, edge(p.0, lo, hi));
                    let b = at_x(p, q, edge(q.0, lo, hi));
                    out.push(vec![a, b]);
                }
            }
        }
    }
    if !piece.is_empty() {
        out.push(piece);
    }
    run.clear();
}

/// The x edge on the side of the outside coordinate `x`.
fn edge(x: f64, lo: f64, hi: f64) -> f64 {
    if x < lo {
        lo
    } else {
        hi
    }
}

/// The point of segment p-q at abscissa `x` (linear interpolation).
fn at_x<const K: usize>(p: Pt<K>, q: Pt<K>, x: f64) -> Pt<K> {
    let s = if q.0 == p.0 {
        0.0
    } else {
        (x - p.0) / (q.0 - p.0)
    };
    let mut y = p.1;
    for (k, yk) in y.iter_mut().enumerate() {
        *yk += (q.1[k] - p.1[k]) * s;
    }
    (x, y)
}

/// The visible points of a point cloud: finite, inside the x marker range,
/// y clamped to the marker range ([`AxisSpec::mark_range`]: the visible
/// range, or the part of it whose markers draw whole).
pub(crate) fn points(x: &[f64], y: &[f64], xa: &AxisSpec, ya: &AxisSpec) -> Vec<(f64, f64)> {
    let (mlo, mhi) = ya.mark_range();
    let (ylo, yhi) = (ya.value_to_t(mlo), ya.value_to_t(mhi));
    x.iter()
        .zip(y)
        .filter(|(x, y)| x.is_finite() && y.is_finite() && xa.contains_mark(**x))
        .map(|(&x, &y)| (x, ya.t_to_value(ya.value_to_t(y).clamp(ylo, yhi))))
        .collect()
}

/// The visible part `[a, b]` of the x interval between `x0` and `x1` (either
/// may be infinite, in any order), or None if it is not visible.
pub(crate) fn span(x0: f64, x1: f64, xa: &AxisSpec) -> Option<(f64, f64)> {
    if x0.is_nan() || x1.is_nan() {
        return None;
    }
    let (lo, hi) = xa.t_range();
    let (a, b) = (
        xa.value_to_t(x0.min(x1)).max(lo),
        xa.value_to_t(x0.max(x1)).min(hi),
    );
    (a < b).then(|| (xa.t_to_value(a), xa.t_to_value(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lin(lo: f64, hi: f64) -> AxisSpec {
        AxisSpec::new([], false, Some((lo, hi)))
    }

    #[test]
    fn nan_breaks_and_clamps() {
        let (xa, ya) = (lin(0.0, 10.0), lin(0.0, 1.0));
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [0.5, 5.0, f64::NAN, 0.2, f64::INFINITY];
        let r = runs(&x, [&y], &xa, &ya);
        assert_eq!(
            r,
            vec![vec![(1.0, [0.5]), (2.0, [1.0])], vec![(4.0, [0.2])]]
        );
    }

    #[test]
    fn lines_end_at_the_y_edges_with_a_mark() {
        let (xa, ya) = (lin(0.0, 10.0), lin(0.0, 1.0));
        // Up through the top at x = 1.4, back in at x = 4.8, out through
        // the floor at 5.33, then from below the floor to above the ceiling.
        let x = [1.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let y = [0.5, 3.0, 3.0, 0.5, -1.0, 2.0];
        let (pieces, marks) = line_runs(&x, &y, &xa, &ya);
        let close =
            |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12;
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        assert!(close(pieces[0][1], (1.4, 1.0)), "{pieces:?}");
        assert!(close(pieces[1][0], (4.8, 1.0)), "{pieces:?}");
        assert!(close(pieces[1][2], (5.0 + 1.0 / 3.0, 0.0)), "{pieces:?}");
        assert!(close(pieces[2][0], (6.0 + 1.0 / 3.0, 0.0)), "{pieces:?}");
        assert!(close(pieces[2][1], (6.0 + 2.0 / 3.0, 1.0)), "{pieces:?}");
        assert_eq!(marks.iter().filter(|m| m.top).count(), 3);
        assert_eq!(marks.len(), 5);
        // Nothing is drawn outside the box.
        for p in pieces.iter().flatten() {
            assert!((0.0..=1.0).contains(&p.1), "{p:?}");
        }
    }

    #[test]
    fn cut_at_x_edges() {
        let (xa, ya) = (lin(0.0, 10.0), lin(-100.0, 100.0));
        let x = [-10.0, 5.0, 20.0, 30.0, -30.0];
        let y = [0.0, 15.0, 30.0, 0.0, 0.0];
        let r = runs(&x, [&y], &xa, &ya);
        assert_eq!(r[0], vec![(0.0, [10.0]), (5.0, [15.0]), (10.0, [20.0])]);
        assert_eq!(r[1], vec![(10.0, [0.0]), (0.0, [0.0])]);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn log_axes() {
        let xa = AxisSpec::new([], true, Some((1.0, 100.0)));
        let ya = AxisSpec::new([], true, Some((0.1, 10.0)));
        let r = runs(
            &[0.0, 1.0, 10.0, 1000.0],
            [&[1.0, 0.0, 1.0, 1.0][..]],
            &xa,
            &ya,
        );
        assert_eq!(r.len(), 1);
        let r0 = &r[0];
        assert!((r0[0].1[0] - 0.1).abs() < 1e-12, "{r0:?}"); // y = 0 sits on the floor
        assert!((r0.last().unwrap().0 - 100.0).abs() < 1e-9);
        assert_eq!(
            span(0.0, f64::INFINITY, &xa).map(|(a, b)| (a.round(), b.round())),
            Some((1.0, 100.0))
        );
        assert_eq!(span(200.0, 300.0, &xa), None);
    }

    fn any_f64() -> impl proptest::strategy::Strategy<Value = f64> {
        use proptest::prelude::*;
        prop_oneof![
            4 => -1e3f64..1e3,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(0.0),
            1 => proptest::num::f64::ANY,
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { rng_seed: proptest::test_runner::RngSeed::Fixed(20261124), ..proptest::test_runner::Config::default() })]
        /// Whatever the data, axes are finite and ordered, and every drawn
        /// point lies in the visible box.
        #[test]
        fn anything_is_drawable(
            x in proptest::collection::vec(any_f64(), 0..40),
            y in proptest::collection::vec(any_f64(), 0..40),
            x_log: bool,
            y_log: bool,
        ) {
            let xa = AxisSpec::new(x.iter().copied(), x_log, None);
            let ya = AxisSpec::new(y.iter().copied(), y_log, None);
            for a in [&xa, &ya] {
                proptest::prop_assert!(a.lo.is_finite() && a.hi.is_finite() && a.lo < a.hi);
                proptest::prop_assert!(!a.log || a.lo > 0.0);
                for &t in &a.major { proptest::prop_assert!(a.label(t).len() < 24); }
            }
            // Inside the box, up to the rounding of the log10/powf round trip.
            let inside = |a: &AxisSpec, v: f64| {
                let tol = 1e-9 * a.lo.abs().max(a.hi.abs());
                v.is_finite() && v >= a.lo - tol && v <= a.hi + tol
            };
            for run in runs(&x, [&y], &xa, &ya) {
                for (px, [py]) in run {
                    proptest::prop_assert!(inside(&xa, px), "x {} outside {:?}", px, (xa.lo, xa.hi));
                    proptest::prop_assert!(inside(&ya, py), "y {} outside {:?}", py, (ya.lo, ya.hi));
                }
            }
        }
    }

    #[test]
    fn point_filtering() {
        let (xa, ya) = (lin(0.0, 1.0), lin(0.0, 1.0));
        let p = points(&[0.5, 2.0, f64::NAN, 0.1], &[2.0, 0.5, 0.5, -1.0], &xa, &ya);
        assert_eq!(p, vec![(0.5, 1.0), (0.1, 0.0)]);
    }
}
