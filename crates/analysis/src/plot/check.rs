//! Layout checks of a rendered figure, read from its SVG: every text inside
//! the canvas, no text on another text, none smaller than
//! [`style::MIN_TEXT_PT`] at print size (subscripts excepted), none
//! shortened with "…".

use super::text::{ink_box, Rect};
use crate::style;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One `<text>` element of a plotters SVG.
#[derive(Clone, Debug)]
struct SvgText {
    text: String,
    /// plotters' font size (px): the SVG's `font-size` times 1.24.
    size: f64,
    /// The box its glyphs can cover.
    rect: Rect,
}

/// The value of attribute `name` in the tag text `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// SVG text content unescaped.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The canvas size and the texts of an SVG written by plotters.
fn parse(svg: &str) -> Option<((f64, f64), Vec<SvgText>)> {
    let head = &svg[svg.find("<svg")?..];
    let w: f64 = attr(head, "width")?.parse().ok()?;
    let h: f64 = attr(head, "height")?.parse().ok()?;
    let mut texts = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find("<text") {
        let after = &rest[i..];
        let close = after.find('>')?;
        let tag = &after[..close];
        let end = after.find("</text>")?;
        // plotters writes the text between newlines.
        let content = unescape(after[close + 1..end].trim_matches('\n'));
        rest = &after[end..];
        let num = |k: &str| attr(tag, k).and_then(|v| v.parse::<f64>().ok());
        let (x, y, font) = (num("x")?, num("y")?, num("font-size")?);
        let size = font * style::SIZE_PER_EM;
        let h_pos = match attr(tag, "text-anchor") {
            Some("middle") => HPos::Center,
            Some("end") => HPos::Right,
            _ => HPos::Left,
        };
        let v_pos = match attr(tag, "dy") {
            Some("0.5ex") => VPos::Center,
            Some("-0.5ex") => VPos::Bottom,
            _ => VPos::Top,
        };
        let rotated = attr(tag, "transform").is_some_and(|t| t.starts_with("rotate(270"));
        let rect = ink_box(&content, size, (x, y), Pos::new(h_pos, v_pos), rotated);
        if !content.trim().is_empty() {
            texts.push(SvgText { text: content, size, rect });
        }
    }
    Some(((w, h), texts))
}

/// Overlap of two boxes in each direction (negative: apart).
fn overlap(a: Rect, b: Rect) -> (f64, f64) {
    (a.2.min(b.2) - a.0.max(b.0), a.3.min(b.3) - a.1.max(b.1))
}

/// The layout problems of the SVG figure `svg` (as [`super::render`]
/// writes it): texts cut by the canvas edge, texts overlapping other texts
/// (by more than 1.5 px each way), texts below [`style::MIN_TEXT_PT`] at
/// print size ([`style::print_width_in`]) that are not a subscript run
/// (one set right after a larger text), and texts shortened with "…".
/// Empty when the figure is fine; an SVG it cannot read is one problem.
pub fn text_problems(svg: &str) -> Vec<String> {
    crate::font::ensure_fonts();
    let Some(((w, h), texts)) = parse(svg) else {
        return vec!["not an SVG figure of this crate (no size or unreadable <text>)".into()];
    };
    let look = style::Look::for_width(w.round() as u32);
    let mut out = Vec::new();
    let show = |t: &SvgText| format!("{:?} at ({:.0}, {:.0})", t.text, t.rect.0, t.rect.1);
    for t in &texts {
        let r = t.rect;
        if r.0 < -0.5 || r.1 < -0.5 || r.2 > w + 0.5 || r.3 > h + 0.5 {
            out.push(format!(
                "cut by the canvas ({w} x {h}): {} spans x {:.0}..{:.0}, y {:.0}..{:.0}",
                show(t),
                r.0,
                r.2,
                r.1,
                r.3
            ));
        }
        if t.text.ends_with('…') {
            out.push(format!("shortened: {}", show(t)));
        }
        let pt = look.pt_of_size(t.size);
        if pt < style::MIN_TEXT_PT - 0.01 {
            // A subscript: starts where a larger text on its line ends.
            let sub = texts.iter().any(|o| {
                o.size > t.size && {
                    let (dx, dy) = overlap(o.rect, t.rect);
                    let abut = |d: f64| d > -3.0 && d < 2.0;
                    (dy > 0.0 && abut(dx)) || (dx > 0.0 && abut(dy))
                }
            });
            if !sub {
                out.push(format!("{:.1} pt at print size: {}", pt, show(t)));
            }
        }
    }
    for (i, a) in texts.iter().enumerate() {
        for b in &texts[i + 1..] {
            let (dx, dy) = overlap(a.rect, b.rect);
            if dx > 1.5 && dy > 1.5 {
                out.push(format!("overlapping texts: {} and {}", show(a), show(b)));
            }
        }
    }
    out
}
