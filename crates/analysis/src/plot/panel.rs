//! Drawing one panel: layout, axes, data, frame and legend.

use super::axis::{Axis, AxisSpec};
use super::{clip, legend, text, LegendPos, Panel, RegionColor};
use crate::style::{self, palette, Ink, Look, AXIS_LABEL_SIZE, FONT_FAMILY, TICK_LABEL_SIZE};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type DResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Colour of series `i` of `p`.
pub(crate) fn series_color(p: &Panel, i: usize) -> RGBColor {
    p.series[i].color.map_or(palette(i), Ink::rgb)
}

/// Colour of band `i` of `p` (by default that of series `i`).
pub(crate) fn band_color(p: &Panel, i: usize) -> RGBColor {
    p.bands[i].color.map_or(palette(i), Ink::rgb)
}

/// Colour of scatter `i` of `p` (by default continuing after the series).
pub(crate) fn scatter_color(p: &Panel, i: usize) -> RGBColor {
    p.scatters[i]
        .color
        .map_or(palette(p.series.len() + i), Ink::rgb)
}

/// Fill of a region.
pub(crate) fn region_fill(c: RegionColor) -> RGBAColor {
    match c {
        RegionColor::Safe => style::SAFE_FILL,
        RegionColor::Unsafe => style::UNSAFE_FILL,
        RegionColor::Palette(i) => palette(i).mix(style::REGION_ALPHA),
    }
}

/// x values the x axis should show (drawable points and reference lines;
/// regions do not widen the range).
fn x_values(p: &Panel) -> Vec<f64> {
    let mut v = vec![];
    for s in &p.series {
        v.extend(
            s.x.iter()
                .zip(&s.y)
                .filter(|(_, y)| y.is_finite())
                .map(|(x, _)| *x),
        );
    }
    for b in &p.bands {
        v.extend(
            b.x.iter()
                .zip(b.lo.iter().zip(&b.hi))
                .filter(|(_, (l, h))| l.is_finite() && h.is_finite())
                .map(|(x, _)| *x),
        );
    }
    for s in &p.scatters {
        v.extend(
            s.x.iter()
                .zip(&s.y)
                .filter(|(_, y)| y.is_finite())
                .map(|(x, _)| *x),
        );
    }
    v.extend(p.vlines.iter().map(|l| l.x));
    v.extend(p.annotations.iter().map(|a| a.x));
    v
}

/// y values the y axis should show: those at visible x, and reference lines.
fn y_values(p: &Panel, xa: &AxisSpec) -> Vec<f64> {
    let visible = |x: &f64| xa.contains(*x);
    let mut v = vec![];
    for s in &p.series {
        v.extend(
            s.x.iter()
                .zip(&s.y)
                .filter(|(x, _)| visible(x))
                .map(|(_, y)| *y),
        );
    }
    for b in &p.bands {
        for (x, (l, h)) in b.x.iter().zip(b.lo.iter().zip(&b.hi)) {
            if visible(x) {
                v.extend([*l, *h]);
            }
        }
    }
    for s in &p.scatters {
        v.extend(
            s.x.iter()
                .zip(&s.y)
                .filter(|(x, _)| visible(x))
                .map(|(_, y)| *y),
        );
    }
    v.extend(p.hlines.iter().map(|l| l.y));
    v.extend(p.annotations.iter().filter(|a| visible(&a.x)).map(|a| a.y));
    v
}

/// Draws panel `p` filling `area`, its sizes at `look`'s scale.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
    look: Look,
) -> DResult<DB> {
    let (w, h) = area.dim_in_pixel();
    let (tick, axis, title) = (
        look.size(TICK_LABEL_SIZE),
        look.size(AXIS_LABEL_SIZE),
        look.size(style::PANEL_TITLE_SIZE),
    );
    let mut xa = AxisSpec::new(x_values(p), p.x_log, p.x_range);
    if let Some(ticks) = &p.x_ticks {
        xa.set_ticks(ticks);
    }
    let mut ya = AxisSpec::new(y_values(p, &xa), p.y_log, p.y_range);

    // Label areas sized from the actual tick labels, so nothing overlaps.
    let ytick_w = ya
        .major
        .iter()
        .map(|&v| text::width(&ya.label(v), tick))
        .max();
    let desc = |s: &str| {
        if s.trim().is_empty() {
            0
        } else {
            (axis * 1.5) as u32
        }
    };
    let y_area = look.px(20) + ytick_w.unwrap_or(0) + desc(&p.y_label);
    let x_area = look.px(14) + (tick * 1.4) as u32 + desc(&p.x_label);
    let (margin_l, margin_r) = (look.px(8), look.px(24));

    // Legend strips outside the plot.
    let entries = legend::entries(p);
    let pos = if entries.is_empty() {
        LegendPos::None
    } else {
        p.legend
    };
    let flow_w = w.saturating_sub(y_area + margin_l + margin_r) as i32;
    let rows = if pos == LegendPos::Below {
        legend::flow(&entries, flow_w, look)
    } else {
        vec![]
    };
    let chart_area = match pos {
        LegendPos::Right => {
            area.split_horizontally(w - legend::strip_width(&entries, w, look))
                .0
        }
        LegendPos::Below => {
            area.split_vertically(h.saturating_sub(legend::flow_height(&rows, look)))
                .0
        }
        _ => area.clone(),
    };

    // The title goes in a strip of its own (so the builder draws nothing and
    // can be built twice for equal aspect, and the top tick label, which
    // stands half above the plot, never meets the title).
    let strip_h = if p.title.trim().is_empty() {
        0
    } else {
        (title * 1.8) as u32
    };
    let chart_area = if strip_h > 0 {
        let (top, rest) = chart_area.split_vertically(strip_h);
        let fitted = text::fit(p.title.trim(), title, w.saturating_sub(20));
        let (tw, th) = top.dim_in_pixel();
        let font = text::style(title, &style::AXIS_COLOR).pos(Pos::new(HPos::Center, VPos::Center));
        top.draw_text(&fitted, &font, (tw as i32 / 2, th as i32 / 2))?;
        rest
    } else {
        chart_area
    };
    let mut builder = ChartBuilder::on(&chart_area);
    builder
        // Room for the top tick label, which stands half above the plot.
        .margin_top(look.px(12) + (tick * 0.5) as u32)
        .margin_bottom(look.px(8))
        .margin_left(margin_l)
        .margin_right(margin_r)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area);
    let mut chart = builder.build_cartesian_2d(Axis::new(xa.clone()), Axis::new(ya.clone()))?;
    if p.equal_aspect && !p.x_log && !p.y_log {
        // One data unit the same length on both axes: widen the axis whose
        // units are longer, about its centre.
        let (px, py) = chart.plotting_area().get_pixel_range();
        let (pw, ph) = (
            (px.end - px.start).max(1) as f64,
            (py.end - py.start).max(1) as f64,
        );
        let (sx, sy) = ((xa.hi - xa.lo) / pw, (ya.hi - ya.lo) / ph);
        let widen = |a: &AxisSpec, per_px: f64, px: f64| {
            let (mid, half) = ((a.lo + a.hi) / 2.0, per_px * px / 2.0);
            AxisSpec::new([], false, Some((mid - half, mid + half)))
        };
        if sx > sy {
            ya = widen(&ya, sx, ph);
        } else {
            xa = widen(&xa, sy, pw);
            if let Some(ticks) = &p.x_ticks {
                xa.set_ticks(ticks);
            }
        }
        chart = builder.build_cartesian_2d(Axis::new(xa.clone()), Axis::new(ya.clone()))?;
    }

    let xf = |v: &f64| xa.label(*v);
    let yf = |v: &f64| ya.label(*v);
    // Axis descriptions cut (with "…") to the plot's extent, so a long one
    // never runs into a neighbouring panel or the figure title.
    let (px, py) = chart.plotting_area().get_pixel_range();
    let x_desc = text::fit(p.x_label.trim(), axis, (px.end - px.start).max(0) as u32);
    let y_desc = text::fit(p.y_label.trim(), axis, (py.end - py.start).max(0) as u32);
    chart
        .configure_mesh()
        .x_labels(10)
        .y_labels(10)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT_FAMILY, tick))
        .axis_desc_style((FONT_FAMILY, axis))
        .bold_line_style(style::GRID_COLOR)
        .light_line_style(style::MINOR_GRID_COLOR)
        .axis_style(style::AXIS_COLOR)
        .draw()?;

    draw_data(&mut chart, p, &xa, &ya, look)?;

    // Frame and legend, in pixels relative to the panel.
    let (base_x, base_y) = area.get_base_pixel();
    let (px, py) = chart.plotting_area().get_pixel_range();
    let plot = (
        px.start - base_x,
        py.start - base_y,
        px.end - base_x,
        py.end - base_y,
    );
    area.draw(&Rectangle::new(
        [(plot.0, plot.1), (plot.2 - 1, plot.3 - 1)],
        style::AXIS_COLOR.stroke_width(1),
    ))?;
    let ink = ink(&chart, p, &xa, &ya, (base_x, base_y));
    draw_annotations(
        area,
        &chart,
        p,
        &xa,
        &ya,
        plot,
        (base_x, base_y),
        &ink,
        look,
    )?;

    match pos {
        LegendPos::None => Ok(()),
        LegendPos::Right => {
            let x0 = chart_area.dim_in_pixel().0 as i32;
            let room = legend::text_room(w as i32 - x0, look);
            let origin = (x0, plot.1 - legend::pad(look));
            legend::draw_column(area, &entries, origin, room, false, look)
        }
        LegendPos::Below => {
            // Below the chart, which starts under the title strip.
            let y0 = (chart_area.dim_in_pixel().1 + strip_h) as i32;
            let origin = (plot.0 - legend::pad(look), y0);
            legend::draw_rows(area, &entries, &rows, origin, flow_w, look)
        }
        corner => {
            // Up to 60% of the plot's width, so labels with values fit.
            let room = legend::text_room((plot.2 - plot.0) * 3 / 5, look);
            let (bw, bh) = legend::column_size(&entries, room, look);
            let inset = look.ipx(10);
            let corner = if corner == LegendPos::FreeCorner {
                free_corner(&ink, plot, (bw, bh), inset)
            } else {
                corner
            };
            let left = matches!(corner, LegendPos::UpperLeft | LegendPos::LowerLeft);
            let upper = matches!(corner, LegendPos::UpperLeft | LegendPos::UpperRight);
            let x = if left {
                plot.0 + inset
            } else {
                plot.2 - inset - bw
            };
            let y = if upper {
                plot.1 + inset
            } else {
                plot.3 - inset - bh
            };
            legend::draw_column(area, &entries, (x, y), room, true, look)
        }
    }
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// The corner for a boxed legend of size `(bw, bh)` set `inset` pixels into
/// `plot` (left, top, right, bottom): the first of upper left, lower right,
/// upper right, lower left whose box covers none of the `ink` points, else
/// the one covering fewest.
pub(crate) fn free_corner(
    ink: &[(i32, i32)],
    plot: (i32, i32, i32, i32),
    (bw, bh): (i32, i32),
    inset: i32,
) -> LegendPos {
    let corners = [
        LegendPos::UpperLeft,
        LegendPos::LowerRight,
        LegendPos::UpperRight,
        LegendPos::LowerLeft,
    ];
    let covered = |c: &LegendPos| {
        let left = matches!(c, LegendPos::UpperLeft | LegendPos::LowerLeft);
        let upper = matches!(c, LegendPos::UpperLeft | LegendPos::UpperRight);
        let x0 = if left {
            plot.0 + inset
        } else {
            plot.2 - inset - bw
        };
        let y0 = if upper {
            plot.1 + inset
        } else {
            plot.3 - inset - bh
        };
        ink.iter()
            .filter(|&&(x, y)| x >= x0 && x <= x0 + bw && y >= y0 && y <= y0 + bh)
            .count()
    };
    // min_by_key keeps the first of equal counts: the order above.
    *corners
        .iter()
        .min_by_key(|c| covered(c))
        .expect("four corners")
}

/// Pixels (relative to the panel, every ~2 px along each drawn segment) of
/// the series' lines, the bands' edges and the scatter points: where a
/// label or a legend box would cover data.
fn ink<DB: DrawingBackend>(
    chart: &Chart<'_, DB>,
    p: &Panel,
    xa: &AxisSpec,
    ya: &AxisSpec,
    base: (i32, i32),
) -> Vec<(i32, i32)> {
    let mut ink: Vec<(i32, i32)> = Vec::new();
    let mut trace = |x: &[f64], y: &[f64]| {
        for piece in clip::line_runs(x, y, xa, ya).0 {
            if let [only] = piece[..] {
                let a = chart.backend_coord(&only);
                ink.push((a.0 - base.0, a.1 - base.1));
            }
            for w in piece.windows(2) {
                let (a, b) = (chart.backend_coord(&w[0]), chart.backend_coord(&w[1]));
                let n = ((a.0 - b.0).abs().max((a.1 - b.1).abs()) / 2).max(1);
                for k in 0..=n {
                    let f = k as f64 / n as f64;
                    ink.push((
                        a.0 - base.0 + ((b.0 - a.0) as f64 * f) as i32,
                        a.1 - base.1 + ((b.1 - a.1) as f64 * f) as i32,
                    ));
                }
            }
        }
    };
    for s in &p.series {
        trace(&s.x, &s.y);
    }
    for b in &p.bands {
        trace(&b.x, &b.lo);
        trace(&b.x, &b.hi);
    }
    for s in &p.scatters {
        for pt in clip::points(&s.x, &s.y, xa, ya) {
            let a = chart.backend_coord(&pt);
            ink.push((a.0 - base.0, a.1 - base.1));
        }
    }
    ink
}

/// Regions, bands, reference lines, series and scatters, back to front.
fn draw_data<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    p: &Panel,
    xa: &AxisSpec,
    ya: &AxisSpec,
    look: Look,
) -> DResult<DB> {
    let area = chart.plotting_area();
    let marker = look.px(style::MARKER_SIZE);
    for r in &p.regions {
        if let Some((a, b)) = clip::span(r.x0, r.x1, xa) {
            area.draw(&Rectangle::new(
                [(a, ya.lo), (b, ya.hi)],
                region_fill(r.color).filled(),
            ))?;
        }
    }
    for (i, b) in p.bands.iter().enumerate() {
        let fill = band_color(p, i).mix(style::BAND_ALPHA).filled();
        for run in clip::runs(&b.x, [&b.lo, &b.hi], xa, ya) {
            let upper = run.iter().map(|&(x, [_, hi])| (x, hi));
            let lower = run.iter().rev().map(|&(x, [lo, _])| (x, lo));
            if run.len() >= 2 {
                area.draw(&Polygon::new(upper.chain(lower).collect::<Vec<_>>(), fill))?;
            }
        }
    }
    let ref_style = style::REF_LINE_COLOR.stroke_width(look.px(style::REF_LINE_WIDTH));
    for v in p
        .vlines
        .iter()
        .filter(|v| v.x.is_finite() && xa.contains(v.x))
    {
        line(
            area,
            vec![(v.x, ya.lo), (v.x, ya.hi)],
            ref_style,
            v.dashed,
            look,
        )?;
    }
    for h in p
        .hlines
        .iter()
        .filter(|h| h.y.is_finite() && ya.contains(h.y))
    {
        line(
            area,
            vec![(xa.lo, h.y), (xa.hi, h.y)],
            ref_style,
            h.dashed,
            look,
        )?;
    }
    for (i, s) in p.series.iter().enumerate() {
        let color = series_color(p, i);
        let st = color.stroke_width(look.px(s.width.max(1)));
        let (pieces, edges) = clip::line_runs(&s.x, &s.y, xa, ya);
        for pts in pieces {
            if pts.len() == 1 && !s.markers {
                // A lone point between gaps would otherwise be invisible.
                area.draw(&Circle::new(pts[0], marker, color.filled()))?;
            } else {
                line(area, pts, st, s.dashed, look)?;
            }
        }
        // Where the line leaves the box: a triangle on the frame pointing
        // the way it went (the curve itself stops there).
        let tri = (marker + look.px(2)) as i32;
        for e in edges {
            let tip = if e.top { -2 * tri } else { 2 * tri };
            let shape = EmptyElement::at(e.at)
                + Polygon::new(vec![(0, tip), (-tri, 0), (tri, 0)], color.filled());
            area.draw(&shape)?;
        }
        if s.markers {
            for pt in clip::points(&s.x, &s.y, xa, ya) {
                area.draw(&Circle::new(pt, marker, color.filled()))?;
            }
        }
    }
    for (i, s) in p.scatters.iter().enumerate() {
        let fill = scatter_color(p, i).filled();
        for pt in clip::points(&s.x, &s.y, xa, ya) {
            area.draw(&Circle::new(pt, look.px(style::MARKER_SIZE + 1), fill))?;
        }
    }
    Ok(())
}

/// A solid or dashed polyline in data coordinates.
fn line<DB: DrawingBackend>(
    area: &DrawingArea<DB, Cartesian2d<Axis, Axis>>,
    pts: Vec<(f64, f64)>,
    st: ShapeStyle,
    dashed: bool,
    look: Look,
) -> DResult<DB> {
    if dashed {
        let (d, g) = (look.px(style::DASH.0), look.px(style::DASH.1));
        area.draw(&DashedPathElement::new(pts, d, g, st))
    } else {
        area.draw(&PathElement::new(pts, st))
    }
}

/// Annotation points and texts, drawn on the panel in pixels so that a
/// text near the right or top edge can be moved inside the plot.
fn draw_annotations<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart<'_, DB>,
    p: &Panel,
    xa: &AxisSpec,
    ya: &AxisSpec,
    plot: (i32, i32, i32, i32),
    base: (i32, i32),
    ink: &[(i32, i32)],
    look: Look,
) -> DResult<DB> {
    let size = look.size(style::ANNOTATION_SIZE);
    for a in &p.annotations {
        let shown = a.x.is_finite() && a.y.is_finite() && xa.contains(a.x) && ya.contains(a.y);
        if !shown || (xa.log && a.x <= 0.0) || (ya.log && a.y <= 0.0) {
            continue;
        }
        let (ax, ay) = chart.backend_coord(&(a.x, a.y));
        let (x, y) = (ax - base.0, ay - base.1);
        area.draw(&Circle::new((x, y), look.px(4), style::AXIS_COLOR.filled()))?;
        let tw = text::width(&a.text, size) as i32;
        let th = (size * 1.3) as i32;
        // Candidate corners in order of preference: upper right, lower
        // right, upper left, lower left; the first inside the plot that no
        // line crosses, else the one crossed least.
        let (dx, dy) = (look.ipx(10), look.ipx(6));
        let candidates = [
            (x + dx, y - dy, HPos::Left, VPos::Bottom),
            (x + dx, y + dy, HPos::Left, VPos::Top),
            (x - dx, y - dy, HPos::Right, VPos::Bottom),
            (x - dx, y + dy, HPos::Right, VPos::Top),
        ];
        let rect = |&(cx, cy, h, v): &(i32, i32, HPos, VPos)| {
            let x0 = if matches!(h, HPos::Left) { cx } else { cx - tw };
            let y0 = if matches!(v, VPos::Bottom) {
                cy - th
            } else {
                cy
            };
            (x0, y0, x0 + tw, y0 + th)
        };
        let fits = |r: (i32, i32, i32, i32)| {
            r.0 >= plot.0 + 2 && r.2 <= plot.2 - 4 && r.1 >= plot.1 && r.3 <= plot.3
        };
        let crossings = |r: (i32, i32, i32, i32)| {
            ink.iter()
                .filter(|&&(px, py)| {
                    px >= r.0 - 2 && px <= r.2 + 2 && py >= r.1 - 2 && py <= r.3 + 2
                })
                .count()
        };
        let best = candidates
            .iter()
            .filter(|c| fits(rect(c)))
            .min_by_key(|c| crossings(rect(c)))
            .unwrap_or(&candidates[0]);
        let (tx, ty, hpos, vpos) = *best;
        let font = text::style(size, &style::AXIS_COLOR).pos(Pos::new(hpos, vpos));
        area.draw_text(&a.text, &font, (tx, ty))?;
    }
    Ok(())
}
