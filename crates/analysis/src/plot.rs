//! A small declarative line-plot API over plotters.
//!
//! Experiments describe WHAT to draw — a [`Figure`] of [`Panel`]s holding
//! [`Series`], [`Band`]s, reference lines, shaded [`Region`]s, [`Scatter`]s
//! and [`Annotation`]s — and [`render`] decides HOW, in the project
//! [`style`] module, writing both a PNG and an SVG.
//!
//! Data handling, identical in every panel:
//! * ranges default to the data extent plus a small padding (log axes use
//!   only positive finite values); an explicit `x_range`/`y_range` is used
//!   as given when it is finite, non-empty and positive on a log axis;
//! * NaN and infinite values never panic: such points are skipped and break
//!   the line there (a lone remaining point is drawn as a dot);
//! * a line that leaves the visible y range stops where it crosses the
//!   frame, marked there by a triangle pointing the way it went (it never
//!   runs along the frame as a false plateau), and the panel's legend (the
//!   figure's shared one, or a note without a legend) then explains the
//!   triangles, by itself; band areas and scatter points are clamped to the
//!   frame; lines are cut at the x edges;
//! * a log axis fitted to data has a label at most half a decade above its
//!   smallest value (the range reaches down to the next tick value if need
//!   be); its labels are
//!   powers of ten (10⁻³) when it spans more than 3 decades or plain
//!   numbers would need an exponent, plain numbers (0.01, 1, 100)
//!   otherwise, one format per axis, and the same on every decade axis of
//!   one direction in a figure;
//! * an equal-aspect panel gets a canvas height at which its plot has the
//!   data's aspect (no widened, half-empty plot);
//! * items without a colour take palette colours by position: series `i`
//!   and band `i` share colour `i`, scatters continue after the series.
//!
//! ```no_run
//! use analysis::plot::{render, Figure, Panel, Series, VLine};
//! let mut p = Panel::new("Loss along the step", "r = step / radius", "loss");
//! p.y_log = true;
//! p.series.push(Series::new("mlp", vec![0.1, 1.0, 2.0], vec![1.0, 0.9, 5.0]));
//! p.vlines.push(VLine::r_one());
//! render(&Figure::single(p), std::path::Path::new("results/fig")).unwrap();
//! ```

mod axis;
mod check;
mod clip;
mod legend;
mod panel;
mod text;

pub use check::{marker_problems, text_problems};

use crate::style;
use anyhow::{anyhow, bail, Result};
use image::ImageEncoder;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// A line through the points `(x[i], y[i])`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text; an empty label keeps the series out of the legend.
    pub label: String,
    /// Abscissae.
    pub x: Vec<f64>,
    /// Ordinates (same length as `x`; extra values of either are ignored).
    pub y: Vec<f64>,
    /// Colour (a palette index or an explicit colour); `None` picks a
    /// palette colour by position.
    pub color: Option<style::Ink>,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// Line weight (one of the style's widths).
    pub width: style::Weight,
    /// Opacity, 1 = opaque: below 1 for curves that lie on one another, so
    /// that each stays visible.
    pub alpha: f64,
    /// Draw a marker at every point.
    pub markers: bool,
    /// Sparse markers of this shape along the line (a few per curve, set
    /// apart from other series' by the series' position), for curves that
    /// colour and dash alone do not tell apart; shown in the legend too.
    pub shape: Option<Shape>,
}

/// The shape of a series' sparse markers ([`Series::shape`]). No
/// triangles: a triangle on the frame marks a line that leaves the plot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A filled disc.
    Circle,
    /// A filled square.
    Square,
    /// A filled diamond.
    Diamond,
    /// An x.
    Cross,
    /// A +.
    Plus,
    /// A ring.
    OpenCircle,
    /// A square outline.
    OpenSquare,
    /// A diamond outline.
    OpenDiamond,
}

impl Shape {
    /// Every shape, most distinct first.
    pub const ALL: [Shape; 8] = [
        Shape::Circle,
        Shape::Square,
        Shape::Diamond,
        Shape::Cross,
        Shape::OpenCircle,
        Shape::OpenSquare,
        Shape::Plus,
        Shape::OpenDiamond,
    ];
    /// Shape `i` of [`Shape::ALL`], cycling.
    pub fn nth(i: usize) -> Shape {
        Shape::ALL[i % Shape::ALL.len()]
    }
}

impl Default for Series {
    fn default() -> Self {
        Series {
            label: String::new(),
            x: vec![],
            y: vec![],
            color: None,
            dashed: false,
            width: style::LINE_WIDTH,
            alpha: 1.0,
            markers: false,
            shape: None,
        }
    }
}

impl Series {
    /// A solid line of default width, coloured by position.
    pub fn new(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series {
            label: label.into(),
            x,
            y,
            ..Series::default()
        }
    }
    /// With colour `ink`: a palette index or an explicit colour.
    pub fn color(mut self, ink: impl Into<style::Ink>) -> Self {
        self.color = Some(ink.into());
        self
    }
    /// Dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
    /// With markers at the points.
    pub fn markers(mut self) -> Self {
        self.markers = true;
        self
    }
    /// With sparse markers of shape `s` (see [`Series::shape`]).
    pub fn shape(mut self, s: Shape) -> Self {
        self.shape = Some(s);
        self
    }
    /// With line weight `w`.
    pub fn width(mut self, w: style::Weight) -> Self {
        self.width = w;
        self
    }
    /// With opacity `a` (see [`Series::alpha`]; [`style::OVERLAP_ALPHA`]
    /// for curves that overlap).
    pub fn alpha(mut self, a: f64) -> Self {
        self.alpha = a;
        self
    }
}

/// A semi-transparent area between the curves `lo` and `hi` over `x`
/// (e.g. an interquartile range around a median line).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Band {
    /// Legend text; empty keeps it out of the legend.
    pub label: String,
    /// Abscissae.
    pub x: Vec<f64>,
    /// Lower curve.
    pub lo: Vec<f64>,
    /// Upper curve.
    pub hi: Vec<f64>,
    /// Colour; `None` uses the palette colour of the series with the same index.
    pub color: Option<style::Ink>,
}

impl Band {
    /// A band coloured like the series of the same index.
    pub fn new(label: impl Into<String>, x: Vec<f64>, lo: Vec<f64>, hi: Vec<f64>) -> Self {
        Band {
            label: label.into(),
            x,
            lo,
            hi,
            color: None,
        }
    }
    /// With colour `ink`: a palette index or an explicit colour.
    pub fn color(mut self, ink: impl Into<style::Ink>) -> Self {
        self.color = Some(ink.into());
        self
    }
}

/// A vertical reference line across the whole panel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VLine {
    /// Position on the x axis.
    pub x: f64,
    /// Legend text; empty keeps it out of the legend.
    pub label: String,
    /// Dashed instead of solid.
    pub dashed: bool,
}

impl VLine {
    /// A dashed vertical line at `x`.
    pub fn new(x: f64, label: impl Into<String>) -> Self {
        VLine {
            x,
            label: label.into(),
            dashed: true,
        }
    }
    /// The "r = 1" line: step size equal to the convergence radius, in the
    /// [`style::R_ONE_LINE`] style.
    pub fn r_one() -> Self {
        VLine {
            x: 1.0,
            label: "r = 1".into(),
            dashed: style::R_ONE_LINE.dashed,
        }
    }
}

/// A horizontal reference line across the whole panel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HLine {
    /// Position on the y axis.
    pub y: f64,
    /// Legend text; empty keeps it out of the legend.
    pub label: String,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// Drawn over the series (a reference that a curve may sit on, e.g.
    /// r = 1 under a controller held at r = 1) instead of under them.
    pub on_top: bool,
}

impl HLine {
    /// A dashed horizontal line at `y`, under the series.
    pub fn new(y: f64, label: impl Into<String>) -> Self {
        HLine {
            y,
            label: label.into(),
            dashed: true,
            on_top: false,
        }
    }

    /// Drawn over the series instead of under them.
    pub fn on_top(mut self) -> Self {
        self.on_top = true;
        self
    }
}

/// Fill colour of a [`Region`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RegionColor {
    /// Light green: step sizes that are safe.
    #[default]
    Safe,
    /// Light red: step sizes that are not.
    Unsafe,
    /// A light tint of palette colour `i`.
    Palette(usize),
}

/// A vertical span `x0..x1` shaded over the whole y range. Either end may
/// be infinite (e.g. `1.0..f64::INFINITY` for everything right of r = 1).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Region {
    /// One end.
    pub x0: f64,
    /// The other end.
    pub x1: f64,
    /// Fill colour.
    pub color: RegionColor,
    /// Legend text; empty keeps it out of the legend.
    pub label: String,
}

impl Region {
    /// A region with the given fill.
    pub fn new(x0: f64, x1: f64, color: RegionColor, label: impl Into<String>) -> Self {
        Region {
            x0,
            x1,
            color,
            label: label.into(),
        }
    }
    /// A safe (green) region.
    pub fn safe(x0: f64, x1: f64, label: impl Into<String>) -> Self {
        Region::new(x0, x1, RegionColor::Safe, label)
    }
    /// An unsafe (red) region.
    pub fn unsafe_(x0: f64, x1: f64, label: impl Into<String>) -> Self {
        Region::new(x0, x1, RegionColor::Unsafe, label)
    }
}

/// A marked point with a text next to it (not in the legend). Drawn only
/// when the point is inside the visible ranges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Annotation {
    /// Point abscissa.
    pub x: f64,
    /// Point ordinate.
    pub y: f64,
    /// The text.
    pub text: String,
}

impl Annotation {
    /// Text `text` at `(x, y)`.
    pub fn new(x: f64, y: f64, text: impl Into<String>) -> Self {
        Annotation {
            x,
            y,
            text: text.into(),
        }
    }
}

/// Unconnected points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scatter {
    /// Legend text; empty keeps it out of the legend.
    pub label: String,
    /// Abscissae.
    pub x: Vec<f64>,
    /// Ordinates.
    pub y: Vec<f64>,
    /// Colour; `None` continues the palette after the series.
    pub color: Option<style::Ink>,
    /// Drawn as diamonds with a white rim (for summary points such as
    /// medians, drawn above the other points) rather than dots.
    pub diamonds: bool,
}

impl Scatter {
    /// Points coloured by position.
    pub fn new(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Scatter {
            label: label.into(),
            x,
            y,
            color: None,
            diamonds: false,
        }
    }
    /// As diamonds (see [`Scatter::diamonds`]).
    pub fn diamonds(mut self) -> Self {
        self.diamonds = true;
        self
    }
    /// With colour `ink`: a palette index or an explicit colour.
    pub fn color(mut self, ink: impl Into<style::Ink>) -> Self {
        self.color = Some(ink.into());
        self
    }
}

impl Scatter {
    /// The same points with those that coincide set side by side: the
    /// `j`-th of `m` points at one `(x, y)` moves to `x * factor^(j - (m-1)/2)`
    /// (for a logarithmic x axis; the group stays centred on its x). Points
    /// keep their order; non-finite points are left alone.
    pub fn dodged(mut self, factor: f64) -> Self {
        self.x = dodge(&self.x, &self.y, factor);
        self
    }
}

/// See [`Scatter::dodged`]: the shifted abscissae of the points `(x, y)`.
pub fn dodge(x: &[f64], y: &[f64], factor: f64) -> Vec<f64> {
    let n = x.len().min(y.len());
    let same = |i: usize, j: usize| x[i].to_bits() == x[j].to_bits() && y[i].to_bits() == y[j].to_bits();
    (0..n)
        .map(|i| {
            if !(x[i].is_finite() && y[i].is_finite()) {
                return x[i];
            }
            let before = (0..i).filter(|&j| same(i, j)).count();
            let m = (0..n).filter(|&j| same(i, j)).count();
            x[i] * factor.powf(before as f64 - (m as f64 - 1.0) / 2.0)
        })
        .collect()
}

/// Where a panel's legend goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LegendPos {
    /// In a strip right of the plotting area (never over the data).
    Right,
    /// In a strip below the plotting area (never over the data): the
    /// default, so the plot keeps the panel's full width.
    #[default]
    Below,
    /// Inside the plotting area, upper-left corner, on a white box.
    UpperLeft,
    /// Inside, upper-right corner, on a white box.
    UpperRight,
    /// Inside, lower-left corner, on a white box.
    LowerLeft,
    /// Inside, lower-right corner, on a white box.
    LowerRight,
    /// Inside, on a white box, in the first corner (upper left, lower right,
    /// upper right, lower left) where the box covers no line, band edge or
    /// point; chosen when drawn, from the box's real size. (A fixed corner
    /// is used only if free too.) With no free corner the legend goes below
    /// the plot.
    FreeCorner,
    /// No legend.
    None,
}

/// One plot: axes, their labels and everything drawn in it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    /// Title above the plot (empty: none).
    pub title: String,
    /// x axis description.
    pub x_label: String,
    /// y axis description.
    pub y_label: String,
    /// Logarithmic x axis.
    pub x_log: bool,
    /// Logarithmic y axis.
    pub y_log: bool,
    /// Visible x range; `None` fits the data.
    pub x_range: Option<(f64, f64)>,
    /// One data unit as long on the x axis as on the y axis (linear axes;
    /// the shorter range is widened about its centre): for pictures whose
    /// angles are the content.
    pub equal_aspect: bool,
    /// Labelled x ticks at exactly these values (those inside the visible
    /// range), e.g. the temperatures a sweep used; `None` chooses ticks.
    pub x_ticks: Option<Vec<f64>>,
    /// Visible y range; `None` fits the data. Lines leaving it stop at the
    /// frame with a mark; bands and points are clamped.
    pub y_range: Option<(f64, f64)>,
    /// Labelled y ticks at exactly these values (those inside the visible
    /// range), e.g. the r targets of a controller on a log r axis; `None`
    /// chooses ticks.
    pub y_ticks: Option<Vec<f64>>,
    /// Lines.
    pub series: Vec<Series>,
    /// Filled areas between two curves.
    pub bands: Vec<Band>,
    /// Vertical reference lines.
    pub vlines: Vec<VLine>,
    /// Horizontal reference lines.
    pub hlines: Vec<HLine>,
    /// Shaded vertical spans (drawn behind everything else).
    pub regions: Vec<Region>,
    /// Marked points with text.
    pub annotations: Vec<Annotation>,
    /// Note lines (values, remarks) in a box inside the plot where it
    /// covers no data, else in a strip below the plot.
    pub notes: Vec<String>,
    /// Notes always in the strip below the plot (for grids whose panels
    /// must keep equal plot sizes).
    pub notes_below: bool,
    /// Unconnected points.
    pub scatters: Vec<Scatter>,
    /// Legend placement.
    pub legend: LegendPos,
}

impl Panel {
    /// An empty panel with a title and axis descriptions.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Panel {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Panel::default()
        }
    }
}

/// Panels laid out in a grid, row by row, with an optional overall title.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// Title above all panels.
    pub title: Option<String>,
    /// The panels, row-major.
    pub panels: Vec<Panel>,
    /// Panels per row (clamped to `1..=panels.len()`).
    pub cols: usize,
    /// Size in pixels of one panel cell, legend strip included.
    pub panel_size: (u32, u32),
    /// One legend for the whole figure, in a strip below the panels (the
    /// panels then draw none): the union of the panels' entries, each label
    /// once. For grids whose panels share their lines.
    pub shared_legend: bool,
    /// One x range and one y range for every panel (the union of the
    /// panels' own, fitted or fixed), hence one tick set per direction:
    /// for grids whose axes mean the same in every panel, so that panels
    /// compare at a glance.
    pub shared_axes: bool,
}

impl Default for Figure {
    fn default() -> Self {
        Figure {
            title: None,
            panels: vec![],
            cols: 1,
            panel_size: style::PANEL_SIZE,
            shared_legend: false,
            shared_axes: false,
        }
    }
}

impl Figure {
    /// A figure of one panel.
    pub fn single(panel: Panel) -> Self {
        Figure {
            panels: vec![panel],
            ..Figure::default()
        }
    }
    /// Panels in rows of `cols`.
    pub fn grid(panels: Vec<Panel>, cols: usize) -> Self {
        Figure {
            panels,
            cols,
            ..Figure::default()
        }
    }
    /// With an overall title.
    pub fn titled(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    /// With panel cells of `size` pixels (width, height).
    pub fn sized(mut self, size: (u32, u32)) -> Self {
        self.panel_size = size;
        self
    }
    /// With one legend below all panels instead of one per panel.
    pub fn with_shared_legend(mut self) -> Self {
        self.shared_legend = true;
        self
    }
    /// With one x and one y range for all panels ([`Figure::shared_axes`]).
    pub fn with_shared_axes(mut self) -> Self {
        self.shared_axes = true;
        self
    }
    /// The shared legend's entries (each label once, first panel first)
    /// and their rows when flowed over `width` pixels; none without a
    /// shared legend.
    fn shared_entries(&self, width: u32, look: style::Look) -> (Vec<legend::Entry>, Vec<Vec<usize>>) {
        if !self.shared_legend {
            return (Vec::new(), Vec::new());
        }
        let mut entries: Vec<legend::Entry> = Vec::new();
        for e in self.panels.iter().flat_map(legend::entries) {
            if !entries.iter().any(|k| k.label == e.label) {
                entries.push(e);
            }
        }
        let rows = legend::flow(&entries, width as i32, look);
        (entries, rows)
    }
    /// Height of the shared legend strip in pixels (0 without one).
    fn legend_height(&self, width: u32, look: style::Look) -> u32 {
        let (entries, rows) = self.shared_entries(width, look);
        if entries.is_empty() {
            0
        } else {
            legend::flow_height(&rows, look)
        }
    }
    /// The figure's one label format per direction: the log axes labelled
    /// in decades show powers of ten on every panel (x, y) when one of
    /// them does by the rule of [`axis::AxisSpec::auto_powers`] (more than
    /// 3 decades, or values a plain number would need an exponent for).
    fn powers(&self) -> panel::Powers {
        let axes: Vec<_> = self.panels.iter().map(panel::axes).collect();
        let powers = |a: &axis::AxisSpec| a.decades_only() && a.powers;
        panel::Powers {
            x: axes.iter().any(|a| powers(&a.0)),
            y: axes.iter().any(|a| powers(&a.1)),
        }
    }
    /// Effective (columns, rows) of the grid.
    fn grid_shape(&self) -> (usize, usize) {
        let cols = self.cols.clamp(1, self.panels.len().max(1));
        (cols, self.panels.len().div_ceil(cols))
    }
    /// Pixels per point of text, lines and markers: from the width of the
    /// figure and its print width ([`style::Look::for_width`]), so every
    /// text is [`style::MIN_TEXT_PT`] or larger at print size.
    pub fn look(&self) -> style::Look {
        let (cols, _) = self.grid_shape();
        style::Look::for_width(self.panel_size.0 * cols as u32)
    }
    /// The overall title broken into lines that fit `width` pixels.
    fn title_lines(&self, width: u32, look: style::Look) -> Vec<String> {
        match self.title.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => text::wrap(t, look.size(style::FIGURE_TITLE_SIZE), width.saturating_sub(look.px(8.0))),
            None => Vec::new(),
        }
    }
    /// Height of the overall title strip in pixels (one line: 1.6 font
    /// sizes; each further line 1.2 more).
    fn title_height(&self, width: u32, look: style::Look) -> u32 {
        match self.title_lines(width, look).len() {
            0 => 0,
            n => (look.size(style::FIGURE_TITLE_SIZE) * (1.6 + 1.2 * (n - 1) as f64)) as u32,
        }
    }
    /// Total size in pixels.
    pub fn size(&self) -> (u32, u32) {
        let (cols, rows) = self.grid_shape();
        let (w, h) = self.panel_size;
        let width = w * cols as u32;
        let look = self.look();
        // A panel is at least MIN_PANEL_HEIGHT points tall at print size,
        // so its plot keeps room beside its titles and labels.
        let h = h.max(look.px(style::MIN_PANEL_HEIGHT));
        (
            width,
            h * rows as u32 + self.title_height(width, look) + self.legend_height(width, look),
        )
    }
}

/// `fig` with every text it draws typeset ([`crate::symbols::math`]:
/// `rho_a` as ρ with a subscript a, `tau` as τ, `>=` as ≥, `T_15` as T
/// with a subscript 15, ...; the subscripts are drawn by `text::draw`).
fn with_symbols(fig: &Figure) -> Figure {
    let g = |s: &mut String| *s = crate::symbols::math(s);
    let mut fig = fig.clone();
    if let Some(t) = fig.title.as_mut() {
        g(t);
    }
    for p in &mut fig.panels {
        g(&mut p.title);
        g(&mut p.x_label);
        g(&mut p.y_label);
        p.series.iter_mut().for_each(|s| g(&mut s.label));
        p.bands.iter_mut().for_each(|b| g(&mut b.label));
        p.vlines.iter_mut().for_each(|v| g(&mut v.label));
        p.hlines.iter_mut().for_each(|h| g(&mut h.label));
        p.regions.iter_mut().for_each(|r| g(&mut r.label));
        p.annotations.iter_mut().for_each(|a| g(&mut a.text));
        p.scatters.iter_mut().for_each(|s| g(&mut s.label));
        p.notes.iter_mut().for_each(g);
    }
    fig
}

/// `fig` with every panel given the union of the panels' x ranges and of
/// their y ranges when it shares its axes ([`Figure::shared_axes`]); as
/// it is otherwise.
fn shared(fig: &Figure) -> Figure {
    let mut fig = fig.clone();
    if !fig.shared_axes || fig.panels.len() < 2 {
        return fig;
    }
    let axes: Vec<_> = fig.panels.iter().map(panel::axes).collect();
    let union = |pick: fn(&(axis::AxisSpec, axis::AxisSpec)) -> &axis::AxisSpec| {
        axes.iter().map(pick).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), a| (lo.min(a.lo), hi.max(a.hi)))
    };
    let (x, y) = (union(|a| &a.0), union(|a| &a.1));
    for p in &mut fig.panels {
        p.x_range = Some(x);
        p.y_range = Some(y);
    }
    fig
}

/// `stem` with `ext` appended (`results/fig1` -> `results/fig1.png`); a dot
/// in the stem is kept rather than treated as an extension.
fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Renders `fig` to `stem.png` and `stem.svg` (parent directories are
/// created; each file is written to a temporary file in the same directory
/// and renamed into place) and returns the two paths, PNG first.
pub fn render(fig: &Figure, stem: &Path) -> Result<Vec<PathBuf>> {
    if fig.panels.is_empty() {
        bail!("figure {} has no panels", stem.display());
    }
    crate::font::ensure_fonts();
    let fig = &fitted(&shared(&with_symbols(fig)))?;
    let size = fig.size();
    let (png, svg) = (with_ext(stem, "png"), with_ext(stem, "svg"));

    // The bitmap: drawn at SUPERSAMPLE times the size with every length
    // scaled alike, then each SUPERSAMPLE x SUPERSAMPLE block averaged into
    // one pixel, so lines and text come out anti-aliased (plotters draws
    // bitmap lines without). Dropping `tmp` on an error removes it.
    let k = SUPERSAMPLE;
    let mut big = vec![0u8; (size.0 * k * size.1 * k * 3) as usize];
    {
        let root =
            BitMapBackend::with_buffer(&mut big, (size.0 * k, size.1 * k)).into_drawing_area();
        draw_figure(&root, fig, fig.look().times(k as f64))
            .and_then(|_| root.present().map_err(|e| anyhow!("{e:?}")))
            .map_err(|e| e.context(format!("drawing {}", png.display())))?;
    }
    let small = downsample(&big, size, k);
    let mut tmp = crate::store::temp_file(&png)?;
    image::codecs::png::PngEncoder::new(std::io::BufWriter::new(tmp.as_file_mut()))
        .write_image(&small, size.0, size.1, image::ColorType::Rgb8)
        .map_err(|e| anyhow!("encoding {}: {e}", png.display()))?;
    crate::store::commit(tmp, &png)?;

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        draw_figure(&root, fig, fig.look())
            .and_then(|_| root.present().map_err(|e| anyhow!("{e:?}")))
            .map_err(|e| e.context(format!("drawing {}", svg.display())))?;
    }
    crate::store::write_atomic(&svg, text.as_bytes())?;
    Ok(vec![png, svg])
}

/// `fig` with its panel height set so that the plots of its equal-aspect
/// panels come out with the aspect of their data (a square range in a
/// square plot) instead of being widened inside a canvas of another
/// shape: laid out once (SVG, not kept), the height changed by what the
/// plot lacks or has in excess, twice. The width, and so every size in
/// points, stays.
fn fitted(fig: &Figure) -> Result<Figure> {
    let mut fig = fig.clone();
    if !fig.panels.iter().any(|p| p.equal_aspect && !p.x_log && !p.y_log) {
        return Ok(fig);
    }
    for _ in 0..2 {
        let mut text = String::new();
        let gaps = {
            let root = SVGBackend::with_string(&mut text, fig.size()).into_drawing_area();
            draw_figure(&root, &fig, fig.look())?
        };
        // The panel that needs the most height sets it (the others are
        // widened about their centre, as before).
        let gap = gaps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !gap.is_finite() || gap.abs() < 1.0 {
            break;
        }
        let h = (fig.panel_size.1 as f64 + gap).round().max(1.0) as u32;
        if h == fig.panel_size.1 {
            break;
        }
        fig.panel_size.1 = h;
    }
    Ok(fig)
}

/// How many bitmap pixels per PNG pixel and direction [`render`] draws.
const SUPERSAMPLE: u32 = 2;

/// The RGB image `big` (`size` times `k` in each direction) with each
/// `k` x `k` block averaged (rounded) into one pixel of an image of `size`.
fn downsample(big: &[u8], size: (u32, u32), k: u32) -> Vec<u8> {
    let (w, h, k) = (size.0 as usize, size.1 as usize, k as usize);
    let big_w = w * k;
    let n = (k * k) as u32;
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..k {
                    for dx in 0..k {
                        sum += big[((y * k + dy) * big_w + x * k + dx) * 3 + c] as u32;
                    }
                }
                out[(y * w + x) * 3 + c] = ((sum + n / 2) / n) as u8;
            }
        }
    }
    out
}

/// Draws the whole figure on `root` with the sizes of `look`; returns, per
/// equal-aspect panel, the plot height (px) it lacks for its data's aspect
/// (negative: in excess).
fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
    look: style::Look,
) -> Result<Vec<f64>> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
    root.fill(&WHITE).map_err(err)?;
    let (root_w, _) = root.dim_in_pixel();
    let lines = fig.title_lines(root_w, look);
    let body = if lines.is_empty() {
        root.clone()
    } else {
        let (top, body) = root.split_vertically(fig.title_height(root_w, look));
        let (w, h) = top.dim_in_pixel();
        let size = look.size(style::FIGURE_TITLE_SIZE);
        let pos = plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        );
        // Lines 1.2 sizes apart, the block centred in the strip.
        let step = size * 1.2;
        let first = h as f64 / 2.0 - step * (lines.len() - 1) as f64 / 2.0;
        for (i, line) in lines.iter().enumerate() {
            let y = (first + step * i as f64).round() as i32;
            text::draw(&top, line, (w as i32 / 2, y), pos, size, &style::AXIS_COLOR, false)
                .map_err(err)?;
        }
        body
    };
    let (width, _) = body.dim_in_pixel();
    let body = match fig.legend_height(width, look) {
        0 => body,
        h => {
            let (_, body_h) = body.dim_in_pixel();
            let (panels, strip) = body.split_vertically(body_h.saturating_sub(h));
            let (entries, rows) = fig.shared_entries(width, look);
            legend::draw_rows(&strip, &entries, &rows, (0, 0), width as i32, look)
                .map_err(err)?;
            panels
        }
    };
    let (cols, rows) = fig.grid_shape();
    let cells = body.split_evenly((rows, cols));
    let ctx = panel::FigureCtx {
        powers: fig.powers(),
        shared_legend: fig.shared_legend,
    };
    let mut gaps = Vec::new();
    for (panel, cell) in fig.panels.iter().zip(&cells) {
        let gap = if fig.shared_legend {
            let mut p = panel.clone();
            p.legend = LegendPos::None;
            panel::draw(cell, &p, look, ctx).map_err(err)?
        } else {
            panel::draw(cell, panel, look, ctx).map_err(err)?
        };
        gaps.extend(gap);
    }
    Ok(gaps)
}

#[cfg(test)]
mod tests;
