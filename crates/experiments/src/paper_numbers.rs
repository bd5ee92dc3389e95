//! The paper's published numbers, kept as data in `paper/paper-numbers.yaml`
//! (never in code), so every table can print them beside ours.

use anyhow::{Context as _, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One number as the paper states it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperNumber {
    /// The value, when the paper gives one (absent for purely verbal claims).
    pub value: Option<f64>,
    /// How the paper states it, e.g. "> 4000x".
    pub text: String,
    /// Where in the paper (section, figure or table).
    pub source: String,
}

/// All experiments' paper numbers: experiment id → key → number.
#[derive(Debug, Clone, Default)]
pub struct PaperNumbers(pub BTreeMap<String, BTreeMap<String, PaperNumber>>);

impl PaperNumbers {
    /// Read and validate the YAML file; errors name the file, line and key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the paper's numbers", path.display()))?;
        let map = serde_yaml::from_str(&text).with_context(|| {
            format!(
                "{}: expected `<experiment id>: {{<key>: {{value, text, source}}}}`",
                path.display()
            )
        })?;
        Ok(PaperNumbers(map))
    }

    /// The numbers of the project: `<root>/paper/paper-numbers.yaml` when the
    /// root has one, else the copy compiled in from this repository's file
    /// (so a scratch output root still gets the paper's numbers).
    pub fn load_for_root(root: &Path) -> Result<Self> {
        let path = root.join("paper").join("paper-numbers.yaml");
        if path.exists() {
            return Self::load(&path);
        }
        let map = serde_yaml::from_str(include_str!("../../../paper/paper-numbers.yaml"))
            .context("built-in paper-numbers.yaml")?;
        Ok(PaperNumbers(map))
    }

    /// The number `key` of experiment `id`, or an error naming both.
    pub fn get(&self, id: &str, key: &str) -> Result<&PaperNumber> {
        self.0
            .get(id)
            .and_then(|m| m.get(key))
            .with_context(|| format!("paper-numbers.yaml has no entry {id}.{key}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../paper/paper-numbers.yaml");
        let n = PaperNumbers::load(&path).unwrap();
        assert!(n
            .get("theory", "hessian_step_over_radius_at_margin_10")
            .is_ok());
    }

    #[test]
    fn unknown_keys_are_refused_with_location() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.yaml");
        std::fs::write(
            &p,
            "theory:\n  x:\n    value: 1\n    text: one\n    source: s\n    colour: red\n",
        )
        .unwrap();
        let err = format!("{:#}", PaperNumbers::load(&p).unwrap_err());
        assert!(
            err.contains("n.yaml") && err.contains("colour") && err.contains("line 6"),
            "{err}"
        );
    }
}
