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
/// (one set right after a larger text), texts shortened with "…", and a
/// Δ drawn without its subscript (the paper's Δ is always Δa or Δyc).
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
    // The field's Δ is a spread and always carries its subscript (Δa,
    // Δyc): a subscript ends the text run, so Δ stands last in its run and
    // the next run is smaller (the subscript).
    for (i, t) in texts.iter().enumerate() {
        let chars: Vec<char> = t.text.chars().collect();
        let subscripted = |k: usize| {
            k + 1 == chars.len() && texts.get(i + 1).is_some_and(|n| n.size < t.size)
        };
        if (0..chars.len()).any(|k| chars[k] == 'Δ' && !subscripted(k)) {
            out.push(format!("Δ without its subscript: {}", show(t)));
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

/// The numbers `names` of the tag text `tag`, or None if one is missing.
fn nums<const N: usize>(tag: &str, names: [&str; N]) -> Option<[f64; N]> {
    let mut out = [0.0; N];
    for (o, n) in out.iter_mut().zip(names) {
        *o = attr(tag, n)?.parse().ok()?;
    }
    Some(out)
}

/// The markers of the SVG figure `svg` (as [`super::render`] writes it)
/// that a plot's frame cuts: every filled circle at least a marker's size
/// ([`style::MARKER_SIZE`]: scatter point, line marker, annotation dot;
/// not the round joins of a thick line) that lies partly inside and partly outside a
/// frame (an unfilled, stroked `<rect>`), or touches its line. Empty when
/// every marker is whole on one side of every frame; an SVG without a
/// frame is one problem.
pub fn marker_problems(svg: &str) -> Vec<String> {
    let tags = |name: &str| -> Vec<&str> {
        let open = format!("<{name} ");
        let mut out = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find(&open) {
            let after = &rest[i..];
            let end = after.find('>').unwrap_or(after.len());
            out.push(&after[..end]);
            rest = &after[end..];
        }
        out
    };
    let frames: Vec<[f64; 4]> = tags("rect")
        .into_iter()
        .filter(|t| attr(t, "fill") == Some("none") && attr(t, "stroke").is_some_and(|s| s != "none"))
        .filter_map(|t| nums(t, ["x", "y", "width", "height"]))
        .collect();
    if frames.is_empty() {
        return vec!["no plot frame (an unfilled, stroked <rect>) in the SVG".into()];
    }
    // Markers are at least this large (px); smaller dots are the round
    // joins of a thick line (half its width), which is cut at the frame.
    let smallest = nums(svg.get(svg.find("<svg").unwrap_or(0)..).unwrap_or(""), ["width"])
        .map_or(0.0, |[w]| style::Look::for_width(w.round() as u32).px(style::MARKER_SIZE) as f64);
    let mut out = Vec::new();
    for c in tags("circle") {
        let Some([cx, cy, r]) = nums(c, ["cx", "cy", "r"]) else {
            out.push(format!("unreadable marker: {c}"));
            continue;
        };
        if attr(c, "fill").is_none_or(|f| f == "none") || r < smallest {
            continue;
        }
        for &[x, y, w, h] in &frames {
            // Clear of the frame line (half a pixel) on one side or the other.
            let inside = cx - r >= x + 0.5 && cx + r <= x + w - 0.5 && cy - r >= y + 0.5 && cy + r <= y + h - 0.5;
            let outside = cx + r <= x - 0.5 || cx - r >= x + w + 0.5 || cy + r <= y - 0.5 || cy - r >= y + h + 0.5;
            if !inside && !outside {
                out.push(format!(
                    "marker at ({cx:.0}, {cy:.0}), radius {r:.0}, cut by the frame x {x:.0}..{:.0}, y {y:.0}..{:.0}",
                    x + w,
                    y + h
                ));
            }
        }
    }
    out
}
