//! Experiment configs: typed YAML files under `configs/`.
//!
//! `configs/<id>.yaml` holds the paper-scale settings of experiment `<id>`,
//! `configs/quick/<id>.yaml` the CI-sized ones; `--config FILE` replaces
//! both. Every config struct is `#[serde(deny_unknown_fields)]`, so a typo is
//! an error, and every error names the file, the line and column (1-based),
//! the key and what was expected, e.g.
//!
//! ```text
//! configs/theory.yaml: line 4, column 3: unknown field `kl_casess`, expected one of `pole`, `taylor_orders`, ...
//! ```
//!
//! The repository's own configs are also compiled in ([`built_in`]), so a
//! scratch `--root` without a `configs/` directory still runs.

use serde::de::DeserializeOwned;
use std::fmt;
use std::path::Path;

/// A config that cannot be read or does not match its struct: a user input
/// error (the CLI exits with code 2).
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The file as the user named it (or `built-in configs/...`).
    pub file: String,
    /// 1-based (line, column) of the offending key or value, when known.
    pub location: Option<(usize, usize)>,
    /// What is wrong, e.g. "unknown field `x`, expected one of ...".
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, column)) => write!(
                f,
                "{}: line {line}, column {column}: {}",
                self.file, self.message
            ),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Read and parse the YAML config at `path` into `T`. Errors are
/// [`ConfigError`]s naming the file, line, column and key.
pub fn load_config<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    Ok(read_config(path)?.0)
}

/// [`load_config`] that also returns the text it parsed.
pub fn read_config<T: DeserializeOwned>(path: &Path) -> Result<(T, String), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        location: None,
        message: format!("cannot read the config file: {e}"),
    })?;
    Ok((parse_config(&text, &file)?, text))
}

/// Parse YAML `text` into `T`; `file` names the source in error messages.
pub fn parse_config<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, ConfigError> {
    serde_yaml::from_str(text).map_err(|e| yaml_error(&e, file))
}

/// serde_yaml appends " at line L column C" to its messages; the location is
/// moved to the front (after the file name) instead.
fn yaml_error(e: &serde_yaml::Error, file: &str) -> ConfigError {
    let full = e.to_string();
    let location = e.location().map(|l| (l.line(), l.column()));
    let message = match location {
        Some((line, column)) => full
            .strip_suffix(&format!(" at line {line} column {column}"))
            .map(str::to_string)
            .unwrap_or(full),
        None => full,
    };
    ConfigError {
        file: file.to_string(),
        location,
        message,
    }
}

/// The repository's configs, compiled in: (path under `configs/`, text).
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "bench/temperature-fingerprint.yaml",
        include_str!("../../../configs/bench/temperature-fingerprint.yaml"),
    ),
    (
        "bench/random-directions.yaml",
        include_str!("../../../configs/bench/random-directions.yaml"),
    ),
    (
        "temperature-fingerprint.yaml",
        include_str!("../../../configs/temperature-fingerprint.yaml"),
    ),
    (
        "quick/temperature-fingerprint.yaml",
        include_str!("../../../configs/quick/temperature-fingerprint.yaml"),
    ),
    (
        "transformer-radii.yaml",
        include_str!("../../../configs/transformer-radii.yaml"),
    ),
    (
        "quick/transformer-radii.yaml",
        include_str!("../../../configs/quick/transformer-radii.yaml"),
    ),
    (
        "bench/transformer-radii.yaml",
        include_str!("../../../configs/bench/transformer-radii.yaml"),
    ),
    (
        "bench/one-seed/transformer-radii.yaml",
        include_str!("../../../configs/bench/one-seed/transformer-radii.yaml"),
    ),
    (
        "arch-grid.yaml",
        include_str!("../../../configs/arch-grid.yaml"),
    ),
    (
        "quick/arch-grid.yaml",
        include_str!("../../../configs/quick/arch-grid.yaml"),
    ),
    (
        "bench/four-levels/arch-grid.yaml",
        include_str!("../../../configs/bench/four-levels/arch-grid.yaml"),
    ),
    (
        "bench/arch-grid.yaml",
        include_str!("../../../configs/bench/arch-grid.yaml"),
    ),
    (
        "lr-spike.yaml",
        include_str!("../../../configs/lr-spike.yaml"),
    ),
    (
        "quick/lr-spike.yaml",
        include_str!("../../../configs/quick/lr-spike.yaml"),
    ),
    ("theory.yaml", include_str!("../../../configs/theory.yaml")),
    (
        "quick/theory.yaml",
        include_str!("../../../configs/quick/theory.yaml"),
    ),
    (
        "overhead.yaml",
        include_str!("../../../configs/overhead.yaml"),
    ),
    (
        "quick/overhead.yaml",
        include_str!("../../../configs/quick/overhead.yaml"),
    ),
    (
        "phase-transition.yaml",
        include_str!("../../../configs/phase-transition.yaml"),
    ),
    (
        "quick/phase-transition.yaml",
        include_str!("../../../configs/quick/phase-transition.yaml"),
    ),
    (
        "natural-instability.yaml",
        include_str!("../../../configs/natural-instability.yaml"),
    ),
    (
        "quick/natural-instability.yaml",
        include_str!("../../../configs/quick/natural-instability.yaml"),
    ),
    (
        "cifar10/natural-instability.yaml",
        include_str!("../../../configs/cifar10/natural-instability.yaml"),
    ),
    (
        "cifar10/paper/natural-instability.yaml",
        include_str!("../../../configs/cifar10/paper/natural-instability.yaml"),
    ),
    (
        "ghost-envelope.yaml",
        include_str!("../../../configs/ghost-envelope.yaml"),
    ),
    (
        "quick/ghost-envelope.yaml",
        include_str!("../../../configs/quick/ghost-envelope.yaml"),
    ),
    (
        "batch-stability.yaml",
        include_str!("../../../configs/batch-stability.yaml"),
    ),
    (
        "quick/batch-stability.yaml",
        include_str!("../../../configs/quick/batch-stability.yaml"),
    ),
    (
        "crossover-margin.yaml",
        include_str!("../../../configs/crossover-margin.yaml"),
    ),
    (
        "quick/crossover-margin.yaml",
        include_str!("../../../configs/quick/crossover-margin.yaml"),
    ),
    (
        "hessian-stages.yaml",
        include_str!("../../../configs/hessian-stages.yaml"),
    ),
    (
        "quick/hessian-stages.yaml",
        include_str!("../../../configs/quick/hessian-stages.yaml"),
    ),
    (
        "random-directions.yaml",
        include_str!("../../../configs/random-directions.yaml"),
    ),
    (
        "quick/random-directions.yaml",
        include_str!("../../../configs/quick/random-directions.yaml"),
    ),
];

/// `<id>.yaml` or `quick/<id>.yaml`: where experiment `id`'s config lives
/// under `configs/`.
pub fn relative_path(id: &str, quick: bool) -> String {
    if quick {
        format!("quick/{id}.yaml")
    } else {
        format!("{id}.yaml")
    }
}

/// The compiled-in text of `configs/<rel>`, if the repository has that file.
pub fn built_in_text(rel: &str) -> Option<&'static str> {
    BUILT_IN.iter().find(|(p, _)| *p == rel).map(|(_, t)| *t)
}

/// The repository's config of experiment `id` (quick or paper scale), from
/// the compiled-in copy.
pub fn built_in<T: DeserializeOwned>(id: &str, quick: bool) -> anyhow::Result<T> {
    let rel = relative_path(id, quick);
    let text = built_in_text(&rel).ok_or_else(|| ConfigError {
        file: format!("configs/{rel}"),
        location: None,
        message: "no such config in this repository".into(),
    })?;
    Ok(parse_config(text, &format!("built-in configs/{rel}"))?)
}

/// A config as one run used it: the typed value, where it came from, and
/// the text it was parsed from (stored as `results/<id>/config.yaml`).
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The settings.
    pub value: T,
    /// Where they came from: a path, or `configs/... (built-in copy)`.
    pub source: String,
    /// The YAML text as read.
    pub text: String,
}

impl<T> Loaded<T> {
    /// An error about `key`'s value (a check serde cannot express), located
    /// at the line where the file sets `key`.
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let location = self.text.lines().enumerate().find_map(|(i, line)| {
            let rest = line.trim_start();
            let column = line.len() - rest.len() + 1;
            let after = rest.strip_prefix(key)?;
            after
                .trim_start()
                .starts_with(':')
                .then_some((i + 1, column))
        });
        ConfigError {
            file: self.source.clone(),
            location,
            message: format!("{key}: {}", message.into()),
        }
    }
}

/// Value checks of a config struct beyond its types: `Err((key, what is
/// wrong))`. [`crate::Context::load_config`] runs them and reports a failure
/// as a [`ConfigError`] at the key's line.
pub trait Validate {
    /// Check the values.
    fn validate(&self) -> Result<(), (&'static str, String)>;
}

impl<T: Validate> Loaded<T> {
    /// The config, if its values pass [`Validate::validate`].
    pub fn validated(self) -> Result<Self, ConfigError> {
        match self.value.validate() {
            Ok(()) => Ok(self),
            Err((key, why)) => Err(self.invalid(key, why)),
        }
    }
}

/// The value checks every config shares, one function each, so a
/// [`Validate`] impl reads as a list of what must hold:
///
/// ```
/// use experiments::config::check::{self, Check};
/// fn validate(seeds: &[u64], test_ratio: f64) -> Check {
///     check::non_empty("seeds", seeds)?;
///     check::fraction("test_ratio", test_ratio)
/// }
/// assert!(validate(&[1], 0.3).is_ok());
/// assert_eq!(validate(&[], 0.3).unwrap_err().0, "seeds");
/// ```
pub mod check {
    use zoo::Backend;

    /// A check's outcome: `Err((key, what is wrong))`, reported by
    /// [`crate::Context::load_config`] at the line that sets `key`.
    pub type Check = Result<(), (&'static str, String)>;

    /// `ok`, else `why` about `key`.
    pub fn that(ok: bool, key: &'static str, why: impl Into<String>) -> Check {
        if ok {
            Ok(())
        } else {
            Err((key, why.into()))
        }
    }

    /// A finite number above zero.
    pub fn positive(key: &'static str, x: f64) -> Check {
        that(
            x.is_finite() && x > 0.0,
            key,
            format!("expected a positive number, got {x}"),
        )
    }

    /// A fraction strictly between 0 and 1.
    pub fn fraction(key: &'static str, x: f64) -> Check {
        that(
            x > 0.0 && x < 1.0,
            key,
            format!("expected a fraction in (0, 1), got {x}"),
        )
    }

    /// A count of at least `min`.
    pub fn at_least(key: &'static str, n: usize, min: usize) -> Check {
        that(n >= min, key, format!("expected at least {min}, got {n}"))
    }

    /// A list with at least one entry.
    pub fn non_empty<T>(key: &'static str, v: &[T]) -> Check {
        that(!v.is_empty(), key, "expected at least one entry")
    }

    /// No entry twice (a repeated seed or architecture would make two jobs
    /// with one run key and count its run twice in the summary).
    pub fn distinct<T: PartialEq + std::fmt::Debug>(key: &'static str, v: &[T]) -> Check {
        match v.iter().enumerate().find(|(i, x)| v[..*i].contains(x)) {
            Some((_, x)) => Err((key, format!("{x:?} is listed twice"))),
            None => Ok(()),
        }
    }

    /// Finite positive numbers, none repeated.
    pub fn distinct_positive(key: &'static str, v: &[f64]) -> Check {
        if let Some(x) = v.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
            return Err((key, format!("expected positive numbers, got {x}")));
        }
        let mut sorted = v.to_vec();
        sorted.sort_by(f64::total_cmp);
        that(
            sorted.windows(2).all(|w| w[0] != w[1]),
            key,
            "expected distinct values",
        )
    }

    /// A name in the model zoo's registry.
    pub fn arch(key: &'static str, name: &str) -> Check {
        zoo::arch::find(name)
            .map(|_| ())
            .map_err(|e| (key, format!("{e}; see `ghosts zoo list`")))
    }

    /// Architecture `name` (already checked) builds on `backend`; the error
    /// is about the backend key.
    pub fn backend(key: &'static str, name: &str, backend: Backend) -> Check {
        zoo::arch::find(name)
            .and_then(|a| a.build_on::<f32>(&zoo::ArchConfig::default(), backend))
            .map(|_| ())
            .map_err(|e| (key, format!("{e:#}; use `backend: dfdx`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overhead::OverheadConfig;
    use crate::theory::TheoryConfig;
    use std::path::PathBuf;

    fn configs_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn quick_theory_text() -> String {
        std::fs::read_to_string(configs_dir().join("quick/theory.yaml")).unwrap()
    }

    #[test]
    fn unknown_key_names_file_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = "pole: 2.0\ntaylor_orders: [1, 5, 15]\nseed: 42\nkl_casess: 3\n";
        let p = write(dir.path(), "typo.yaml", text);
        let err = load_config::<TheoryConfig>(&p).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.starts_with(&p.display().to_string()), "{msg}");
        assert!(msg.contains("typo.yaml: line 4, column 1: "), "{msg}");
        assert!(msg.contains("unknown field `kl_casess`"), "{msg}");
        assert!(
            msg.contains("expected one of `pole`, `taylor_orders`"),
            "{msg}"
        );
        // Not repeated at the end in serde_yaml's own format.
        assert!(!msg.contains(" at line "), "{msg}");
        let e = err.downcast_ref::<ConfigError>().expect("a ConfigError");
        assert_eq!(e.location, Some((4, 1)));

        // In the middle of a real file, the line is the typo's.
        let text = quick_theory_text().replace("kl_cases:", "kl_casess:");
        let line = text
            .lines()
            .position(|l| l.starts_with("kl_casess"))
            .unwrap()
            + 1;
        let p = write(dir.path(), "theory.yaml", &text);
        let msg = format!("{:#}", load_config::<TheoryConfig>(&p).unwrap_err());
        assert!(
            msg.contains(&format!(
                "theory.yaml: line {line}, column 1: unknown field `kl_casess`"
            )),
            "{msg}"
        );
    }

    #[test]
    fn wrong_type_names_field_and_expected_type() {
        let dir = tempfile::tempdir().unwrap();
        let text = quick_theory_text().replace("kl_cases: 2000", "kl_cases: many");
        let p = write(dir.path(), "t.yaml", &text);
        let msg = format!("{:#}", load_config::<TheoryConfig>(&p).unwrap_err());
        assert!(msg.contains("t.yaml: line "), "{msg}");
        assert!(msg.contains("kl_cases"), "{msg}");
        assert!(msg.contains("expected usize"), "{msg}");

        let text = quick_theory_text().replace("pole: 2.0", "pole: [2.0]");
        let p = write(dir.path(), "t.yaml", &text);
        let msg = format!("{:#}", load_config::<TheoryConfig>(&p).unwrap_err());
        assert!(
            msg.contains("pole") && msg.contains("expected f64"),
            "{msg}"
        );

        let text =
            quick_theory_text().replace("taylor_orders: [1, 5, 15]", "taylor_orders: [1, -5]");
        let p = write(dir.path(), "t.yaml", &text);
        let msg = format!("{:#}", load_config::<TheoryConfig>(&p).unwrap_err());
        assert!(msg.contains("taylor_orders[1]"), "{msg}");
    }

    #[test]
    fn missing_key_and_broken_yaml_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = quick_theory_text()
            .lines()
            .filter(|l| !l.starts_with("seed:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let p = write(dir.path(), "t.yaml", &text);
        let msg = format!("{:#}", load_config::<TheoryConfig>(&p).unwrap_err());
        assert!(
            msg.contains("t.yaml: ") && msg.contains("missing field `seed`"),
            "{msg}"
        );

        let p = write(dir.path(), "t.yaml", "pole: 2.0\n  taylor_orders: [1\n");
        let msg = format!("{:#}", load_config::<TheoryConfig>(&p).unwrap_err());
        assert!(msg.contains("t.yaml: line "), "{msg}");

        let p = write(dir.path(), "void.yaml", "");
        let msg = format!("{:#}", load_config::<TheoryConfig>(&p).unwrap_err());
        assert!(msg.starts_with(&p.display().to_string()), "{msg}");
        assert!(msg.contains("missing field `pole`"), "{msg}");

        // An error serde_yaml gives no location still names the file.
        let two = format!("{}---\n{}", quick_theory_text(), quick_theory_text());
        let p = write(dir.path(), "two.yaml", &two);
        let err = load_config::<TheoryConfig>(&p).unwrap_err();
        let e = err.downcast_ref::<ConfigError>().unwrap();
        assert_eq!(e.location, None);
        let msg = format!("{err:#}");
        assert!(msg.starts_with(&format!("{}: ", p.display())), "{msg}");
        assert!(msg.contains("more than one document"), "{msg}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nowhere").join("theory.yaml");
        let err = load_config::<TheoryConfig>(&p).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&p.display().to_string()), "{msg}");
        assert!(msg.contains("cannot read"), "{msg}");
        assert!(err.downcast_ref::<ConfigError>().is_some());
    }

    /// Every YAML file under `configs/` parses into its experiment's struct,
    /// and is compiled in (so a scratch root runs with the same settings).
    #[test]
    fn every_config_file_parses_and_is_built_in() {
        let root = configs_dir();
        let mut files = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    files.push(p);
                }
            }
        }
        files.sort();
        assert!(files.len() >= 4, "{files:?}");
        for p in &files {
            let stem = p.file_stem().unwrap().to_str().unwrap();
            // The experiment is found by the file's name: a new experiment's
            // configs are checked with no change here.
            let e = crate::registry()
                .into_iter()
                .find(|e| e.id() == stem)
                .unwrap_or_else(|| {
                    panic!("{}: no experiment {stem:?} in the registry", p.display())
                });
            if let Err(err) = e.check_config(p) {
                panic!("{err:#}");
            }

            let rel = p.strip_prefix(&root).unwrap().to_str().unwrap();
            assert_eq!(
                built_in_text(rel),
                Some(std::fs::read_to_string(p).unwrap().as_str()),
                "configs/{rel} is not in config::BUILT_IN"
            );
        }
        assert_eq!(files.len(), BUILT_IN.len());
    }

    /// Experiments still on hard-coded settings (to be moved to `configs/`).
    const NOT_YET_CONFIGURED: &[&str] = &[];

    #[test]
    fn every_implemented_experiment_has_both_configs() {
        for e in crate::registry() {
            if NOT_YET_CONFIGURED.contains(&e.id()) {
                continue;
            }
            for quick in [false, true] {
                let rel = relative_path(e.id(), quick);
                assert!(built_in_text(&rel).is_some(), "configs/{rel} missing");
            }
        }
    }

    #[test]
    fn context_resolves_root_file_then_built_in_and_override() {
        let root = tempfile::tempdir().unwrap();
        // A scratch root has no configs/: the built-in copy is used.
        let ctx = crate::Context::new(root.path(), true);
        assert_eq!(
            ctx.config_path("theory"),
            root.path().join("configs/quick/theory.yaml")
        );
        let c = ctx.load_config::<TheoryConfig>("theory").unwrap();
        assert_eq!(c.value.kl_cases, 2_000);
        assert_eq!(c.source, "configs/quick/theory.yaml (built-in copy)");
        ctx.save_config("theory", &c).unwrap();
        let stored =
            std::fs::read_to_string(root.path().join("results/theory/config.yaml")).unwrap();
        assert!(stored.ends_with(&quick_theory_text()));
        let again: TheoryConfig =
            load_config(&root.path().join("results/theory/config.yaml")).unwrap();
        assert_eq!(again.kl_cases, 2_000);
        assert_eq!(
            ctx.config_note("theory").unwrap(),
            "Computed by `ghosts run theory --quick` (the CI-sized settings, stored in `results/theory/config.yaml`)."
        );

        // A file under the root wins over the built-in copy.
        std::fs::create_dir_all(root.path().join("configs")).unwrap();
        let paper = std::fs::read_to_string(configs_dir().join("theory.yaml")).unwrap();
        write(
            &root.path().join("configs"),
            "theory.yaml",
            &paper.replace("kl_cases: 20000", "kl_cases: 7"),
        );
        let ctx = crate::Context::new(root.path(), false);
        let c = ctx.load_config::<TheoryConfig>("theory").unwrap();
        assert_eq!(
            (c.value.kl_cases, c.source.as_str()),
            (7, "configs/theory.yaml")
        );

        // --config wins over both, and a missing --config file is an error.
        let custom = write(
            root.path(),
            "custom.yaml",
            &quick_theory_text().replace("seed: 42", "seed: 5"),
        );
        let c = ctx
            .clone()
            .with_config(Some(custom.clone()))
            .load_config::<TheoryConfig>("theory")
            .unwrap();
        assert_eq!(c.value.seed, 5);
        let err = ctx
            .clone()
            .with_config(Some(root.path().join("gone.yaml")))
            .load_config::<TheoryConfig>("theory")
            .unwrap_err();
        assert!(err.downcast_ref::<ConfigError>().is_some());
        assert!(format!("{err:#}").contains("gone.yaml"), "{err:#}");
    }

    #[test]
    fn bad_values_are_located_at_their_key() {
        let root = tempfile::tempdir().unwrap();
        let text = quick_theory_text().replace(
            "example_slopes: [1.0, 0.5, -3.0]",
            "example_slopes: [1.0, 0.5]",
        );
        let line = text
            .lines()
            .position(|l| l.starts_with("example_slopes:"))
            .unwrap()
            + 1;
        let p = write(root.path(), "bad.yaml", &text);
        let err = crate::Context::new(root.path(), true)
            .with_config(Some(p))
            .load_config::<TheoryConfig>("theory")
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&format!(
                "bad.yaml: line {line}, column 1: example_slopes: expected one slope per entry"
            )),
            "{msg}"
        );
        assert!(err.downcast_ref::<ConfigError>().is_some());
    }

    #[test]
    fn quick_and_paper_scale_differ_only_in_size() {
        let q: TheoryConfig = built_in("theory", true).unwrap();
        let f: TheoryConfig = built_in("theory", false).unwrap();
        assert_eq!((q.kl_cases, q.calibration_cases), (2_000, 200));
        assert_eq!((f.kl_cases, f.calibration_cases), (20_000, 2_000));
        assert_eq!((q.seed, q.pole), (f.seed, f.pole));
        let q: OverheadConfig = built_in("overhead", true).unwrap();
        let f: OverheadConfig = built_in("overhead", false).unwrap();
        assert_eq!((q.warmup, q.steps, f.warmup, f.steps), (2, 5, 10, 60));
        assert_eq!((q.batch, q.fd_eps), (128, 1e-4));
    }
}
