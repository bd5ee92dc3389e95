//! Where an experiment reads and writes: one project root with `results/`,
//! `figures/`, `paper/` and `configs/` beneath it.

use crate::config::{self, ConfigError, Loaded, Validate};
use anyhow::Result;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// First line of a stored `results/<id>/config.yaml`, before the source.
const STORED_HEADER: &str = "# Settings of this run, from ";

/// Paths and mode shared by every experiment.
#[derive(Debug, Clone)]
pub struct Context {
    /// Project root (the directory holding `results/`, `figures/`, `paper/`).
    pub root: PathBuf,
    /// Quick mode: CI-sized settings (`configs/quick/`).
    pub quick: bool,
    /// `--config FILE`: replaces `configs/[quick/]<id>.yaml` (one experiment).
    pub config: Option<PathBuf>,
    /// Runs computed and found stored by the run loop (`runner::run_jobs`, for
    /// the wall-time record).
    pub tally: std::sync::Arc<crate::runner::RunTally>,
    /// `--data-root DIR`: where an experiment reading a data set the
    /// project does not ship (CIFAR-10) finds it; overrides the config's
    /// `data_root`.
    pub data_root: Option<PathBuf>,
    /// `--shard i/n`: compute only this part of the runs, and neither
    /// summarise nor time the experiment (see [`crate::Shard`]).
    pub shard: Option<crate::Shard>,
}

impl Context {
    /// A context rooted at `root`.
    pub fn new(root: impl Into<PathBuf>, quick: bool) -> Self {
        Context {
            root: root.into(),
            quick,
            config: None,
            tally: Default::default(),
            data_root: None,
            shard: None,
        }
    }

    /// The same context with `--data-root DIR` (or none).
    pub fn with_data_root(mut self, data_root: Option<PathBuf>) -> Self {
        self.data_root = data_root;
        self
    }

    /// The same context with `--shard i/n` (or none).
    pub fn with_shard(mut self, shard: Option<crate::Shard>) -> Self {
        self.shard = shard;
        self
    }

    /// The same context with `--config FILE` (or none).
    pub fn with_config(mut self, config: Option<PathBuf>) -> Self {
        self.config = config;
        self
    }

    /// The config file of experiment `id`: `--config FILE` if given, else
    /// `<root>/configs/quick/<id>.yaml` in quick mode, else
    /// `<root>/configs/<id>.yaml`. The file may not exist (see [`Self::load_config`]).
    pub fn config_path(&self, id: &str) -> PathBuf {
        match &self.config {
            Some(p) => p.clone(),
            None => self
                .root
                .join("configs")
                .join(config::relative_path(id, self.quick)),
        }
    }

    /// Load and validate the config of experiment `id` from
    /// [`Self::config_path`]. When no `--config` was given and the root has
    /// no such file (a scratch output root), the repository's copy compiled
    /// into the binary is used. The values are checked ([`Validate`]).
    /// Errors are [`ConfigError`]s (input errors).
    pub fn load_config<T: DeserializeOwned + Validate>(&self, id: &str) -> Result<Loaded<T>> {
        let path = self.config_path(id);
        if self.config.is_some() || path.exists() {
            let (value, text) = config::read_config(&path)?;
            let source = match self.config {
                Some(_) => path.display().to_string(),
                None => self.relative(&path).display().to_string(),
            };
            return Ok(Loaded {
                value,
                source,
                text,
            }
            .validated()?);
        }
        let rel = config::relative_path(id, self.quick);
        let text = config::built_in_text(&rel).ok_or_else(|| ConfigError {
            file: path.display().to_string(),
            location: None,
            message: "no such config file, and none is built in".into(),
        })?;
        let source = format!("configs/{rel} (built-in copy)");
        Ok(Loaded {
            value: config::parse_config(text, &source)?,
            source,
            text: text.to_string(),
        }
        .validated()?)
    }

    /// Store the config a run used as `results/<id>/config.yaml` (its text,
    /// after a first comment line naming where it came from).
    pub fn save_config<T>(&self, id: &str, cfg: &Loaded<T>) -> Result<()> {
        let text = format!("{STORED_HEADER}{}\n{}", cfg.source, cfg.text);
        analysis::store::write_atomic(self.results_dir(id).join("config.yaml"), text.as_bytes())
    }

    /// The report's "computed by" note of `results/<id>/`, if the run
    /// stored its settings: the command that computes it and which settings
    /// it used (the default or CI-sized ones of the project, or a
    /// user's file). No path of ours: a reader of the report needs the
    /// command, not our sources.
    pub fn config_note(&self, id: &str) -> Option<String> {
        let path = self.results_dir(id).join("config.yaml");
        let text = std::fs::read_to_string(&path).ok()?;
        let source = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix(STORED_HEADER))
            .unwrap_or("");
        let (quick, paper) = (
            source.starts_with("configs/quick/"),
            source.starts_with(&format!("configs/{id}.yaml")),
        );
        Some(if quick {
            format!("Computed by `ghosts run {id} --quick` (the CI-sized settings, stored in `results/{id}/config.yaml`).")
        } else if paper {
            format!("Computed by `ghosts run {id}` (the default settings, stored in `results/{id}/config.yaml`).")
        } else if let Some(file) = source.strip_suffix(" (built-in copy)").or(Some(source)).filter(|f| f.starts_with("configs/")) {
            // Another of the project's configs (e.g. the CIFAR-10 one).
            format!("Computed by `ghosts run {id} --config {file}` (settings stored in `results/{id}/config.yaml`).")
        } else {
            format!("Computed by `ghosts run {id} --config FILE` with settings of the user's own (stored in `results/{id}/config.yaml`).")
        })
    }

    /// `results/<id>/`.
    pub fn results_dir(&self, id: &str) -> PathBuf {
        self.root.join("results").join(id)
    }

    /// The end of every `run`: write the headline numbers as
    /// `results/<id>/summary.json` (atomically) and store the settings used
    /// beside them ([`Self::save_config`]).
    pub fn finish_run<S: serde::Serialize + ?Sized, T>(
        &self,
        id: &str,
        summary: &S,
        cfg: &Loaded<T>,
    ) -> Result<()> {
        analysis::store::write_json_atomic(self.results_dir(id).join("summary.json"), summary)?;
        self.save_config(id, cfg)
    }

    /// `results/<id>/summary.json`, as `render` reads it back.
    pub fn read_summary<S: DeserializeOwned>(&self, id: &str) -> Result<S> {
        analysis::store::read_json(self.results_dir(id).join("summary.json"))
    }

    /// `results/<id>/runs/`: the experiment's Parquet run store.
    pub fn run_store(&self, id: &str) -> analysis::runs::RunStore {
        analysis::runs::RunStore::new(self.results_dir(id).join("runs"))
    }

    /// The PNG files among rendered `files`, relative to the root: the
    /// figures a report section shows (the SVGs sit beside them).
    pub fn report_figures(&self, files: &[PathBuf]) -> Vec<PathBuf> {
        files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .map(|p| self.relative(p).to_path_buf())
            .collect()
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
