//! Measuring, fitting and drawing text in the project font, with real
//! subscripts: a text's `_x` markup ([`crate::symbols::runs`]) is drawn as
//! a smaller glyph run below the baseline ([`style::SUBSCRIPT_SCALE`],
//! [`style::SUBSCRIPT_DROP`]).
//!
//! Every text of a figure is drawn by [`draw`]; [`ink_box`] is the box its
//! glyphs can cover (what the layout checks of [`super::check`] use).

use crate::style::{self, FONT_FAMILY};
use crate::symbols::runs;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontDesc, FontStyle, FontTransform, IntoFont, TextStyle};

type DResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The project font at `size` px in `color`.
pub(crate) fn style(size: f64, color: &RGBColor) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(color)
}

/// Width in pixels of plain `text` (no markup) at `size` px.
fn plain_width(text: &str, size: f64) -> f64 {
    if text.is_empty() {
        return 0.0;
    }
    FontDesc::new(FONT_FAMILY.into(), size, FontStyle::Normal)
        .box_size(text)
        .map(|(w, _)| w as f64)
        .unwrap_or(0.0)
}

/// The runs of `text` with their sizes and widths: (text, size, width, subscript).
fn measured(text: &str, size: f64) -> Vec<(String, f64, f64, bool)> {
    runs(text)
        .into_iter()
        .map(|(t, sub)| {
            let s = if sub { size * style::SUBSCRIPT_SCALE } else { size };
            let w = plain_width(&t, s);
            (t, s, w, sub)
        })
        .collect()
}

/// Width in pixels of `text` at `size` px, subscripts drawn smaller.
pub(crate) fn width(text: &str, size: f64) -> u32 {
    measured(text, size).iter().map(|r| r.2).sum::<f64>().ceil() as u32
}

/// `text` shortened with a trailing "…" so that it fits in `max` pixels.
pub(crate) fn fit(text: &str, size: f64, max: u32) -> String {
    if width(text, size) <= max {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut n = chars.len();
    while n > 0 {
        n -= 1;
        let s: String = chars[..n].iter().collect::<String>().trim_end().to_string() + "…";
        if width(&s, size) <= max {
            return s;
        }
    }
    String::new()
}

/// `text` broken at spaces into lines of at most `max` pixels at `size` px
/// (a single word wider than that is cut with [`fit`]).
pub(crate) fn wrap(text: &str, size: f64, max: u32) -> Vec<String> {
    if text.contains('\n') {
        // Explicit line breaks first, then each line wrapped on its own.
        return text.lines().flat_map(|l| wrap(l, size, max)).collect();
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in units(text, size, max) {
        let word = word.as_str();
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if width(&candidate, size) <= max || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.into_iter().map(|l| fit(&l, size, max)).collect()
}

/// The words of `text` glued into the units a line break should not split,
/// where the unit still fits in `max` pixels: a parenthesised group
/// ("(0.3, -0.5, 0.8)") and both sides of an equals sign ("R = 4203x").
fn units(text: &str, size: f64, max: u32) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    let mut depth = 0i32;
    let mut glue_next = false;
    for w in words {
        let opens = w.matches('(').count() as i32 - w.matches(')').count() as i32;
        let glue = glue_next || depth > 0 || w == "=" || w.starts_with('=');
        match out.last_mut() {
            Some(last) if glue && width(&format!("{last} {w}"), size) <= max => {
                last.push(' ');
                last.push_str(w);
            }
            _ => out.push(w.to_string()),
        }
        depth = (depth + opens).max(0);
        glue_next = w.ends_with('=');
    }
    out
}

/// How far below the anchor the baseline of text of `size` px lies, for
/// the bitmap and the SVG backend (they place text slightly differently:
/// plotters' glyph drawing puts the baseline half a size below the top of
/// its layout box of height `size / 1.24`; its SVG writer uses `dy` of
/// 0.76em, 0.5ex, -0.5ex).
fn baselines(vpos: VPos, size: f64) -> (f64, f64) {
    let em = size / style::SIZE_PER_EM;
    // DejaVu Sans: x-height 1120 of 2048 units per em.
    let ex = em * 1120.0 / 2048.0;
    match vpos {
        VPos::Top => (0.5 * size, 0.76 * em),
        VPos::Center => (0.5 * size - em / 2.0, 0.5 * ex),
        VPos::Bottom => (0.5 * size - em, -0.5 * ex),
    }
}

/// A box in pixels: left, top, right, bottom.
pub(crate) type Rect = (f64, f64, f64, f64);

/// The box the glyphs of `text` (markup included) drawn at `size` px with
/// its anchor `pos` at `at` can cover on either backend: from the start to
/// the end of its advance, from 0.8 em above the highest baseline to 0.25
/// em below the lowest (DejaVu's parentheses reach about 0.76 above and
/// 0.24 below); `rotated` for text turned 270° (reading upwards).
pub(crate) fn ink_box(text: &str, size: f64, at: (f64, f64), pos: Pos, rotated: bool) -> Rect {
    let w = measured(text, size).iter().map(|r| r.2).sum::<f64>();
    let has_sub = runs(text).iter().any(|r| r.1);
    let em = size / style::SIZE_PER_EM;
    let (b1, b2) = baselines(pos.v_pos, size);
    let below = if has_sub {
        style::SUBSCRIPT_DROP * size + 0.25 * em * style::SUBSCRIPT_SCALE
    } else {
        0.25 * em
    };
    let (v0, v1) = (b1.min(b2) - 0.8 * em, b1.max(b2) + below);
    let u0 = match pos.h_pos {
        HPos::Left => 0.0,
        HPos::Center => -w / 2.0,
        HPos::Right => -w,
    };
    let (u1, (x, y)) = (u0 + w, at);
    if rotated {
        // Text frame (u along the baseline, v down) to the canvas: (v, -u).
        (x + v0, y - u1, x + v1, y - u0)
    } else {
        (x + u0, y + v0, x + u1, y + v1)
    }
}

/// Draws `text` (with subscripts) at `at` of `area` with anchor `pos`,
/// `size` px, in `color`; `rotated` turns it 270° (reading upwards, as a
/// y axis description), the anchor then in the text's own frame.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    at: (i32, i32),
    pos: Pos,
    size: f64,
    color: &RGBColor,
    rotated: bool,
) -> DResult<DB> {
    let parts = measured(text, size);
    if parts.len() == 1 && !parts[0].3 {
        let mut st = style(size, color).pos(pos);
        if rotated {
            st = st.transform(FontTransform::Rotate270);
        }
        return area.draw_text(text, &st, at);
    }
    let total: f64 = parts.iter().map(|r| r.2).sum();
    let mut u = match pos.h_pos {
        HPos::Left => 0.0,
        HPos::Center => -total / 2.0,
        HPos::Right => -total,
    };
    let (b_main, _) = baselines(pos.v_pos, size);
    for (t, s, w, sub) in parts {
        // Same vertical anchor for every run; a subscript's baseline moved
        // SUBSCRIPT_DROP sizes below the text's.
        let v = if sub {
            let (b_sub, _) = baselines(pos.v_pos, s);
            b_main - b_sub + style::SUBSCRIPT_DROP * size
        } else {
            0.0
        };
        let mut st = style(s, color).pos(Pos::new(HPos::Left, pos.v_pos));
        let (du, dv) = (u.round() as i32, v.round() as i32);
        // A run's leading or trailing space as a no-break space: SVG
        // viewers drop plain spaces at the ends of a text element.
        let t = match (t.strip_prefix(' '), t.strip_suffix(' ')) {
            (None, None) => t,
            _ => {
                let inner = t.trim_matches(' ');
                let (lead, trail) = (t.len() - t.trim_start_matches(' ').len(), t.len() - t.trim_end_matches(' ').len());
                if inner.is_empty() {
                    "\u{a0}".repeat(t.len())
                } else {
                    "\u{a0}".repeat(lead) + inner + &"\u{a0}".repeat(trail)
                }
            }
        };
        let p = if rotated {
            st = st.transform(FontTransform::Rotate270);
            (at.0 + dv, at.1 - du)
        } else {
            (at.0 + du, at.1 + dv)
        };
        area.draw_text(&t, &st, p)?;
        u += w;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{width, wrap};

    #[test]
    fn wrapping_keeps_parentheses_and_equations_whole() {
        let size = 20.0;
        let text = "KL remainder, a = (0.3, -0.5, 0.8) and z = (1, 0, 2), ratio (2/f'')/R = 4203x";
        // A width that forces breaks but fits each group.
        let max = width("a = (0.3, -0.5, 0.8) and", size) + 2;
        let lines = wrap(text, size, max);
        assert!(lines.len() > 1, "{lines:?}");
        for l in &lines {
            assert!(width(l, size) <= max, "{l:?}");
            let (open, close) = (l.matches('(').count(), l.matches(')').count());
            assert_eq!(open, close, "a group was split: {lines:?}");
            assert!(!l.ends_with('=') && !l.starts_with('='), "an equation was split: {lines:?}");
        }
        // Explicit breaks are kept.
        assert_eq!(wrap("one\ntwo", size, 10_000), ["one", "two"]);
        // A group wider than the line still breaks (inside it).
        let narrow = width("(0.3,", size) + 2;
        assert!(wrap("(0.3, -0.5, 0.8)", size, narrow).len() > 1);
    }
}
