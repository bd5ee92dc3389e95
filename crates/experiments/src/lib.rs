//! # experiments: the paper's experiments, one folder each
//!
//! Every experiment reads top to bottom like the paper's method section:
//! `<id>/mod.rs` holds its settings and its method (what is trained,
//! measured and stored under `results/<id>/`), `<id>/render.rs` turns the
//! stored results alone into `figures/<id>/*.{png,svg}`,
//! `paper/tables/<id>.md` and a report section. Rendering never
//! recomputes: `ghosts figures` calls only it.
//!
//! An experiment of independent stored runs is a [`study::Study`] (its
//! method only; the runner, store, timing and report come with it); every
//! experiment is an [`Experiment`], the one way in for the CLI. Adding one =
//! a folder, its configs, and its id in `lib.rs` ([`ALL_IDS`], [`registry`]);
//! ARCHITECTURE.md, "Adding an experiment", walks through
//! `phase_transition/`.

#![warn(missing_docs)]

/// `eprintln!` that never panics: progress lines and warnings go to
/// stderr, and a reader of stderr that went away (`ghosts run x 2>&1 | head`)
/// must neither stop a run nor crash it; the line is then dropped.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub mod arch_grid;
pub mod batch_stability;
pub mod bench;
pub mod config;
pub mod context;
pub mod crossover_margin;
pub mod ghost_envelope;
pub mod hessian_stages;
pub mod lr_spike;
pub mod monitor;
pub mod natural_instability;
pub mod overhead;
pub mod paper_numbers;
pub mod phase_transition;
pub mod random_directions;
pub mod runner;
pub mod study;
pub mod temperature_fingerprint;
pub mod theory;
pub mod transformer_radii;

pub use config::ConfigError;
pub use context::Context;
pub use runner::{assign_shards, RunInfo, Shard};

use anyhow::Result;

/// Every experiment id of the project, in report order. Ids not in
/// [`registry`] are planned but not implemented yet.
pub const ALL_IDS: &[&str] = &[
    "theory",
    "phase-transition",
    "random-directions",
    "hessian-stages",
    "crossover-margin",
    "temperature-fingerprint",
    "lr-spike",
    "arch-grid",
    "transformer-radii",
    "natural-instability",
    "ghost-envelope",
    "batch-stability",
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
    /// The runs (`results/<id>/runs/<key>.parquet`) that `run` would
    /// compute or reuse under `ctx`'s config, in job order, each with its
    /// label and expected cost; none for an experiment without a run store
    /// (it cannot be split with `--shard`). `ghosts prune` keeps exactly
    /// these; `ghosts runs` lists them.
    fn runs(&self, ctx: &Context) -> Result<Vec<runner::RunInfo>> {
        let _ = ctx;
        Ok(Vec::new())
    }
    /// Read the settings file at `path` as this experiment's config and
    /// check its values (`ghosts` and the tests use it on every file under
    /// `configs/`).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, line and key.
    fn check_config(&self, path: &std::path::Path) -> Result<()>;
}

/// [`Experiment::check_config`] for settings of type `T`.
pub fn check_config_as<T: serde::de::DeserializeOwned + config::Validate>(
    path: &std::path::Path,
) -> Result<()> {
    let (value, text) = config::read_config::<T>(path)?;
    config::Loaded {
        value,
        source: path.display().to_string(),
        text,
    }
    .validated()?;
    Ok(())
}

/// The implemented experiments, in report order.
pub fn registry() -> Vec<&'static dyn Experiment> {
    vec![
        &theory::Theory,
        &phase_transition::PhaseTransition,
        &random_directions::RandomDirections,
        &hessian_stages::HessianStages,
        &crossover_margin::CrossoverMargin,
        &temperature_fingerprint::TemperatureFingerprint,
        &lr_spike::LrSpike,
        &arch_grid::ArchGrid,
        &transformer_radii::TransformerRadii,
        &natural_instability::NaturalInstability,
        &ghost_envelope::GhostEnvelope,
        &batch_stability::BatchStability,
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

/// Wall time of the last `ghosts run`/`reproduce` of an experiment, stored
/// as `results/<id>/timing.json` and quoted in the report.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Timing {
    /// Seconds from start to end of [`Experiment::run`].
    pub wall_seconds: f64,
    /// Runs computed by this call.
    pub runs_computed: usize,
    /// Runs found in the store and skipped.
    pub runs_stored: usize,
    /// Worker threads (rayon's pool).
    pub threads: usize,
    /// Quick (CI-sized) settings.
    pub quick: bool,
    /// When the run ended, UTC, `YYYY-MM-DD HH:MM` (absent in timings
    /// stored before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_utc: Option<String>,
}

/// `t` as `YYYY-MM-DD HH:MM` in UTC (the civil calendar from the Unix
/// day count, H. Hinnant's algorithm).
pub fn utc_minute(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

impl Timing {
    /// The report's sentence about this timing.
    pub fn note(&self) -> String {
        let runs = |n: usize| if n == 1 { "1 run".to_string() } else { format!("{n} runs") };
        let reuse = if self.runs_stored > 0 {
            format!(
                "; {} {} reused from the store, so this is not the time of a full run",
                runs(self.runs_stored),
                if self.runs_stored == 1 { "was" } else { "were" }
            )
        } else {
            String::new()
        };
        let when = self
            .finished_utc
            .as_ref()
            .map_or(" (its date was not recorded then)".to_string(), |t| format!(" (ended {t} UTC)"));
        if self.runs_computed + self.runs_stored == 0 {
            // An experiment without separate runs (theory, overhead).
            return format!(
                "Wall time of the last run{when}: {:.2} s on {} threads.",
                self.wall_seconds, self.threads
            );
        }
        format!(
            "Wall time of the last run{when}: {:.2} s on {} threads ({} computed{reuse}).",
            self.wall_seconds, self.threads, runs(self.runs_computed)
        )
    }
}

/// Run experiment `e`, timing it, and store the timing as
/// `results/<id>/timing.json` — unless every run was found in the store
/// and none computed: then the stored timing of the last computing call
/// stays (a re-render must not replace a run's wall time with its own).
pub fn run_timed(e: &dyn Experiment, ctx: &Context) -> Result<Timing> {
    ctx.tally.reset();
    let start = std::time::Instant::now();
    e.run(ctx)?;
    let timing = Timing {
        wall_seconds: start.elapsed().as_secs_f64(),
        runs_computed: ctx.tally.computed(),
        runs_stored: ctx.tally.stored(),
        threads: rayon::current_num_threads(),
        quick: ctx.quick,
        finished_utc: Some(utc_minute(std::time::SystemTime::now())),
    };
    let path = ctx.results_dir(e.id()).join("timing.json");
    if ctx.shard.is_some() {
        // One shard's time is not the experiment's: the stored timing stays.
        return Ok(timing);
    }
    let render_only = timing.runs_computed == 0 && timing.runs_stored > 0;
    let keep = render_only && analysis::store::read_json::<Timing>(&path).is_ok();
    if !keep {
        analysis::store::write_json_atomic(path, &timing)?;
    }
    Ok(timing)
}

/// What [`prune`] found in one experiment's run store.
#[derive(Debug)]
pub struct Pruned {
    /// Stored runs that a current config (paper-scale or quick) produces.
    pub kept: usize,
    /// Stored runs that no current config produces (removed when asked).
    pub stale: Vec<std::path::PathBuf>,
}

/// The stored runs of `e` under `root` (`results/<id>/runs/*.parquet`)
/// that neither `configs/<id>.yaml`, `configs/quick/<id>.yaml` (or their
/// built-in copies) nor the stored results' own `results/<id>/config.yaml`
/// produces: runs of older settings, which re-running and re-rendering
/// never read again. With `delete` they are removed.
///
/// # Errors
/// A config that cannot be read or validated (nothing is removed then), or
/// a file that cannot be listed or removed.
pub fn prune(e: &dyn Experiment, root: &std::path::Path, delete: bool) -> Result<Pruned> {
    let mut current = std::collections::BTreeSet::new();
    let mut contexts = vec![Context::new(root, false), Context::new(root, true)];
    // The settings of the stored results (a run with `--config`, e.g. a
    // benchmark config): the report is rendered from those runs.
    let stored = Context::new(root, false)
        .results_dir(e.id())
        .join("config.yaml");
    if stored.exists() {
        contexts.push(Context::new(root, false).with_config(Some(stored)));
    }
    for ctx in &contexts {
        for run in e.runs(ctx)? {
            current.insert(format!("{}.parquet", run.key.as_str()));
        }
    }
    let dir = Context::new(root, false)
        .run_store(e.id())
        .dir()
        .to_path_buf();
    let mut pruned = Pruned {
        kept: 0,
        stale: Vec::new(),
    };
    if !dir.exists() {
        return Ok(pruned);
    }
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)?
        .map(|f| f.map(|f| f.path()))
        .collect::<std::io::Result<_>>()?;
    files.sort();
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.ends_with(".parquet") {
            continue;
        }
        if current.contains(name) {
            pruned.kept += 1;
        } else {
            if delete {
                std::fs::remove_file(&path)?;
            }
            pruned.stale.push(path);
        }
    }
    Ok(pruned)
}

/// Render every implemented experiment that has stored results and rewrite
/// `paper/REPORT.md`. Experiments without results are listed as not run.
pub fn render_all(ctx: &Context) -> Result<std::path::PathBuf> {
    let _session = output_session(ctx)?;
    let mut sections = Vec::new();
    for e in registry() {
        if ctx.results_dir(e.id()).join("summary.json").exists() {
            let mut section = e.render(ctx)?;
            let timing = ctx.results_dir(e.id()).join("timing.json");
            if timing.exists() {
                section
                    .notes
                    .push(analysis::store::read_json::<Timing>(&timing)?.note());
            }
            sections.push(section);
        } else {
            sections.push(analysis::report::Section::not_run(e.id(), e.title()));
        }
    }
    let mut planned: Vec<(&str, &str)> = ALL_IDS
        .iter()
        .copied()
        .filter(|id| !registry().iter().any(|e| e.id() == *id))
        .map(|id| (id, planned_why(id)))
        .collect();
    planned.extend_from_slice(NOT_REPRODUCED);
    analysis::report::write_report(&ctx.root, &sections, &planned)
}

/// Membership of the root's output trees (`figures/`, `paper/`) while
/// rendering: a killed renderer's hidden temporary files are removed when no
/// other process renders into the same root (`analysis::store::open_output_session`).
pub fn output_session(ctx: &Context) -> Result<Vec<analysis::store::OutputSession>> {
    ["figures", "paper"]
        .iter()
        .map(|d| Ok(analysis::store::open_output_session(&ctx.root.join(d))?.0))
        .collect()
}

/// What a planned experiment is, for the report's "Not covered yet" (every
/// id of [`ALL_IDS`] is implemented now; a new planned id says here what it
/// will be).
fn planned_why(id: &str) -> &'static str {
    let _ = id;
    "planned, not implemented yet."
}

/// Claims of the paper's appendices that no experiment checks yet (shown
/// in the report so that a reader does not take a neighbouring check for
/// them).
const NOT_REPRODUCED: &[(&str, &str)] = &[
    (
        "Appendix 1, the linearisation bound R_true >= rho_a (1 - epsilon)",
        "the true loss's radius along v (the nearest complex singularity of the network's loss, not of its linearised logits) against rho_a and rho*: it needs the network evaluated at complex step sizes or high-order Taylor coefficients in tau, which the zoo does not compute yet (spec T8). Not measured yet.",
    ),
    (
        "Appendix 2, activation radii",
        "per-neuron radii from the pre-activation tangents for sigmoid, tanh and ReLU variants of the MLP against rho_a (spec T11): the zoo reports ReLU kinks and GELU pre-activations as probes, but has no sigmoid or tanh layer yet. Not measured yet.",
    ),
];

#[cfg(test)]
mod timing_tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn utc_minutes_follow_the_calendar() {
        assert_eq!(utc_minute(UNIX_EPOCH), "1970-01-01 00:00");
        // 2024-02-29 12:34 UTC (a leap day) and 2026-12-02 05:23 UTC.
        assert_eq!(utc_minute(UNIX_EPOCH + Duration::from_secs(1_709_210_040)), "2024-02-29 12:34");
        assert_eq!(utc_minute(UNIX_EPOCH + Duration::from_secs(1_796_189_000)), "2026-12-02 05:23");
    }

    #[test]
    fn timings_stored_before_the_date_was_recorded_still_read() {
        let old = r#"{"wall_seconds":1.5,"runs_computed":2,"runs_stored":0,"threads":2,"quick":false}"#;
        let t: Timing = serde_json::from_str(old).unwrap();
        assert_eq!(t.finished_utc, None);
        assert!(
            t.note().starts_with("Wall time of the last run (its date was not recorded then): 1.50 s"),
            "{}",
            t.note()
        );
    }
}
