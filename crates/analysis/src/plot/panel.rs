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
    p.scatters[i].color.map_or(palette(p.series.len() + i), Ink::rgb)
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

/// What the figure decides for all its panels.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FigureCtx {
    /// Label formats shared by the panels.
    pub powers: Powers,
    /// The figure draws one legend for all panels (theirs are off).
    pub shared_legend: bool,
}

/// Whether the log axes labelled in decades show powers of ten, on x and y.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Powers {
    pub x: bool,
    pub y: bool,
}

/// The axes of `p` fitted to its data (or its fixed ranges), before the
/// layout: ticks not yet thinned, no equal-aspect widening.
pub(crate) fn axes(p: &Panel) -> (AxisSpec, AxisSpec) {
    let mut xa = AxisSpec::new(x_values(p), p.x_log, p.x_range);
    if let Some(ticks) = &p.x_ticks {
        xa.set_ticks(ticks);
    }
    let mut ya = AxisSpec::new(y_values(p, &xa), p.y_log, p.y_range);
    if let Some(ticks) = &p.y_ticks {
        ya.set_ticks(ticks);
    }
    (xa, ya)
}

/// Whether a line of `p` leaves the plot through its top or bottom edge
/// (drawn cut there, with a triangle).
pub(crate) fn has_cut(p: &Panel) -> bool {
    let (xa, ya) = axes(p);
    p.series.iter().any(|s| !clip::line_runs(&s.x, &s.y, &xa, &ya).1.is_empty())
}

/// Where a boxed item (legend, note) goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Inside the plot, in this corner.
    Corner(LegendPos),
    /// In a strip outside the plot (below it, or right of it for a
    /// [`LegendPos::Right`] legend).
    Outside,
    /// Not drawn.
    Nowhere,
}

/// The corners in the order a free one is looked for.
const CORNERS: [LegendPos; 4] = [
    LegendPos::UpperLeft,
    LegendPos::LowerRight,
    LegendPos::UpperRight,
    LegendPos::LowerLeft,
];

/// The rectangle (left, top, right, bottom) of a `(bw, bh)` box set
/// `inset` pixels into `corner` of `plot`.
fn corner_rect(corner: LegendPos, plot: (i32, i32, i32, i32), (bw, bh): (i32, i32), inset: i32) -> (i32, i32, i32, i32) {
    let left = matches!(corner, LegendPos::UpperLeft | LegendPos::LowerLeft);
    let upper = matches!(corner, LegendPos::UpperLeft | LegendPos::UpperRight);
    let x0 = if left { plot.0 + inset } else { plot.2 - inset - bw };
    let y0 = if upper { plot.1 + inset } else { plot.3 - inset - bh };
    (x0, y0, x0 + bw, y0 + bh)
}

/// How many `ink` points lie in `r` (grown by 2 px).
fn covered(ink: &[(i32, i32)], r: (i32, i32, i32, i32)) -> usize {
    ink.iter()
        .filter(|&&(x, y)| x >= r.0 - 2 && x <= r.2 + 2 && y >= r.1 - 2 && y <= r.3 + 2)
        .count()
}

/// Whether two rectangles overlap.
fn overlaps(a: (i32, i32, i32, i32), b: (i32, i32, i32, i32)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// The placement rule of every box inside a plot (legend, note): the
/// `preferred` corner if its box covers no data and no box already placed,
/// else the first free one of upper left, lower right, upper right, lower
/// left; `None` if every corner covers data or another box (the box then
/// goes outside the plot), or if the box does not fit in the plot.
pub(crate) fn place_box(
    ink: &[(i32, i32)],
    taken: &[(i32, i32, i32, i32)],
    plot: (i32, i32, i32, i32),
    size: (i32, i32),
    inset: i32,
    preferred: Option<LegendPos>,
) -> Option<LegendPos> {
    if size.0 + 2 * inset > plot.2 - plot.0 || size.1 + 2 * inset > plot.3 - plot.1 {
        return None;
    }
    preferred.into_iter().chain(CORNERS).find(|&c| {
        let r = corner_rect(c, plot, size, inset);
        covered(ink, r) == 0 && !taken.iter().any(|t| overlaps(*t, r))
    })
}

/// The legend's place before the plot is known.
fn initial_place(pos: LegendPos, has_entries: bool) -> Place {
    match pos {
        _ if !has_entries => Place::Nowhere,
        LegendPos::None => Place::Nowhere,
        LegendPos::Right | LegendPos::Below => Place::Outside,
        c => Place::Corner(c),
    }
}

/// Draws panel `p` filling `area`, its sizes at `look`'s scale; returns,
/// for an equal-aspect panel, the plot height (px) it lacks for the aspect
/// of its data (negative: in excess).
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
    look: Look,
    fig: FigureCtx,
) -> Result<Option<f64>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, _) = area.dim_in_pixel();
    let (tick, axis, title, note_size) = (
        look.size(TICK_LABEL_SIZE),
        look.size(AXIS_LABEL_SIZE),
        look.size(style::PANEL_TITLE_SIZE),
        look.size(style::ANNOTATION_SIZE),
    );
    let (mut xa, mut ya) = axes(p);
    if fig.powers.x && xa.decades_only() {
        xa.powers = true;
    }
    if fig.powers.y && ya.decades_only() {
        ya.powers = true;
    }

    // Label areas sized from the actual tick labels, so nothing overlaps.
    let ytick_w = ya
        .major
        .iter()
        .map(|&v| text::width(&ya.label(v), tick))
        .max()
        .unwrap_or(0);
    let tick_len = look.px(2.5);
    let x_tick_len = look.px(3.5);
    let desc = |s: &str| if s.trim().is_empty() { 0 } else { (axis * 1.15) as u32 + look.px(2.0) };
    let y_area = 2 * tick_len + ytick_w + look.px(2.0) + desc(&p.y_label);
    let x_area = 2 * x_tick_len + (tick * 0.95) as u32 + look.px(2.0) + desc(&p.x_label);
    // Right margin: room for half the last x tick label.
    let last_x = xa.major.last().map_or(0, |&v| text::width(&xa.label(v), tick) / 2);
    let (margin_l, margin_r) = (look.px(3.0), look.px(4.0).max(last_x + look.px(1.0)));
    let inset = look.ipx(4.0);

    let entries = legend::entries(p);
    let mut note_lines: Vec<String> = p.notes.iter().filter(|n| !n.trim().is_empty()).cloned().collect();
    // A cut line is explained in the legend; without one, in the note.
    if p.legend == LegendPos::None && !fig.shared_legend && has_cut(p) {
        note_lines.push(format!("▲/▼ on the frame: {}", legend::CUT_LABEL));
    }
    let legend_place = initial_place(p.legend, !entries.is_empty());
    let note_place = if note_lines.is_empty() {
        Place::Nowhere
    } else if p.notes_below {
        Place::Outside
    } else {
        Place::Corner(LegendPos::UpperRight)
    };
    let flow_w = w.saturating_sub(y_area + margin_l + margin_r) as i32;
    // Room for text in a box inside the plot: up to 60% of its width.
    let box_room = |plot: (i32, i32, i32, i32)| legend::text_room((plot.2 - plot.0) * 3 / 5, look);

    // Lay out, look where the data lies, place the boxes; a box that finds
    // no free corner moves outside and the panel is laid out again.
    let title_gutter = look.ipx(10.0);
    let title_lines = if p.title.trim().is_empty() {
        vec![]
    } else {
        // Up to the panel's width less a gutter on each side (so titles of
        // neighbouring panels never run into one another): centred on the
        // plot where it fits, moved just enough to stay inside where not.
        text::wrap(p.title.trim(), title, (w as i32 - 2 * title_gutter).max(1) as u32)
    };
    let title_h = match title_lines.len() {
        0 => 0,
        n => (title * (0.55 + 1.2 * n as f64)) as u32,
    };
    let (xa0, ya0) = (xa.clone(), ya.clone());
    let spec = Spec { tick, x_area, y_area, margin_l, margin_r, look };
    // The chart area for the placements: below it the note strip (if the
    // note is outside), then the legend strip (legend below), or the legend
    // strip at the right.
    let layout = |legend_place: Place, note_place: Place| {
        let legend_right = legend_place == Place::Outside && p.legend == LegendPos::Right;
        let legend_below = legend_place == Place::Outside && !legend_right;
        let rows = if legend_below { legend::flow(&entries, flow_w, look) } else { vec![] };
        let note_rows: Vec<String> = if note_place == Place::Outside {
            note_lines.iter().flat_map(|n| text::wrap(n, note_size, flow_w.max(1) as u32)).collect()
        } else {
            vec![]
        };
        let legend_h = if legend_below { legend::flow_height(&rows, look) } else { 0 };
        let note_h = if note_rows.is_empty() { 0 } else { legend::lines_height(note_rows.len(), look) };
        let right_w = if legend_right { legend::strip_width(&entries, w, look) } else { 0 };
        let chart_area = area.margin(title_h, legend_h + note_h, 0, right_w);
        (chart_area, rows, note_rows)
    };
    // Where the boxes inside the plot go, given the chart; `None` moves
    // the one that found no free corner outside.
    type Boxes = (Option<(i32, i32, i32, i32)>, Option<((i32, i32, i32, i32), Vec<String>)>);
    let place = |chart: &Chart<'_, DB>, xa: &AxisSpec, ya: &AxisSpec, legend_place: Place, note_place: Place, last: bool| -> (Boxes, Option<(Place, Place)>) {
        let plot = plot_rect(chart, area);
        let mut ink = ink(chart, p, xa, ya, area.get_base_pixel());
        // A box must not cover an annotated point either (its text goes
        // beside it).
        let base = area.get_base_pixel();
        let r = look.ipx(style::MARKER_SIZE * 3.0);
        for a in p.annotations.iter().filter(|a| xa.contains(a.x) && ya.contains(a.y)) {
            let (x, y) = chart.backend_coord(&(a.x, a.y));
            for (dx, dy) in [(0, 0), (-r, -r), (r, -r), (-r, r), (r, r)] {
                ink.push((x - base.0 + dx, y - base.1 + dy));
            }
        }
        let mut legend_box = None;
        if let Place::Corner(c) = legend_place {
            let size = legend::column_size(&entries, box_room(plot), look);
            let preferred = (c != LegendPos::FreeCorner).then_some(c);
            match place_box(&ink, &[], plot, size, inset, preferred) {
                Some(c) => legend_box = Some(corner_rect(c, plot, size, inset)),
                None if !last => return ((None, None), Some((Place::Outside, note_place))),
                // Last attempt: the corner that covers least.
                None => {
                    let c = free_corner(&ink, plot, size, inset);
                    legend_box = Some(corner_rect(c, plot, size, inset));
                }
            }
        }
        let mut note_box = None;
        if let Place::Corner(c) = note_place {
            // Notes may use the plot's whole width (lines are short).
            let room = legend::text_room(plot.2 - plot.0 - 2 * inset, look) + look.ipx(17.0);
            let lines: Vec<String> = note_lines.iter().flat_map(|n| text::wrap(n, note_size, room.max(1) as u32)).collect();
            let size = legend::lines_size(&lines, look);
            let taken: Vec<_> = legend_box.into_iter().collect();
            match place_box(&ink, &taken, plot, size, inset, Some(c)) {
                Some(c) => note_box = Some((corner_rect(c, plot, size, inset), lines)),
                None if !last => return ((None, None), Some((legend_place, Place::Outside))),
                None => {}
            }
        }
        ((legend_box, note_box), None)
    };
    // Lay out, look where the data lies, place the boxes; a box that finds
    // no free corner moves outside and the panel is laid out again.
    let mut places = (legend_place, note_place);
    for attempt in 0..3 {
        let (chart_area, _, _) = layout(places.0, places.1);
        let (chart, xa1, ya1, _) = build(&chart_area, p, &xa0, &ya0, &spec)?;
        match place(&chart, &xa1, &ya1, places.0, places.1, attempt == 2).1 {
            Some(next) => places = next,
            None => break,
        }
    }
    let (legend_place, note_place) = places;
    let (chart_area, rows, note_rows) = layout(legend_place, note_place);
    let (mut chart, xa1, ya1, aspect_gap) = build(&chart_area, p, &xa0, &ya0, &spec)?;
    (xa, ya) = (xa1, ya1);
    let ((legend_box, note_box), _) = place(&chart, &xa, &ya, legend_place, note_place, true);

    let plot = plot_rect(&chart, area);
    // The title, centred on the plot (not on the panel with its label area).
    let centre = (plot.0 + plot.2) / 2;
    for (i, line) in title_lines.iter().enumerate() {
        let y = (title * (0.2 + 1.2 * i as f64)) as i32;
        let half = text::width(line, title) as i32 / 2 + title_gutter;
        let x = centre.min(w as i32 - half).max(half);
        text::draw(area, line, (x, y), Pos::new(HPos::Center, VPos::Top), title, &style::AXIS_COLOR, false)?;
    }

    let xf = |v: &f64| xa.label(*v);
    let yf = |v: &f64| ya.label(*v);
    chart
        .configure_mesh()
        .x_labels(10)
        .y_labels(10)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        // plotters takes a text size in whole pixels (rounded down).
        .label_style((FONT_FAMILY, tick.ceil()))
        .set_all_tick_mark_size(tick_len)
        // Longer ticks below: the x labels then stand clear of the lowest
        // y label at the corner.
        .set_tick_mark_size(LabelAreaPosition::Bottom, x_tick_len)
        .bold_line_style(style::GRID_COLOR)
        .light_line_style(style::MINOR_GRID_COLOR)
        .axis_style(style::AXIS_COLOR)
        .draw()?;

    draw_data(&chart, p, &xa, &ya, look)?;

    // Axis descriptions (with subscripts), cut to the plot's extent.
    let x_desc = text::fit(p.x_label.trim(), axis, (plot.2 - plot.0).max(0) as u32);
    let y_desc = text::fit(p.y_label.trim(), axis, (plot.3 - plot.1).max(0) as u32);
    if !x_desc.is_empty() {
        let y = plot.3 + 2 * x_tick_len as i32 + (tick * 0.95) as i32 + look.ipx(2.0);
        text::draw(area, &x_desc, (centre, y), Pos::new(HPos::Center, VPos::Top), axis, &style::AXIS_COLOR, false)?;
    }
    if !y_desc.is_empty() {
        let x = plot.0 - y_area as i32 + look.ipx(0.5);
        let y = (plot.1 + plot.3) / 2;
        text::draw(area, &y_desc, (x, y), Pos::new(HPos::Center, VPos::Top), axis, &style::AXIS_COLOR, true)?;
    }

    area.draw(&Rectangle::new(
        [(plot.0, plot.1), (plot.2 - 1, plot.3 - 1)],
        style::AXIS_COLOR.stroke_width(look.px(style::FRAME_WIDTH)),
    ))?;
    let ink = ink(&chart, p, &xa, &ya, area.get_base_pixel());
    let boxes: Vec<_> = legend_box.iter().copied().chain(note_box.iter().map(|b| b.0)).collect();
    draw_annotations(area, &chart, p, &xa, &ya, plot, area.get_base_pixel(), &ink, &boxes, look)?;

    // Strips below the chart: the note, then the legend.
    let mut y0 = (chart_area.dim_in_pixel().1 + title_h) as i32;
    if !note_rows.is_empty() {
        legend::draw_lines(area, &note_rows, (plot.0 - legend::pad(look), y0), false, look)?;
        y0 += legend::lines_height(note_rows.len(), look) as i32;
    }
    if let Some(((x0, y0), lines)) = note_box.as_ref().map(|(r, l)| ((r.0, r.1), l)) {
        legend::draw_lines(area, lines, (x0, y0), true, look)?;
    }
    match (legend_place, legend_box) {
        (Place::Outside, _) if p.legend == LegendPos::Right => {
            let x0 = chart_area.dim_in_pixel().0 as i32;
            let room = legend::text_room(w as i32 - x0, look);
            legend::draw_column(area, &entries, (x0, plot.1 - legend::pad(look)), room, false, look)
        }
        (Place::Outside, _) => {
            let origin = (plot.0 - legend::pad(look), y0);
            legend::draw_rows(area, &entries, &rows, origin, flow_w, look)
        }
        (Place::Corner(_), Some(r)) => {
            legend::draw_column(area, &entries, (r.0, r.1), box_room(plot), true, look)
        }
        _ => Ok(()),
    }?;
    Ok(aspect_gap)
}

/// What [`build`] needs besides the panel: tick size and label areas (px).
struct Spec {
    tick: f64,
    x_area: u32,
    y_area: u32,
    margin_l: u32,
    margin_r: u32,
    look: Look,
}

/// The chart of `p` on `chart_area` with the axes `xa`, `ya` (widened for
/// equal aspect), those axes, and for equal aspect the plot height (px)
/// that the data's aspect asks for less the plot's.
#[allow(clippy::type_complexity)]
fn build<'a, DB: DrawingBackend>(
    chart_area: &'a DrawingArea<DB, Shift>,
    p: &Panel,
    xa: &AxisSpec,
    ya: &AxisSpec,
    s: &Spec,
) -> Result<(Chart<'a, DB>, AxisSpec, AxisSpec, Option<f64>), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut aspect_gap = None;
    let (mut xa, mut ya) = (xa.clone(), ya.clone());
    let mut builder = ChartBuilder::on(chart_area);
    builder
        // Room for the top tick label, which stands half above the plot.
        .margin_top(s.look.px(2.0) + (s.tick * 0.5) as u32)
        .margin_bottom(s.look.px(2.0))
        .margin_left(s.margin_l)
        .margin_right(s.margin_r)
        .x_label_area_size(s.x_area)
        .y_label_area_size(s.y_area);
    let mut chart = builder.build_cartesian_2d(Axis::new(xa.clone()), Axis::new(ya.clone()))?;
    // Room for the markers: a marker on or near an edge would be cut by
    // the frame; the axis is widened on that side (markers stay in the old
    // range) until each is whole inside, a few times at most.
    for _ in 0..4 {
        let (px, py) = chart.plotting_area().get_pixel_range();
        let need = marker_overhang(&chart, p, &xa, &ya, s.look, (px.start, px.end, py.start, py.end));
        if need.iter().all(|&n| n <= 0.0) {
            break;
        }
        let grow = |a: &AxisSpec, lo_px: f64, hi_px: f64, len: i32| {
            let (t0, t1) = a.t_range();
            let per_px = (t1 - t0) / len.max(1) as f64;
            a.widened(a.t_to_value(t0 - lo_px.max(0.0) * per_px), a.t_to_value(t1 + hi_px.max(0.0) * per_px))
        };
        // need: (left, right, top, bottom) in pixels.
        xa = grow(&xa, need[0], need[1], px.end - px.start);
        ya = grow(&ya, need[3], need[2], py.end - py.start);
        chart = builder.build_cartesian_2d(Axis::new(xa.clone()), Axis::new(ya.clone()))?;
    }
    if p.equal_aspect && !p.x_log && !p.y_log {
        // One data unit the same length on both axes: widen the axis whose
        // units are longer, about its centre.
        let (px, py) = chart.plotting_area().get_pixel_range();
        let (pw, ph) = ((px.end - px.start).max(1) as f64, (py.end - py.start).max(1) as f64);
        let (sx, sy) = ((xa.hi - xa.lo) / pw, (ya.hi - ya.lo) / ph);
        aspect_gap = Some(pw * (ya.hi - ya.lo) / (xa.hi - xa.lo) - ph);
        let widen = |a: &AxisSpec, per_px: f64, px: f64| {
            let (mid, half) = ((a.lo + a.hi) / 2.0, per_px * px / 2.0);
            AxisSpec::new([], false, Some((mid - half, mid + half))).with_marks_of(a)
        };
        if sx > sy {
            ya = widen(&ya, sx, ph);
            if let Some(ticks) = &p.y_ticks {
                ya.set_ticks(ticks);
            }
        } else {
            xa = widen(&xa, sy, pw);
            if let Some(ticks) = &p.x_ticks {
                xa.set_ticks(ticks);
            }
        }
        chart = builder.build_cartesian_2d(Axis::new(xa.clone()), Axis::new(ya.clone()))?;
    }
    // Tick labels that would touch their neighbours are thinned out (the
    // ticks dropped become minor grid lines).
    let tick = s.tick.ceil();
    let gap = s.look.px(3.0) as f64;
    let x_px = |v: f64| chart.backend_coord(&(v, ya.lo)).0 as f64;
    let y_px = |v: f64| chart.backend_coord(&(xa.lo, v)).1 as f64;
    let x_fits = |ticks: &[f64]| {
        ticks.windows(2).all(|w| {
            let half = |v: f64| text::width(&xa.label(v), tick) as f64 / 2.0;
            (x_px(w[1]) - x_px(w[0])).abs() >= half(w[0]) + half(w[1]) + gap
        })
    };
    let y_fits = |ticks: &[f64]| ticks.windows(2).all(|w| (y_px(w[1]) - y_px(w[0])).abs() >= tick + gap / 2.0);
    let (mut xt, mut yt) = (xa.clone(), ya.clone());
    let changed = xt.thin_labels(x_fits) | yt.thin_labels(y_fits);
    if changed {
        (xa, ya) = (xt, yt);
        chart = builder.build_cartesian_2d(Axis::new(xa.clone()), Axis::new(ya.clone()))?;
    }
    Ok((chart, xa, ya, aspect_gap))
}

/// Every marker `p` draws (scatter points, series markers and lone points,
/// sparse shapes, annotation dots) as (position in data units, radius in
/// pixels), at the axes `xa`, `ya`.
pub(crate) fn markers(p: &Panel, xa: &AxisSpec, ya: &AxisSpec, look: Look) -> Vec<((f64, f64), f64)> {
    let mut out = Vec::new();
    let dot = look.px(style::MARKER_SIZE) as f64;
    for (i, s) in p.series.iter().enumerate() {
        if s.markers {
            out.extend(clip::points(&s.x, &s.y, xa, ya).into_iter().map(|pt| (pt, dot)));
        } else {
            for piece in clip::line_runs(&s.x, &s.y, xa, ya).0 {
                if let [only] = piece[..] {
                    out.push((only, dot));
                }
            }
        }
        if s.shape.is_some() {
            // The diamond reaches farthest: 1.3 times the shape's radius.
            let r = look.ipx(SHAPE_SIZE) as f64 * 1.3;
            out.extend(sparse_marks(&s.x, &s.y, xa, ya, i).into_iter().map(|pt| (pt, r)));
        }
    }
    for s in &p.scatters {
        let r = if s.diamonds {
            (look.px(style::MARKER_SIZE * 2.2) + look.px(0.6)) as f64 * 1.0
        } else {
            look.px(style::MARKER_SIZE * 1.3) as f64
        };
        out.extend(clip::points(&s.x, &s.y, xa, ya).into_iter().map(|pt| (pt, r)));
    }
    let a_r = look.px(style::MARKER_SIZE * 1.2) as f64;
    for a in &p.annotations {
        if a.x.is_finite() && a.y.is_finite() && xa.contains_mark(a.x) && ya.contains_mark(a.y) {
            out.push(((a.x, a.y), a_r));
        }
    }
    out
}

/// How many pixels the markers of `p` reach past (or closer than a frame
/// line's width to) each side of the plot `(left, right, top, bottom)`
/// (pixels of the backend): (left, right, top, bottom); zero or negative
/// where every marker is whole inside.
fn marker_overhang<DB: DrawingBackend>(
    chart: &Chart<'_, DB>,
    p: &Panel,
    xa: &AxisSpec,
    ya: &AxisSpec,
    look: Look,
    (l, r, t, b): (i32, i32, i32, i32),
) -> [f64; 4] {
    let clear = look.px(style::FRAME_WIDTH) as f64 + 1.0;
    let mut need = [f64::NEG_INFINITY; 4];
    for ((x, y), rad) in markers(p, xa, ya, look) {
        let (px, py) = chart.backend_coord(&(x, y));
        let (px, py) = (px as f64, py as f64);
        let reach = rad + clear;
        need[0] = need[0].max(reach - (px - l as f64));
        need[1] = need[1].max(reach - (r as f64 - px));
        need[2] = need[2].max(reach - (py - t as f64));
        need[3] = need[3].max(reach - (b as f64 - py));
    }
    need
}

/// The plot's rectangle (left, top, right, bottom) in pixels of `area`.
fn plot_rect<DB: DrawingBackend>(chart: &Chart<'_, DB>, area: &DrawingArea<DB, Shift>) -> (i32, i32, i32, i32) {
    let (base_x, base_y) = area.get_base_pixel();
    let (px, py) = chart.plotting_area().get_pixel_range();
    (px.start - base_x, py.start - base_y, px.end - base_x, py.end - base_y)
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// The corner for a boxed legend of size `(bw, bh)` set `inset` pixels into
/// `plot` (left, top, right, bottom) when every corner covers data (see
/// [`place_box`]): the first of upper left, lower right, upper right,
/// lower left whose box covers none of the `ink` points, else the one
/// covering fewest.
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
        let x0 = if left { plot.0 + inset } else { plot.2 - inset - bw };
        let y0 = if upper { plot.1 + inset } else { plot.3 - inset - bh };
        ink.iter()
            .filter(|&&(x, y)| x >= x0 && x <= x0 + bw && y >= y0 && y <= y0 + bh)
            .count()
    };
    // min_by_key keeps the first of equal counts: the order above.
    *corners.iter().min_by_key(|c| covered(c)).expect("four corners")
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
    chart: &Chart<'_, DB>,
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
        line(area, vec![(v.x, ya.lo), (v.x, ya.hi)], ref_style, v.dashed, look)?;
    }
    let hlines = |on_top: bool| {
        p.hlines
            .iter()
            .filter(move |h| h.on_top == on_top && h.y.is_finite() && ya.contains(h.y))
    };
    for h in hlines(false) {
        line(area, vec![(xa.lo, h.y), (xa.hi, h.y)], ref_style, h.dashed, look)?;
    }
    for (i, s) in p.series.iter().enumerate() {
        let color = series_color(p, i);
        let color_a = color.mix(s.alpha.clamp(0.05, 1.0));
        let st = color_a.stroke_width(look.px(s.width.pt()));
        let (pieces, edges) = clip::line_runs(&s.x, &s.y, xa, ya);
        for pts in pieces {
            if pts.len() == 1 && !s.markers {
                // A lone point between gaps would otherwise be invisible
                // (drawn where markers are: inside their range).
                if xa.contains_mark(pts[0].0) && ya.contains_mark(pts[0].1) {
                    area.draw(&Circle::new(pts[0], marker, color.filled()))?;
                }
            } else {
                line(area, pts, st, s.dashed, look)?;
            }
        }
        // Where the line leaves the box: a triangle on the frame pointing
        // the way it went (the curve itself stops there).
        let tri = (marker + look.px(0.8)) as i32;
        for e in edges {
            draw_cut(area, e.at, e.top, tri, color)?;
        }
        if s.markers {
            for pt in clip::points(&s.x, &s.y, xa, ya) {
                area.draw(&Circle::new(pt, marker, color.filled()))?;
            }
        }
        if let Some(sh) = s.shape {
            for pt in sparse_marks(&s.x, &s.y, xa, ya, i) {
                draw_shape(area, pt, sh, look.ipx(SHAPE_SIZE), color, look)?;
            }
        }
    }
    for h in hlines(true) {
        line(area, vec![(xa.lo, h.y), (xa.hi, h.y)], ref_style, h.dashed, look)?;
    }
    // Dots first, diamonds (summary points) last: on top of everything.
    for diamonds in [false, true] {
        for (i, s) in p.scatters.iter().enumerate().filter(|(_, s)| s.diamonds == diamonds) {
            let color = scatter_color(p, i);
            for pt in clip::points(&s.x, &s.y, xa, ya) {
                if diamonds {
                    let r = look.px(style::MARKER_SIZE * 2.2) as i32;
                    let rim = r + look.px(0.6) as i32;
                    let shape = |r: i32| vec![(0, -r), (r, 0), (0, r), (-r, 0)];
                    area.draw(&(EmptyElement::at(pt) + Polygon::new(shape(rim), WHITE.filled())))?;
                    area.draw(&(EmptyElement::at(pt) + Polygon::new(shape(r), color.filled())))?;
                } else {
                    area.draw(&Circle::new(pt, look.px(style::MARKER_SIZE * 1.3), color.filled()))?;
                }
            }
        }
    }
    Ok(())
}

/// Radius (pt) of a sparse marker ([`super::Series::shape`]).
pub(crate) const SHAPE_SIZE: f64 = 2.6;
/// Sparse markers per curve ([`super::Series::shape`]).
const MARKS_PER_CURVE: usize = 5;

/// Where the sparse markers of series `i` go: `MARKS_PER_CURVE` points
/// evenly spaced along the visible curve's length (in axis space, each
/// axis' range counted as 1, so a rising stretch gets as many as a flat
/// one of equal drawn length), shifted by a fraction of a spacing that
/// differs from series to series, so that curves lying together do not put
/// their markers on one another. Only points inside the plot.
fn sparse_marks(x: &[f64], y: &[f64], xa: &AxisSpec, ya: &AxisSpec, i: usize) -> Vec<(f64, f64)> {
    let ((x0, x1), (y0, y1)) = (xa.t_range(), ya.t_range());
    let norm = |p: (f64, f64)| ((xa.value_to_t(p.0) - x0) / (x1 - x0), (ya.value_to_t(p.1) - y0) / (y1 - y0));
    // Phase: 0.5, 0.25, 0.75, 0.125, ... of a spacing (a van der Corput
    // sequence), distinct for the first series.
    let phase = {
        let (mut k, mut f, mut v) = (i + 1, 0.5, 0.0);
        while k > 0 {
            if k & 1 == 1 {
                v += f;
            }
            k >>= 1;
            f /= 2.0;
        }
        v
    };
    let mut out: Vec<(f64, f64)> = Vec::new();
    let pieces = clip::line_runs(x, y, xa, ya).0;
    // Cumulative length along the pieces (gaps not counted).
    let mut along: Vec<((f64, f64), f64)> = Vec::new();
    let mut total = 0.0;
    for piece in &pieces {
        for (k, &p) in piece.iter().enumerate() {
            if k > 0 {
                let (a, b) = (norm(piece[k - 1]), norm(p));
                total += (b.0 - a.0).hypot(b.1 - a.1);
            }
            along.push((p, total));
        }
    }
    if along.is_empty() || !(total > 0.0) {
        return out;
    }
    // Marks go on points inside the marker range, never on the point where
    // a line leaves through the frame (its triangle's place).
    let (t0, t1) = (y0.min(y1), y0.max(y1));
    let fits = |p: &(f64, f64)| {
        let t = ya.value_to_t(p.1);
        t > t0 && t < t1 && xa.contains_mark(p.0) && ya.contains_mark(p.1)
    };
    for j in 0..MARKS_PER_CURVE {
        let s = total * (j as f64 + phase) / MARKS_PER_CURVE as f64;
        let near = along
            .iter()
            .filter(|a| fits(&a.0))
            .min_by(|a, b| (a.1 - s).abs().total_cmp(&(b.1 - s).abs()));
        if let Some(&(p, _)) = near {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Draws marker `shape` of radius `r` px centred at `at` (in `area`'s
/// coordinates) in `color`; open shapes with a white inside.
pub(crate) fn draw_shape<DB: DrawingBackend, CT: plotters::coord::CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    shape: super::Shape,
    r: i32,
    color: RGBColor,
    look: Look,
) -> DResult<DB>
where
    CT::From: Clone,
{
    use super::Shape as S;
    let w = look.px(1.0);
    let square = |r: i32| vec![(-r, -r), (r, -r), (r, r), (-r, r)];
    let diamond = |r: i32| {
        let r = r * 13 / 10;
        vec![(0, -r), (r, 0), (0, r), (-r, 0)]
    };
    let outline = |mut v: Vec<(i32, i32)>| {
        v.push(v[0]);
        v
    };
    match shape {
        S::Circle => area.draw(&(EmptyElement::at(at) + plotters::element::Circle::new((0, 0), r, color.filled()))),
        S::OpenCircle => {
            area.draw(&(EmptyElement::at(at.clone()) + plotters::element::Circle::new((0, 0), r, WHITE.filled())))?;
            area.draw(&(EmptyElement::at(at) + plotters::element::Circle::new((0, 0), r, color.stroke_width(w))))
        }
        S::Square => area.draw(&(EmptyElement::at(at) + Polygon::new(square(r * 9 / 10), color.filled()))),
        S::Diamond => area.draw(&(EmptyElement::at(at) + Polygon::new(diamond(r), color.filled()))),
        S::OpenSquare | S::OpenDiamond => {
            let v = if shape == S::OpenSquare { square(r * 9 / 10) } else { diamond(r) };
            area.draw(&(EmptyElement::at(at.clone()) + Polygon::new(v.clone(), WHITE.filled())))?;
            area.draw(&(EmptyElement::at(at) + PathElement::new(outline(v), color.stroke_width(w))))
        }
        S::Cross | S::Plus => {
            let st = color.stroke_width(look.px(1.3));
            let (a, b) = if shape == S::Cross {
                let d = r * 9 / 10;
                ([(-d, -d), (d, d)], [(-d, d), (d, -d)])
            } else {
                ([(-r, 0), (r, 0)], [(0, -r), (0, r)])
            };
            area.draw(&(EmptyElement::at(at.clone()) + PathElement::new(a.to_vec(), st)))?;
            area.draw(&(EmptyElement::at(at) + PathElement::new(b.to_vec(), st)))
        }
    }
}

/// The triangle on the frame where a line leaves the plot (pointing up on
/// the top edge, down on the bottom one), `tri` px, at `at` (in `area`'s
/// coordinates).
pub(crate) fn draw_cut<DB: DrawingBackend, CT: plotters::coord::CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    top: bool,
    tri: i32,
    color: RGBColor,
) -> DResult<DB> {
    let tip = if top { -2 * tri } else { 2 * tri };
    area.draw(&(EmptyElement::at(at) + Polygon::new(vec![(0, tip), (-tri, 0), (tri, 0)], color.filled())))
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
    } else if st.stroke_width >= 3 && pts.len() > 2 && st.color.3 >= 1.0 {
        // Thick lines with round joins: plotters joins the segments of a
        // thick polyline with mitres, which shoot far past a sharp turn
        // (a spike above a dip's rebound). Each segment alone, a dot of
        // the line's width at each inner point.
        for w in pts.windows(2) {
            area.draw(&PathElement::new(w.to_vec(), st))?;
        }
        let r = (st.stroke_width / 2).max(1);
        for &p in &pts[1..pts.len() - 1] {
            area.draw(&Circle::new(p, r, st.color.filled()))?;
        }
        Ok(())
    } else {
        area.draw(&PathElement::new(pts, st))
    }
}

/// Annotation points and texts, drawn on the panel in pixels so that a
/// text near the right or top edge can be moved inside the plot. A text
/// goes beside its point at the first of upper right, lower right, upper
/// left, lower left that stays inside the plot, crosses no data and meets
/// no box or annotation text already placed, else where it crosses least.
#[allow(clippy::too_many_arguments)]
fn draw_annotations<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart<'_, DB>,
    p: &Panel,
    xa: &AxisSpec,
    ya: &AxisSpec,
    plot: (i32, i32, i32, i32),
    base: (i32, i32),
    ink: &[(i32, i32)],
    boxes: &[(i32, i32, i32, i32)],
    look: Look,
) -> DResult<DB> {
    let size = look.size(style::ANNOTATION_SIZE);
    let mut taken: Vec<(i32, i32, i32, i32)> = boxes.to_vec();
    for a in &p.annotations {
        let shown = a.x.is_finite() && a.y.is_finite() && xa.contains_mark(a.x) && ya.contains_mark(a.y);
        if !shown || (xa.log && a.x <= 0.0) || (ya.log && a.y <= 0.0) {
            continue;
        }
        let (ax, ay) = chart.backend_coord(&(a.x, a.y));
        let (x, y) = (ax - base.0, ay - base.1);
        area.draw(&Circle::new((x, y), look.px(style::MARKER_SIZE * 1.2), style::AXIS_COLOR.filled()))?;
        if a.text.trim().is_empty() {
            continue;
        }
        let (dx, dy) = (look.ipx(3.0), look.ipx(2.0));
        let candidates = [
            (x + dx, y - dy, HPos::Left, VPos::Bottom),
            (x + dx, y + dy, HPos::Left, VPos::Top),
            (x - dx, y - dy, HPos::Right, VPos::Bottom),
            (x - dx, y + dy, HPos::Right, VPos::Top),
        ];
        let rect = |&(cx, cy, h, v): &(i32, i32, HPos, VPos)| {
            let b = text::ink_box(&a.text, size, (cx as f64, cy as f64), Pos::new(h, v), false);
            (b.0.floor() as i32, b.1.floor() as i32, b.2.ceil() as i32, b.3.ceil() as i32)
        };
        let fits = |r: (i32, i32, i32, i32)| r.0 >= plot.0 + 2 && r.2 <= plot.2 - 2 && r.1 >= plot.1 + 1 && r.3 <= plot.3 - 1;
        let cost = |r: (i32, i32, i32, i32)| {
            covered(ink, r) + 100_000 * taken.iter().filter(|t| overlaps(**t, r)).count()
        };
        // None inside: the cheapest, moved sideways into the plot.
        let best = *candidates
            .iter()
            .filter(|c| fits(rect(c)))
            .min_by_key(|c| cost(rect(c)))
            .unwrap_or_else(|| candidates.iter().min_by_key(|c| cost(rect(c))).expect("four"));
        let best = {
            let r = rect(&best);
            let shift = if r.2 > plot.2 - 2 { plot.2 - 2 - r.2 } else if r.0 < plot.0 + 2 { plot.0 + 2 - r.0 } else { 0 };
            (best.0 + shift, best.1, best.2, best.3)
        };
        taken.push(rect(&best));
        let (tx, ty, hpos, vpos) = best;
        text::draw(area, &a.text, (tx, ty), Pos::new(hpos, vpos), size, &style::AXIS_COLOR, false)?;
    }
    Ok(())
}
