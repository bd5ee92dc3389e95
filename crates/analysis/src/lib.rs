//! Result-side helpers of the ghosts reproduction: everything that turns
//! experiment outputs into figures, tables and files.
//!
//! This crate knows results, not models: it depends on no other crate of the
//! workspace.
//!
//! * [`style`] — the one figure style (sizes, fonts, Okabe-Ito palette,
//!   safe/unsafe fills, the dashed "r = 1" line);
//! * [`plot`] — a declarative line-plot API ([`Figure`], [`Panel`],
//!   [`Series`], ...) rendered to PNG and SVG by [`render`];
//! * [`table`] — Markdown tables and number formatting;
//! * [`store`] — atomic file writes and JSON IO (non-finite numbers as `null`);
//! * [`runs`] — the results store: one Parquet file of tidy rows per run,
//!   keyed by a hash of config, run label and schema version;
//! * [`frame`] — a run's frame derived from its serde struct (a record with
//!   repeated scalars, or rows) and back;
//! * [`stats`] — quantiles, median, IQR, mean, std (NaN-aware variants),
//!   seeded bootstrap CIs (per sample or per seed), onset detection,
//!   interpolation onto grids and median/quantile bands over seeds,
//!   `linspace`/`logspace`;
//! * [`font`] — the embedded DejaVu Sans and its registration with plotters;
//! * [`symbols`] — spelled-out Greek names (`rho_a`) as the paper's symbols
//!   with real subscripts: a smaller lowered glyph run in figures,
//!   `<sub>` in the report and tables.

#![warn(missing_docs)]

pub mod font;
pub mod frame;
pub mod plot;
pub mod report;
pub mod runs;
pub mod stats;
pub mod store;
pub mod style;
pub mod symbols;
pub mod table;

/// The frame library of the results store, re-exported so experiments use
/// the same version.
pub use polars;

pub use plot::{
    render, Annotation, Band, Figure, HLine, LegendPos, Panel, Region, RegionColor, Scatter,
    Series, VLine,
};
pub use store::{finite_or_null, read_json, write_atomic, write_json_atomic};
pub use table::{fmt_pct, fmt_sig, Table};
