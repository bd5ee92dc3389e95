//! Where an experiment reads and writes: one project root with `results/`,
//! `figures/`, `paper/` and `configs/` beneath it.

use std::path::{Path, PathBuf};

/// Paths and mode shared by every experiment.
#[derive(Debug, Clone)]
pub struct Context {
    /// Project root (the directory holding `results/`, `figures/`, `paper/`).
    pub root: PathBuf,
    /// Quick mode: CI-sized settings (`configs/quick/`).
    pub quick: bool,
}

impl Context {
    /// A context rooted at `root`.
    pub fn new(root: impl Into<PathBuf>, quick: bool) -> Self {
        Context {
            root: root.into(),
            quick,
        }
    }

    /// `results/<id>/`.
    pub fn results_dir(&self, id: &str) -> PathBuf {
        self.root.join("results").join(id)
    }

    /// `figures/<id>/`.
    pub fn figures_dir(&self, id: &str) -> PathBuf {
        self.root.join("figures").join(id)
    }

    /// `paper/tables/<id>.md`.
    pub fn table_path(&self, id: &str) -> PathBuf {
        self.root
            .join("paper")
            .join("tables")
            .join(format!("{id}.md"))
    }

    /// Path relative to the root, for links in the report.
    pub fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }
}
