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

/// Font family every text element uses (registered by [`crate::font`]).
pub const FONT_FAMILY: &str = "sans-serif";

/// Font size (px) of a figure's overall title.
pub const FIGURE_TITLE_SIZE: f64 = 30.0;
/// Font size (px) of a panel title.
pub const PANEL_TITLE_SIZE: f64 = 24.0;
/// Font size (px) of the axis descriptions ("step size", "loss", ...).
pub const AXIS_LABEL_SIZE: f64 = 20.0;
/// Font size (px) of tick labels.
pub const TICK_LABEL_SIZE: f64 = 17.0;
/// Font size (px) of legend entries.
pub const LEGEND_SIZE: f64 = 17.0;
/// Font size (px) of annotation texts.
pub const ANNOTATION_SIZE: f64 = 16.0;

/// The Okabe-Ito palette, reordered so that the first colours are the most
/// distinct on white (yellow, the faintest, comes last). It is safe for the
/// common forms of colour-blindness.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(230, 159, 0),   // orange
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
    RGBColor(240, 228, 66),  // yellow
];

/// Palette index of the `i`-th of several series that must all be told
/// apart: the palette reordered so that the first six share no hue family
/// (blue, vermillion, green, black, purple, orange; the sky blue and yellow
/// come last).
pub fn distinct(i: usize) -> usize {
    const ORDER: [usize; 8] = [0, 1, 2, 6, 4, 3, 5, 7];
    ORDER[i % ORDER.len()]
}

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
/// spaced along viridis, dark purple first, stopping at yellow-green (0.85)
/// because viridis' yellow end is too faint on white. Lightness grows with
/// `i`, so the order reads without the legend and in greyscale.
pub fn sequential(i: usize, n: usize) -> RGBColor {
    let t = if n <= 1 {
        0.0
    } else {
        0.85 * i.min(n - 1) as f64 / (n - 1) as f64
    };
    let f = t * (VIRIDIS.len() - 1) as f64;
    let k = (f.floor() as usize).min(VIRIDIS.len() - 2);
    let w = f - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * w).round() as u8;
    let (a, b) = (VIRIDIS[k], VIRIDIS[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

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

/// Default width (px) of a data line.
pub const LINE_WIDTH: u32 = 2;
/// Width (px) of reference lines (vertical/horizontal markers such as r = 1).
pub const REF_LINE_WIDTH: u32 = 2;
/// Radius (px) of line markers and scatter points.
pub const MARKER_SIZE: u32 = 3;
/// Dash length and gap (px) of every dashed line.
pub const DASH: (u32, u32) = (8, 5);

/// Colour of reference lines (vertical/horizontal markers).
pub const REF_LINE_COLOR: RGBColor = RGBColor(60, 60, 60);
/// Colour of the axes and tick labels.
pub const AXIS_COLOR: RGBColor = RGBColor(0, 0, 0);
/// Colour of major grid lines.
pub const GRID_COLOR: RGBAColor = RGBAColor(0, 0, 0, 0.15);
/// Colour of minor grid lines.
pub const MINOR_GRID_COLOR: RGBAColor = RGBAColor(0, 0, 0, 0.06);

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
    /// Stroke width in pixels.
    pub width: u32,
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

/// Width (px) of a figure at which the sizes in this file hold as written.
/// A wider figure (three or more panels across) has its text, lines,
/// markers and spacings scaled by its width over this, at most
/// [`MAX_SCALE`]: every figure of two to four panels across, printed 6.5
/// inches wide, then shows its tick labels at about 5.3 pt and its panel
/// titles at about 7.5 pt (a single 900 px panel at 3.25 inches: 4.4 pt and
/// 6.2 pt).
pub const REFERENCE_WIDTH: f64 = 1500.0;
/// Largest scale [`Look::for_width`] applies.
pub const MAX_SCALE: f64 = 2.4;

/// The scale of one figure's text, lines, markers and spacings (the
/// constants of this module are the sizes at scale 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Look {
    /// Factor on every size: 1 up to [`REFERENCE_WIDTH`] px, then the width
    /// over it, at most [`MAX_SCALE`].
    pub scale: f64,
}

impl Default for Look {
    fn default() -> Self {
        Look { scale: 1.0 }
    }
}

impl Look {
    /// The look of a figure `width` pixels wide.
    pub fn for_width(width: u32) -> Self {
        Look {
            scale: (width as f64 / REFERENCE_WIDTH).clamp(1.0, MAX_SCALE),
        }
    }
    /// This look `k` times larger (for drawing a supersampled bitmap).
    pub fn times(self, k: f64) -> Self {
        Look {
            scale: self.scale * k,
        }
    }
    /// A font size (px) at this scale.
    pub fn size(self, base: f64) -> f64 {
        base * self.scale
    }
    /// A length in whole pixels (line width, marker radius) at this scale.
    pub fn px(self, base: u32) -> u32 {
        (base as f64 * self.scale).round() as u32
    }
    /// A signed length in whole pixels (offsets, paddings) at this scale.
    pub fn ipx(self, base: i32) -> i32 {
        (base as f64 * self.scale).round() as i32
    }
}

/// Width (px) of the legend strip at the right of a panel is at least this.
pub const LEGEND_MIN_WIDTH: u32 = 110;
/// ... and at most this fraction of the panel width.
pub const LEGEND_MAX_FRACTION: f64 = 0.3;
