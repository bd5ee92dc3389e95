//! Panel legends: which entries, how big, and drawing them in a strip
//! beside/below the plot or in a boxed corner inside it.

use super::panel::{band_color, region_fill, scatter_color, series_color};
use super::{text, Panel};
use crate::style::{self, LEGEND_SIZE};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type DResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Width of the symbol drawn before each label.
const SWATCH_W: i32 = 32;
/// Gap between symbol and label.
const GAP: i32 = 8;
/// Padding around the entries.
pub(crate) const PAD: i32 = 10;
/// Horizontal space between entries of a row (legend below the plot).
const SPACING: i32 = 24;

/// Height of one legend row.
pub(crate) fn row_h() -> i32 {
    (LEGEND_SIZE * 1.6) as i32
}

/// The symbol of a legend entry.
#[derive(Clone, Debug)]
pub(crate) enum Swatch {
    /// A short line, optionally dashed and with a marker.
    Line {
        color: RGBColor,
        width: u32,
        dashed: bool,
        marker: bool,
    },
    /// A filled square (bands and regions).
    Fill(RGBAColor),
    /// A single point (scatters).
    Dot(RGBColor),
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
        let color = series_color(p, i);
        push(
            &s.label,
            Swatch::Line {
                color,
                width: s.width,
                dashed: s.dashed,
                marker: s.markers,
            },
        );
    }
    for (i, s) in p.scatters.iter().enumerate() {
        push(&s.label, Swatch::Dot(scatter_color(p, i)));
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
        color: style::REF_LINE_COLOR,
        width: style::REF_LINE_WIDTH,
        dashed,
        marker: false,
    };
    for v in &p.vlines {
        push(&v.label, reference(v.dashed));
    }
    for h in &p.hlines {
        push(&h.label, reference(h.dashed));
    }
    out
}

/// Widest label in pixels.
fn max_text_w(entries: &[Entry]) -> i32 {
    entries
        .iter()
        .map(|e| text::width(&e.label, LEGEND_SIZE) as i32)
        .max()
        .unwrap_or(0)
}

/// Room for label text in a legend column `total_w` pixels wide.
pub(crate) fn text_room(total_w: i32) -> i32 {
    total_w - 2 * PAD - SWATCH_W - GAP
}

/// Width of a legend column holding `entries` with labels at most `text_max` wide.
fn column_w(entries: &[Entry], text_max: i32) -> i32 {
    2 * PAD + SWATCH_W + GAP + max_text_w(entries).min(text_max)
}

/// Width of the strip right of a plot in a panel `panel_w` pixels wide.
pub(crate) fn strip_width(entries: &[Entry], panel_w: u32) -> u32 {
    let max = (panel_w as f64 * style::LEGEND_MAX_FRACTION) as i32;
    // The minimum gives way to the maximum on narrow panels.
    let w = (column_w(entries, i32::MAX) + PAD).max(style::LEGEND_MIN_WIDTH as i32);
    w.min(max).max(0) as u32
}

/// Entries flowed into rows that fit `width` pixels (legend below the plot).
pub(crate) fn flow(entries: &[Entry], width: i32) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = vec![];
    let mut used = width; // forces a new row for the first entry
    for (i, e) in entries.iter().enumerate() {
        let w = entry_w(e, width);
        if used + SPACING + w > width - 2 * PAD {
            rows.push(vec![i]);
            used = w;
        } else {
            rows.last_mut().expect("a row exists").push(i);
            used += SPACING + w;
        }
    }
    rows
}

/// Width of one entry in a row layout of `width` pixels.
fn entry_w(e: &Entry, width: i32) -> i32 {
    let text_max = text_room(width);
    SWATCH_W + GAP + (text::width(&e.label, LEGEND_SIZE) as i32).min(text_max)
}

/// Height of the strip below a plot holding `rows`.
pub(crate) fn flow_height(rows: &[Vec<usize>]) -> u32 {
    (rows.len() as i32 * row_h() + 2 * PAD) as u32
}

/// Draws `entries` in one column with its top-left corner at `origin` of
/// `area`, labels cut to `text_max` pixels; with `boxed`, on a white box.
pub(crate) fn draw_column<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
    origin: (i32, i32),
    text_max: i32,
    boxed: bool,
) -> DResult<DB> {
    let (x, y) = origin;
    if boxed {
        let (w, h) = column_size(entries, text_max);
        let corners = [(x, y), (x + w, y + h)];
        area.draw(&Rectangle::new(corners, WHITE.mix(0.92).filled()))?;
        area.draw(&Rectangle::new(
            corners,
            RGBColor(170, 170, 170).stroke_width(1),
        ))?;
    }
    for (k, e) in entries.iter().enumerate() {
        let cy = y + PAD + k as i32 * row_h() + row_h() / 2;
        draw_entry(area, e, (x + PAD, cy), text_max)?;
    }
    Ok(())
}

/// Size of a boxed column legend (for placing it in a corner).
pub(crate) fn column_size(entries: &[Entry], text_max: i32) -> (i32, i32) {
    (
        column_w(entries, text_max),
        entries.len() as i32 * row_h() + 2 * PAD,
    )
}

/// Draws flowed `rows` of `entries` with the first row's top-left at `origin`.
pub(crate) fn draw_rows<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
    rows: &[Vec<usize>],
    origin: (i32, i32),
    width: i32,
) -> DResult<DB> {
    let text_max = text_room(width);
    for (r, row) in rows.iter().enumerate() {
        let cy = origin.1 + PAD + r as i32 * row_h() + row_h() / 2;
        let mut x = origin.0 + PAD;
        for &i in row {
            draw_entry(area, &entries[i], (x, cy), text_max)?;
            x += entry_w(&entries[i], width) + SPACING;
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
) -> DResult<DB> {
    match &e.swatch {
        Swatch::Line {
            color,
            width,
            dashed,
            marker,
        } => {
            let ends = vec![(x, cy), (x + SWATCH_W, cy)];
            let st = color.stroke_width(*width);
            if *dashed {
                let (d, g) = style::DASH;
                area.draw(&DashedPathElement::new(ends, d, g, st))?;
            } else {
                area.draw(&PathElement::new(ends, st))?;
            }
            if *marker {
                let r = style::MARKER_SIZE as i32 + 1;
                area.draw(&Circle::new((x + SWATCH_W / 2, cy), r, color.filled()))?;
            }
        }
        Swatch::Fill(c) => {
            let h = row_h() / 3;
            area.draw(&Rectangle::new(
                [(x, cy - h), (x + SWATCH_W, cy + h)],
                c.filled(),
            ))?;
        }
        Swatch::Dot(c) => {
            let r = style::MARKER_SIZE as i32 + 1;
            area.draw(&Circle::new((x + SWATCH_W / 2, cy), r, c.filled()))?;
        }
    }
    let label = text::fit(&e.label, LEGEND_SIZE, text_max.max(0) as u32);
    let font = text::style(LEGEND_SIZE, &style::AXIS_COLOR).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw_text(&label, &font, (x + SWATCH_W + GAP, cy))
}
