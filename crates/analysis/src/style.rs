//! The one figure style of the project: sizes, fonts, colours, line widths
//! and the fills that mark safe and unsafe step sizes.
//!
//! Font sizes are in pixels as plotters' ab_glyph renderer uses them (the
//! height from descender to ascender, about 1.16 em for DejaVu Sans).
//!
//! Every figure goes through [`crate::plot`], which reads its look from here,
//! so changing a constant in this file restyles all figures at once.

use plotters::style::{RGBAColor, RGBColor};

/// Default size of one panel (pixels, width x height), legend strip included.
pub const PANEL_SIZE: (u32, u32) = (900, 600);

/// Font family every text element uses (registered by [`crate::font`]
/// under this very name). plotters' SVG writer prints it as the texts'
/// `font-family`, a CSS list: DejaVu Sans (the face the PNGs are drawn
/// with) first, any sans-serif face where the viewer lacks it. The font is
/// not embedded in the SVGs: DejaVu Sans is about 740 kB, some 1 MB per
/// file base64-encoded, for every figure; the PNGs are the canonical,
/// byte-reproducible form.
pub const FONT_FAMILY: &str = "DejaVu Sans, sans-serif";

/// Print model: a figure up to this many pixels wide is printed one
/// panel wide ([`PRINT_WIDTH_NARROW_IN`]), a wider one across the page
/// ([`PRINT_WIDTH_IN`]). Every size below is in points (1/72 inch) at that
/// print size; [`Look`] turns them into pixels.
pub const NARROW_MAX_PX: u32 = 1000;
/// Print width (inches) of a figure one panel wide: about 0.7 of a
/// page's text width.
pub const PRINT_WIDTH_NARROW_IN: f64 = 4.5;
/// Print width (inches) of a wider figure: the text width of a page.
pub const PRINT_WIDTH_IN: f64 = 6.5;
/// The print width (inches) of a figure `width_px` pixels wide.
pub fn print_width_in(width_px: u32) -> f64 {
    if width_px <= NARROW_MAX_PX {
        PRINT_WIDTH_NARROW_IN
    } else {
        PRINT_WIDTH_IN
    }
}

/// No text of a figure is smaller than this (points at print size, em);
/// subscripts are drawn at [`SUBSCRIPT_SCALE`] of their text.
pub const MIN_TEXT_PT: f64 = 8.0;
/// Smallest height (pt at print size) of one panel cell: a figure's cells
/// are made this tall when their pixel size would print shorter.
pub const MIN_PANEL_HEIGHT: f64 = 150.0;
/// Size (pt) of a figure's overall title.
pub const FIGURE_TITLE_SIZE: f64 = 10.0;
/// Size (pt) of a panel title.
pub const PANEL_TITLE_SIZE: f64 = 9.0;
/// Size (pt) of the axis descriptions ("step size", "loss", ...).
pub const AXIS_LABEL_SIZE: f64 = 8.5;
/// Size (pt) of tick labels.
pub const TICK_LABEL_SIZE: f64 = 8.0;
/// Size (pt) of legend entries.
pub const LEGEND_SIZE: f64 = 8.0;
/// Size (pt) of annotation and note texts.
pub const ANNOTATION_SIZE: f64 = 8.0;
/// A subscript's size relative to its text, and how far below the
/// baseline it sits (fraction of the text's size).
pub const SUBSCRIPT_SCALE: f64 = 0.72;
/// See [`SUBSCRIPT_SCALE`].
pub const SUBSCRIPT_DROP: f64 = 0.22;
/// plotters' font size per em: its text renderer takes a size in pixels of
/// which the em is `size / 1.24` (what its SVG writer prints as
/// `font-size`), so a size of `pt * 1.24` pixels-per-point gives an em of
/// `pt` points.
pub const SIZE_PER_EM: f64 = 1.24;

/// The palette of every data colour: each has a contrast of at least 3:1
/// on white (WCAG 2.1's minimum for graphics; [`contrast_on_white`]), so
/// a thin line or a small marker of any colour stays visible, and any two
/// differ clearly (CIE Lab distance 30 or more). It keeps the Okabe-Ito
/// colours that pass on white (blue, vermillion, bluish green, reddish
/// purple) and black, and replaces their orange, sky blue and yellow,
/// which do not (2.2, 2.3 and 1.3:1), by brown, wine and crimson, chosen
/// to stay apart under deuteranopia and protanopia too.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(140, 60, 20),   // brown
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(136, 34, 85),   // wine
    RGBColor(0, 0, 0),       // black
    RGBColor(240, 0, 80),    // crimson
];

/// Palette index of the `i`-th of several series that must all be told
/// apart: the palette reordered so that neighbours in the order differ in
/// hue family (blue, vermillion, green, black, purple, brown, wine,
/// crimson).
pub fn distinct(i: usize) -> usize {
    const ORDER: [usize; 8] = [0, 1, 2, 6, 4, 3, 5, 7];
    ORDER[i % ORDER.len()]
}

/// Contrast ratio of `c` against white (WCAG 2.1: (1.05) / (L + 0.05),
/// L the relative luminance of the sRGB colour): 21 for black, 1 for
/// white; 3 is the minimum for graphics that must be seen.
pub fn contrast_on_white(c: RGBColor) -> f64 {
    let lin = |v: u8| {
        let v = v as f64 / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * lin(c.0) + 0.7152 * lin(c.1) + 0.0722 * lin(c.2);
    1.05 / (l + 0.05)
}

/// The least contrast on white of any data colour ([`PALETTE`],
/// [`sequential`]).
pub const MIN_CONTRAST: f64 = 3.0;

/// Palette colour `i`, cycling when `i` exceeds the palette length.
pub fn palette(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// `c` mixed with white: `f` = 0 keeps it, 1 gives white (a lighter shade
/// of the same hue, e.g. for a line drawn on top of a line of that colour).
pub fn tint(c: RGBColor, f: f64) -> RGBColor {
    let m = |v: u8| (v as f64 + (255.0 - v as f64) * f.clamp(0.0, 1.0)).round() as u8;
    RGBColor(m(c.0), m(c.1), m(c.2))
}

/// Viridis (matplotlib's default sequential map) at eleven evenly spaced
/// points from 0 to 1, for [`sequential`].
const VIRIDIS: [(u8, u8, u8); 11] = [
    (68, 1, 84),
    (72, 36, 117),
    (65, 68, 135),
    (53, 95, 141),
    (42, 120, 142),
    (33, 145, 140),
    (34, 168, 132),
    (68, 191, 112),
    (122, 209, 81),
    (189, 223, 38),
    (253, 231, 37),
];

/// Colour `i` of `n` ordered series (temperatures, stages, levels): evenly
/// spaced along viridis, dark purple first, stopping at its green
/// ([`SEQUENTIAL_END`]) because the lighter rest of viridis has less than
/// [`MIN_CONTRAST`] on white. Lightness grows with `i`, so the order reads
/// without the legend and in greyscale.
pub fn sequential(i: usize, n: usize) -> RGBColor {
    let t = if n <= 1 {
        0.0
    } else {
        SEQUENTIAL_END * i.min(n - 1) as f64 / (n - 1) as f64
    };
    let f = t * (VIRIDIS.len() - 1) as f64;
    let k = (f.floor() as usize).min(VIRIDIS.len() - 2);
    let w = f - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * w).round() as u8;
    let (a, b) = (VIRIDIS[k], VIRIDIS[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Where along viridis (0..1) [`sequential`] stops: its last colour with a
/// contrast of [`MIN_CONTRAST`] or more on white.
pub const SEQUENTIAL_END: f64 = 0.58;

/// The colour of a plotted item: a palette index ([`palette`]) or an
/// explicit colour (e.g. from [`sequential`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ink {
    /// Palette colour `i`.
    Palette(usize),
    /// This colour.
    Rgb(RGBColor),
}

impl Ink {
    /// The colour to draw with.
    pub fn rgb(self) -> RGBColor {
        match self {
            Ink::Palette(i) => palette(i),
            Ink::Rgb(c) => c,
        }
    }
}

impl From<usize> for Ink {
    fn from(i: usize) -> Self {
        Ink::Palette(i)
    }
}

impl From<RGBColor> for Ink {
    fn from(c: RGBColor) -> Self {
        Ink::Rgb(c)
    }
}

/// How heavy a data line is: every line width of every figure is one of
/// these (points at print size, [`Weight::pt`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Weight {
    /// Individual curves behind summaries (0.6 pt).
    Thin,
    /// The default data line (1.2 pt).
    #[default]
    Normal,
    /// A line that must stand out, or one drawn under others (1.8 pt).
    Bold,
    /// The heaviest line, drawn first so that lines on it stay visible
    /// (2.6 pt).
    Heavy,
}

impl Weight {
    /// The width in points at print size.
    pub fn pt(self) -> f64 {
        match self {
            Weight::Thin => 0.6,
            Weight::Normal => 1.2,
            Weight::Bold => 1.8,
            Weight::Heavy => 2.6,
        }
    }
}

/// Default data line weight.
pub const LINE_WIDTH: Weight = Weight::Normal;
/// Width (pt) of reference lines (vertical/horizontal markers such as r = 1).
pub const REF_LINE_WIDTH: f64 = 0.9;
/// Width (pt) of the frame and of boxes around legends and notes.
pub const FRAME_WIDTH: f64 = 0.5;
/// Radius (pt) of line markers and scatter points.
pub const MARKER_SIZE: f64 = 1.6;
/// Dash length and gap (pt) of every dashed line.
pub const DASH: (f64, f64) = (3.5, 2.0);

/// Colour of reference lines (vertical/horizontal markers).
pub const REF_LINE_COLOR: RGBColor = RGBColor(60, 60, 60);
/// Colour of the axes and tick labels.
pub const AXIS_COLOR: RGBColor = RGBColor(0, 0, 0);
/// Colour of major grid lines.
pub const GRID_COLOR: RGBAColor = RGBAColor(0, 0, 0, 0.15);
/// Colour of minor grid lines.
pub const MINOR_GRID_COLOR: RGBAColor = RGBAColor(0, 0, 0, 0.06);

/// Opacity of curves that lie on one another ([`crate::plot::Series::alpha`]),
/// so that each stays visible where they overlap.
pub const OVERLAP_ALPHA: f64 = 0.6;
/// Opacity of a band (filled area between two curves).
pub const BAND_ALPHA: f64 = 0.2;
/// Safe step-size region fill: green, light.
pub const SAFE_FILL: RGBAColor = RGBAColor(0, 158, 115, 0.12);
/// Unsafe step-size region fill: red, light.
pub const UNSAFE_FILL: RGBAColor = RGBAColor(213, 40, 20, 0.12);
/// Opacity of a region filled with a palette colour.
pub const REGION_ALPHA: f64 = 0.12;

/// How a line is stroked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineStyle {
    /// Stroke colour.
    pub color: RGBColor,
    /// Stroke width in points.
    pub width: f64,
    /// Dashed (with [`DASH`]) rather than solid.
    pub dashed: bool,
}

/// The style of the "r = 1" vertical line (step size equal to the
/// convergence radius) and of every other reference line: dark grey, dashed.
pub const R_ONE_LINE: LineStyle = LineStyle {
    color: REF_LINE_COLOR,
    width: REF_LINE_WIDTH,
    dashed: true,
};

/// Pixels per point of one figure: turns the sizes of this module (points
/// at print size) into pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Look {
    /// Pixels per point at print size.
    pub px_per_pt: f64,
}

impl Default for Look {
    /// The look of a 900 px panel printed alone.
    fn default() -> Self {
        Look::for_width(900)
    }
}

impl Look {
    /// The look of a figure `width` pixels wide, printed
    /// [`print_width_in`] inches wide.
    pub fn for_width(width: u32) -> Self {
        Look {
            px_per_pt: width.max(1) as f64 / (72.0 * print_width_in(width)),
        }
    }
    /// This look `k` times larger (for drawing a supersampled bitmap).
    pub fn times(self, k: f64) -> Self {
        Look {
            px_per_pt: self.px_per_pt * k,
        }
    }
    /// The plotters font size (px) of text `pt` points high (em).
    pub fn size(self, pt: f64) -> f64 {
        pt * self.px_per_pt * SIZE_PER_EM
    }
    /// The size in points (em) of text drawn at plotters size `px`.
    pub fn pt_of_size(self, px: f64) -> f64 {
        px / (self.px_per_pt * SIZE_PER_EM)
    }
    /// A length of `pt` points in whole pixels (line width, marker
    /// radius), at least 1.
    pub fn px(self, pt: f64) -> u32 {
        ((pt * self.px_per_pt).round() as u32).max(1)
    }
    /// A signed length of `pt` points in whole pixels (offsets, paddings).
    pub fn ipx(self, pt: f64) -> i32 {
        (pt * self.px_per_pt).round() as i32
    }
}

/// Width (pt) of the legend strip at the right of a panel is at least this.
pub const LEGEND_MIN_WIDTH: f64 = 34.0;
/// ... and at most this fraction of the panel width.
pub const LEGEND_MAX_FRACTION: f64 = 0.3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_legible_at_print_size() {
        for width in [300, 900, 1000, 1001, 1800, 2700, 3600, 5000] {
            let look = Look::for_width(width);
            for size in [FIGURE_TITLE_SIZE, PANEL_TITLE_SIZE, AXIS_LABEL_SIZE, TICK_LABEL_SIZE, LEGEND_SIZE, ANNOTATION_SIZE] {
                let px = look.size(size);
                // Points at print: pixels over pixels per point.
                let pt = px / SIZE_PER_EM / (width as f64 / (72.0 * print_width_in(width)));
                assert!(pt >= MIN_TEXT_PT - 1e-9, "width {width}: {pt} pt");
                assert!((look.pt_of_size(px) - size).abs() < 1e-9);
            }
        }
        // Wide figures print at the page width, narrow ones at a column.
        assert_eq!(print_width_in(900), PRINT_WIDTH_NARROW_IN);
        assert_eq!(print_width_in(2700), PRINT_WIDTH_IN);
        assert!(Weight::Thin.pt() < Weight::Normal.pt() && Weight::Bold.pt() < Weight::Heavy.pt());
    }

    /// CIE L*a*b* of an sRGB colour (D65).
    fn lab(c: RGBColor) -> [f64; 3] {
        let lin = |v: u8| {
            let v = v as f64 / 255.0;
            if v <= 0.04045 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
        };
        let (r, g, b) = (lin(c.0), lin(c.1), lin(c.2));
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| if t > 0.008856 { t.cbrt() } else { 7.787 * t + 16.0 / 116.0 };
        [116.0 * f(y) - 16.0, 500.0 * (f(x) - f(y)), 200.0 * (f(y) - f(z))]
    }

    #[test]
    fn every_data_colour_is_visible_on_white_and_the_palette_distinct() {
        // The faint ones this palette replaced fail, black and white bound it.
        assert!(contrast_on_white(RGBColor(240, 228, 66)) < 1.5);
        assert!((contrast_on_white(RGBColor(0, 0, 0)) - 21.0).abs() < 1e-9);
        assert!((contrast_on_white(RGBColor(255, 255, 255)) - 1.0).abs() < 1e-9);
        for (i, &c) in PALETTE.iter().enumerate() {
            assert!(contrast_on_white(c) >= MIN_CONTRAST, "palette {i} {c:?}: {}", contrast_on_white(c));
        }
        for n in 1..=12 {
            for i in 0..n {
                let c = sequential(i, n);
                assert!(contrast_on_white(c) >= MIN_CONTRAST, "sequential {i} of {n} {c:?}: {}", contrast_on_white(c));
            }
        }
        for (i, &a) in PALETTE.iter().enumerate() {
            for &b in &PALETTE[i + 1..] {
                let (la, lb) = (lab(a), lab(b));
                let d = ((la[0] - lb[0]).powi(2) + (la[1] - lb[1]).powi(2) + (la[2] - lb[2]).powi(2)).sqrt();
                assert!(d >= 30.0, "{a:?} and {b:?} are {d:.1} apart");
            }
        }
    }
}
