//! # experiments: the paper's experiments, one file each
//!
//! Every experiment reads top to bottom like the paper's method section:
//! its config, its `run` (which computes and stores results under
//! `results/<id>/`), and its `render` (which turns the stored results alone
//! into `figures/<id>/*.{png,svg}`, `paper/tables/<id>.md` and a report
//! section). `render` never recomputes: `ghosts figures` calls only it.
//!
//! Adding an experiment = one file implementing [`Experiment`] plus one line
//! in [`registry`].

pub mod config;
pub mod context;
pub mod overhead;
pub mod paper_numbers;
pub mod phase_transition;
pub mod theory;

pub use config::ConfigError;
pub use context::Context;

use anyhow::Result;

/// Every experiment id of the project, in report order. Ids not in
/// [`registry`] are planned but not implemented yet.
pub const ALL_IDS: &[&str] = &[
    "theory",
    "phase-transition",
    "random-directions",
    "temperature-fingerprint",
    "lr-spike",
    "arch-grid",
    "transformer-radii",
    "natural-instability",
    "ghost-envelope",
    "overhead",
];

/// One experiment of the paper.
pub trait Experiment: Sync {
    /// Stable id used on the command line and in paths (`results/<id>/`).
    fn id(&self) -> &'static str;
    /// Human title, e.g. "Theory figures (Figs 2-5, 13; Appendix 4)".
    fn title(&self) -> &'static str;
    /// Compute and store results (resumable: finished work is skipped).
    fn run(&self, ctx: &Context) -> Result<()>;
    /// Re-render figures and tables from stored results; returns the report section.
    fn render(&self, ctx: &Context) -> Result<analysis::report::Section>;
}

/// The implemented experiments, in report order.
pub fn registry() -> Vec<&'static dyn Experiment> {
    vec![
        &theory::Theory,
        &phase_transition::PhaseTransition,
        &overhead::Overhead,
    ]
}

/// Look up experiments by id. Unknown ids and planned-but-unimplemented ids
/// are errors that say which.
pub fn select(only: &[String]) -> Result<Vec<&'static dyn Experiment>> {
    let all = registry();
    if only.is_empty() {
        return Ok(all);
    }
    only.iter()
        .map(|id| {
            if let Some(e) = all.iter().find(|e| e.id() == id) {
                Ok(*e)
            } else if ALL_IDS.contains(&id.as_str()) {
                Err(anyhow::anyhow!(UnknownExperiment(format!(
                    "experiment {id:?} is planned but not implemented yet"
                ))))
            } else {
                Err(anyhow::anyhow!(UnknownExperiment(format!(
                    "unknown experiment {id:?}; known ids: {}",
                    ALL_IDS.join(", ")
                ))))
            }
        })
        .collect()
}

/// A requested experiment id that cannot be run (a user input error).
#[derive(Debug)]
pub struct UnknownExperiment(pub String);

impl std::fmt::Display for UnknownExperiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnknownExperiment {}

/// Render every implemented experiment that has stored results and rewrite
/// `paper/REPORT.md`. Experiments without results are listed as not run.
pub fn render_all(ctx: &Context) -> Result<std::path::PathBuf> {
    let mut sections = Vec::new();
    for e in registry() {
        if ctx.results_dir(e.id()).join("summary.json").exists() {
            sections.push(e.render(ctx)?);
        } else {
            sections.push(analysis::report::Section::not_run(e.id(), e.title()));
        }
    }
    let planned: Vec<&str> = ALL_IDS
        .iter()
        .copied()
        .filter(|id| !registry().iter().any(|e| e.id() == *id))
        .collect();
    analysis::report::write_report(&ctx.root, &sections, &planned)
}
