//! Panel legends: which entries, how big, and drawing them in a strip
//! beside/below the plot or in a boxed corner inside it.

use super::panel::{band_color, draw_cut, draw_shape, has_cut, region_fill, scatter_color, series_color, SHAPE_SIZE};
use super::{text, Panel};
use crate::style::{self, Look, LEGEND_SIZE};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type DResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Width of the symbol drawn before each label (pt).
const SWATCH_W: f64 = 14.0;
/// Gap between symbol and label (pt).
const GAP: f64 = 3.0;
/// Padding around the entries (pt; see [`pad`]).
const PAD: f64 = 3.0;
/// Horizontal space between entries of a row (legend below the plot; pt).
const SPACING: f64 = 9.0;

/// The legend text of the triangle drawn where a line leaves the plot
/// (`clip::line_runs`): added to the legend of every panel that draws one.
pub(crate) const CUT_LABEL: &str = "curve leaves the plot (cut at the frame)";

/// Padding around the entries at `look`'s scale.
pub(crate) fn pad(look: Look) -> i32 {
    look.ipx(PAD)
}

/// Height of one legend row.
pub(crate) fn row_h(look: Look) -> i32 {
    (look.size(LEGEND_SIZE) * 1.25) as i32
}

/// The symbol of a legend entry.
#[derive(Clone, Debug)]
pub(crate) enum Swatch {
    /// A short line, optionally dashed and with a marker.
    Line {
        color: RGBAColor,
        width: f64,
        dashed: bool,
        marker: bool,
        shape: Option<super::Shape>,
    },
    /// The triangles on the frame of a line that leaves the plot.
    Cut,
    /// A filled square (bands and regions).
    Fill(RGBAColor),
    /// A single point (scatters).
    Dot(RGBColor),
    /// A single diamond (summary points).
    Diamond(RGBColor),
}

/// One legend entry.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub label: String,
    pub swatch: Swatch,
}

/// The labelled items of `p`, in the order series, scatters, bands,
/// regions, vertical lines, horizontal lines.
pub(crate) fn entries(p: &Panel) -> Vec<Entry> {
    let mut out = vec![];
    let mut push = |label: &str, swatch| {
        if !label.trim().is_empty() {
            out.push(Entry {
                label: label.trim().to_string(),
                swatch,
            });
        }
    };
    for (i, s) in p.series.iter().enumerate() {
        let color = series_color(p, i).mix(s.alpha.clamp(0.05, 1.0));
        push(
            &s.label,
            Swatch::Line {
                color,
                width: s.width.pt(),
                dashed: s.dashed,
                marker: s.markers,
                shape: s.shape,
            },
        );
    }
    for (i, s) in p.scatters.iter().enumerate() {
        let c = scatter_color(p, i);
        push(&s.label, if s.diamonds { Swatch::Diamond(c) } else { Swatch::Dot(c) });
    }
    for (i, b) in p.bands.iter().enumerate() {
        push(
            &b.label,
            Swatch::Fill(band_color(p, i).mix(style::BAND_ALPHA + 0.1)),
        );
    }
    for r in &p.regions {
        let fill = region_fill(r.color);
        push(
            &r.label,
            Swatch::Fill(RGBAColor(fill.0, fill.1, fill.2, (fill.3 * 2.0).min(1.0))),
        );
    }
    let reference = |dashed| Swatch::Line {
        color: style::REF_LINE_COLOR.to_rgba(),
        width: style::REF_LINE_WIDTH,
        dashed,
        marker: false,
        shape: None,
    };
    for v in &p.vlines {
        push(&v.label, reference(v.dashed));
    }
    for h in &p.hlines {
        push(&h.label, reference(h.dashed));
    }
    // Generated wherever a line is cut: the triangles are explained.
    if has_cut(p) {
        push(CUT_LABEL, Swatch::Cut);
    }
    out
}

/// Widest label in pixels.
fn max_text_w(entries: &[Entry], look: Look) -> i32 {
    entries
        .iter()
        .map(|e| text::width(&e.label, look.size(LEGEND_SIZE)) as i32)
        .max()
        .unwrap_or(0)
}

/// Room for label text in a legend column `total_w` pixels wide.
pub(crate) fn text_room(total_w: i32, look: Look) -> i32 {
    total_w - 2 * look.ipx(PAD) - look.ipx(SWATCH_W) - look.ipx(GAP)
}

/// Width of a legend column holding `entries` with labels at most `text_max` wide.
fn column_w(entries: &[Entry], text_max: i32, look: Look) -> i32 {
    2 * look.ipx(PAD) + look.ipx(SWATCH_W) + look.ipx(GAP) + max_text_w(entries, look).min(text_max)
}

/// Width of the strip right of a plot in a panel `panel_w` pixels wide.
pub(crate) fn strip_width(entries: &[Entry], panel_w: u32, look: Look) -> u32 {
    let max = (panel_w as f64 * style::LEGEND_MAX_FRACTION) as i32;
    // The minimum gives way to the maximum on narrow panels.
    let w = (column_w(entries, i32::MAX, look) + look.ipx(PAD))
        .max(look.ipx(style::LEGEND_MIN_WIDTH));
    w.min(max).max(0) as u32
}

/// Entries flowed into rows that fit `width` pixels (legend below the plot),
/// balanced: as few rows as fit, each as short as that row count allows, so
/// no entry is left alone on a last row.
pub(crate) fn flow(entries: &[Entry], width: i32, look: Look) -> Vec<Vec<usize>> {
    let greedy = flow_within(entries, width, width, look);
    // The narrowest limit that still needs no more rows than `width` does.
    let (mut lo, mut hi) = (0, width);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if flow_within(entries, width, mid, look).len() <= greedy.len() {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    flow_within(entries, width, hi, look)
}

/// Greedy rows of entries at most `limit` pixels wide; entry widths are
/// those of a layout `width` pixels wide. An entry wider than `limit` gets
/// a row of its own.
fn flow_within(entries: &[Entry], width: i32, limit: i32, look: Look) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = vec![];
    let mut used = i32::MAX / 2; // forces a new row for the first entry
    for (i, e) in entries.iter().enumerate() {
        let w = entry_w(e, width, look);
        if used + look.ipx(SPACING) + w > limit - 2 * look.ipx(PAD) {
            rows.push(vec![i]);
            used = w;
        } else {
            rows.last_mut().expect("a row exists").push(i);
            used += look.ipx(SPACING) + w;
        }
    }
    rows
}

/// Width of one entry in a row layout of `width` pixels.
fn entry_w(e: &Entry, width: i32, look: Look) -> i32 {
    let text_max = text_room(width, look);
    let label = text::width(&e.label, look.size(LEGEND_SIZE)) as i32;
    look.ipx(SWATCH_W) + look.ipx(GAP) + label.min(text_max)
}

/// Height of the strip below a plot holding `rows`.
pub(crate) fn flow_height(rows: &[Vec<usize>], look: Look) -> u32 {
    (rows.len() as i32 * row_h(look) + 2 * look.ipx(PAD)) as u32
}

/// Draws `entries` in one column with its top-left corner at `origin` of
/// `area`, labels cut to `text_max` pixels; with `boxed`, on a white box.
pub(crate) fn draw_column<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
    origin: (i32, i32),
    text_max: i32,
    boxed: bool,
    look: Look,
) -> DResult<DB> {
    let (x, y) = origin;
    if boxed {
        let (w, h) = column_size(entries, text_max, look);
        let corners = [(x, y), (x + w, y + h)];
        area.draw(&Rectangle::new(corners, WHITE.mix(0.92).filled()))?;
        area.draw(&Rectangle::new(
            corners,
            RGBColor(170, 170, 170).stroke_width(look.px(style::FRAME_WIDTH)),
        ))?;
    }
    for (k, e) in entries.iter().enumerate() {
        let cy = y + look.ipx(PAD) + k as i32 * row_h(look) + row_h(look) / 2;
        draw_entry(area, e, (x + look.ipx(PAD), cy), text_max, look)?;
    }
    Ok(())
}

/// Size of a boxed column legend (for placing it in a corner).
pub(crate) fn column_size(entries: &[Entry], text_max: i32, look: Look) -> (i32, i32) {
    (
        column_w(entries, text_max, look),
        entries.len() as i32 * row_h(look) + 2 * look.ipx(PAD),
    )
}

/// Draws flowed `rows` of `entries` with the first row's top-left at `origin`.
pub(crate) fn draw_rows<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
    rows: &[Vec<usize>],
    origin: (i32, i32),
    width: i32,
    look: Look,
) -> DResult<DB> {
    let text_max = text_room(width, look);
    for (r, row) in rows.iter().enumerate() {
        let cy = origin.1 + look.ipx(PAD) + r as i32 * row_h(look) + row_h(look) / 2;
        let mut x = origin.0 + look.ipx(PAD);
        for &i in row {
            draw_entry(area, &entries[i], (x, cy), text_max, look)?;
            x += entry_w(&entries[i], width, look) + look.ipx(SPACING);
        }
    }
    Ok(())
}

/// Draws one entry: symbol starting at `x`, vertically centred on `cy`.
fn draw_entry<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    e: &Entry,
    (x, cy): (i32, i32),
    text_max: i32,
    look: Look,
) -> DResult<DB> {
    let swatch_w = look.ipx(SWATCH_W);
    match &e.swatch {
        Swatch::Line {
            color,
            width,
            dashed,
            marker,
            shape,
        } => {
            let ends = vec![(x, cy), (x + swatch_w, cy)];
            let st = color.stroke_width(look.px(*width));
            if *dashed {
                let (d, g) = (look.px(style::DASH.0), look.px(style::DASH.1));
                area.draw(&DashedPathElement::new(ends, d, g, st))?;
            } else {
                area.draw(&PathElement::new(ends, st))?;
            }
            if *marker {
                let r = look.px(style::MARKER_SIZE * 1.3) as i32;
                area.draw(&Circle::new((x + swatch_w / 2, cy), r, color.filled()))?;
            }
            if let Some(sh) = shape {
                let c = RGBColor(color.0, color.1, color.2);
                draw_shape(area, (x + swatch_w / 2, cy), *sh, look.ipx(SHAPE_SIZE), c, look)?;
            }
        }
        Swatch::Cut => {
            // One up, one down, as on the frame (a short frame piece under them).
            let tri = (look.px(style::MARKER_SIZE) + look.px(0.8)) as i32;
            let c = style::REF_LINE_COLOR;
            let (a, b) = (x + swatch_w / 4, x + 3 * swatch_w / 4);
            area.draw(&PathElement::new(vec![(x, cy), (x + swatch_w, cy)], style::AXIS_COLOR.stroke_width(look.px(style::FRAME_WIDTH))))?;
            draw_cut(area, (a, cy), true, tri * 3 / 4, c)?;
            draw_cut(area, (b, cy), false, tri * 3 / 4, c)?;
        }
        Swatch::Fill(c) => {
            let h = row_h(look) / 3;
            area.draw(&Rectangle::new(
                [(x, cy - h), (x + swatch_w, cy + h)],
                c.filled(),
            ))?;
        }
        Swatch::Diamond(c) => {
            let r = look.px(style::MARKER_SIZE * 2.2) as i32;
            let at = (x + swatch_w / 2, cy);
            let pts = vec![(at.0, at.1 - r), (at.0 + r, at.1), (at.0, at.1 + r), (at.0 - r, at.1)];
            area.draw(&Polygon::new(pts, c.filled()))?;
        }
        Swatch::Dot(c) => {
            let r = look.px(style::MARKER_SIZE * 1.3) as i32;
            area.draw(&Circle::new((x + swatch_w / 2, cy), r, c.filled()))?;
        }
    }
    let size = look.size(LEGEND_SIZE);
    let label = text::fit(&e.label, size, text_max.max(0) as u32);
    let pos = Pos::new(HPos::Left, VPos::Center);
    text::draw(area, &label, (x + swatch_w + look.ipx(GAP), cy), pos, size, &style::AXIS_COLOR, false)
}

/// Size of a box of text `lines` (a note) at legend size.
pub(crate) fn lines_size(lines: &[String], look: Look) -> (i32, i32) {
    let w = lines
        .iter()
        .map(|l| text::width(l, look.size(style::ANNOTATION_SIZE)) as i32)
        .max()
        .unwrap_or(0);
    (w + 2 * look.ipx(PAD), lines_height(lines.len(), look) as i32)
}

/// Height of a box or strip of `n` note lines.
pub(crate) fn lines_height(n: usize, look: Look) -> u32 {
    (n as i32 * row_h(look) + 2 * look.ipx(PAD)) as u32
}

/// Draws note `lines` with the top-left corner at `origin`; with `boxed`,
/// on a white box.
pub(crate) fn draw_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: &[String],
    origin: (i32, i32),
    boxed: bool,
    look: Look,
) -> DResult<DB> {
    let (x, y) = origin;
    if boxed {
        let (w, h) = lines_size(lines, look);
        let corners = [(x, y), (x + w, y + h)];
        area.draw(&Rectangle::new(corners, WHITE.mix(0.92).filled()))?;
        area.draw(&Rectangle::new(
            corners,
            RGBColor(170, 170, 170).stroke_width(look.px(style::FRAME_WIDTH)),
        ))?;
    }
    let size = look.size(style::ANNOTATION_SIZE);
    for (k, l) in lines.iter().enumerate() {
        let cy = y + look.ipx(PAD) + k as i32 * row_h(look) + row_h(look) / 2;
        let pos = Pos::new(HPos::Left, VPos::Center);
        text::draw(area, l, (x + look.ipx(PAD), cy), pos, size, &style::AXIS_COLOR, false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(label: &str) -> Entry {
        Entry {
            label: label.into(),
            swatch: Swatch::Dot(RGBColor(0, 0, 0)),
        }
    }

    #[test]
    fn flowed_rows_are_balanced_and_keep_the_greedy_row_count() {
        let look = Look::default();
        let entries: Vec<Entry> = (0..9).map(|i| entry(&format!("method {i}"))).collect();
        // Room for exactly eight entries per row: greedy gives 8 + 1.
        let one = entry_w(&entries[0], 10_000, look) + look.ipx(SPACING);
        let width = 8 * one + 2 * look.ipx(PAD);
        assert_eq!(flow_within(&entries, width, width, look).len(), 2);
        assert_eq!(flow_within(&entries, width, width, look)[1].len(), 1);
        let rows = flow(&entries, width, look);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!((rows[0].len(), rows[1].len()), (5, 4), "{rows:?}");
        // Order is kept and nothing is lost.
        let all: Vec<usize> = rows.concat();
        assert_eq!(all, (0..9).collect::<Vec<_>>());
        // One row stays one row.
        assert_eq!(flow(&entries[..3], width, look).len(), 1);
    }
}
