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
