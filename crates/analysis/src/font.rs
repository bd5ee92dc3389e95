//! The embedded font and its one-time registration with plotters.
//!
//! plotters is built with its `ab_glyph` text renderer, which never loads
//! system fonts: a face must be registered by name before any text is drawn.
//! DejaVu Sans (Bitstream Vera licence, see `assets/LICENSE-DejaVu.txt`) is
//! embedded and registered under every family name plotters may ask for:
//! [`crate::style::FONT_FAMILY`] (what every text asks for, and what the
//! SVGs name) and the generic names.

use plotters::style::{register_font, FontStyle};
use std::sync::Once;

/// The bytes of DejaVu Sans, embedded at compile time.
pub static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

static REGISTER: Once = Once::new();

/// Registers DejaVu Sans for the families [`crate::style::FONT_FAMILY`],
/// `sans-serif`, `serif` and `monospace`, each in the styles normal, bold, italic and oblique (same
/// bytes), so that plotters never fails to find a face. Cheap after the
/// first call; [`crate::plot::render`] calls it before drawing.
///
/// # Panics
/// Only if the embedded font were not a valid font file (a build error).
pub fn ensure_fonts() {
    REGISTER.call_once(|| {
        for family in [crate::style::FONT_FAMILY, "sans-serif", "serif", "monospace"] {
            for style in [
                FontStyle::Normal,
                FontStyle::Bold,
                FontStyle::Italic,
                FontStyle::Oblique,
            ] {
                if register_font(family, style, DEJAVU_SANS).is_err() {
                    panic!("embedded DejaVuSans.ttf is not a valid font");
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::style::{FontDesc, FontFamily};

    #[test]
    fn every_style_is_found() {
        ensure_fonts();
        for style in [FontStyle::Normal, FontStyle::Bold, FontStyle::Italic] {
            let f = FontDesc::new(FontFamily::SansSerif, 12.0, style);
            let (w, _) = f.box_size("r = 1").expect("font registered");
            assert!(w > 0);
        }
    }
}
