//! Measuring and fitting text in the project font.

use crate::style::FONT_FAMILY;
use plotters::style::RGBColor;
use plotters::style::{FontDesc, FontStyle, IntoFont, TextStyle};

/// The project font at `size` px in `color`.
pub(crate) fn style(size: f64, color: &RGBColor) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(color)
}

/// Width in pixels of `text` at `size` px (0 if it cannot be measured).
pub(crate) fn width(text: &str, size: f64) -> u32 {
    FontDesc::new(FONT_FAMILY.into(), size, FontStyle::Normal)
        .box_size(text)
        .map(|(w, _)| w)
        .unwrap_or(0)
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
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
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
