//! The paper's published numbers, kept as data in `paper/paper-numbers.yaml`
//! (never in code), so every table can print them beside ours.

use anyhow::{Context as _, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One reference number: what the paper states, or what the author's code
/// or stored run gives where the paper prints no number.
///
/// Its text is only available together with where it comes from
/// ([`PaperNumber::cell`]): a table cannot print an author's run as "paper".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperNumber {
    /// The value, when there is one (absent for purely verbal claims).
    pub value: Option<f64>,
    /// For a read-off stated as a range ("~15-25%", "1e-2 to 1e-1"): its
    /// ends `[lo, hi]`. Ours then agrees when it lies within the tolerance
    /// of the range, not of `value` (its middle).
    #[serde(default)]
    pub range: Option<[f64; 2]>,
    /// How the source states it, e.g. "> 4000x".
    text: String,
    /// Where exactly (section, figure, table, file of the author's run).
    pub source: String,
    /// What kind of source that is.
    pub kind: SourceKind,
}

/// Where a reference number comes from (`kind:` in paper-numbers.yaml:
/// `paper-text`, `paper-table-1` .. `paper-table-9`, `paper-figure`,
/// `author-run`, `author-code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum SourceKind {
    /// Stated in the paper's text or a theorem.
    PaperText,
    /// Printed in the paper's Table n.
    PaperTable(u8),
    /// Read off, or printed in, one of the paper's figures.
    PaperFigure,
    /// From the author's stored run (results files in the author's repository).
    AuthorRun,
    /// Printed by the author's code (its output on the author's run; the
    /// paper does not state it).
    AuthorCode,
}

impl TryFrom<String> for SourceKind {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        let table = s
            .strip_prefix("paper-table-")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=9).contains(n));
        match (s.as_str(), table) {
            (_, Some(n)) => Ok(SourceKind::PaperTable(n)),
            ("paper-text", _) => Ok(SourceKind::PaperText),
            ("paper-figure", _) => Ok(SourceKind::PaperFigure),
            ("author-run", _) => Ok(SourceKind::AuthorRun),
            ("author-code", _) => Ok(SourceKind::AuthorCode),
            _ => Err(format!(
                "unknown kind `{s}`: expected paper-text, paper-table-<n> (n = 1..9), paper-figure, author-run or author-code"
            )),
        }
    }
}

impl SourceKind {
    /// The label a table prints beside the number: "paper text", "paper
    /// Table 1", "paper figure", "author's stored run", "author's code
    /// output".
    pub fn label(self) -> String {
        match self {
            SourceKind::PaperText => "paper text".into(),
            SourceKind::PaperTable(n) => format!("paper Table {n}"),
            SourceKind::PaperFigure => "paper figure".into(),
            SourceKind::AuthorRun => "author's stored run".into(),
            SourceKind::AuthorCode => "author's code output".into(),
        }
    }
}

impl SourceKind {
    /// The kind of source a key's prefix promises: `stored_` the author's
    /// stored run, `code_` the author's code, `text_` the paper's text,
    /// `table1_` .. `table9_` the paper's Table n, `figure_` and `fig1_` a
    /// figure of the paper. Tables head such columns with that kind, so a
    /// test holds every entry of paper-numbers.yaml to its prefix.
    pub fn implied_by(key: &str) -> Option<SourceKind> {
        let prefix = key.split('_').next().unwrap_or("");
        if let Some(n) = prefix.strip_prefix("table").and_then(|n| n.parse::<u8>().ok()) {
            return (1..=9).contains(&n).then_some(SourceKind::PaperTable(n));
        }
        match prefix {
            "stored" => Some(SourceKind::AuthorRun),
            "code" => Some(SourceKind::AuthorCode),
            "text" => Some(SourceKind::PaperText),
            "figure" | "fig1" => Some(SourceKind::PaperFigure),
            _ => None,
        }
    }
}

impl PaperNumber {
    /// The number as its source states it, with the kind of source:
    /// "1.869 (author's stored run)".
    pub fn cell(&self) -> String {
        format!("{} ({})", self.text, self.kind.label())
    }

    /// Half a unit of the last digit of the first number in the text as
    /// printed ("0.033" -> 0.0005, "5.0x" -> 0.05, "6x" -> 0.5): how far
    /// the printed value may be from the one it rounds.
    pub fn half_unit(&self) -> f64 {
        let start = self.text.find(|c: char| c.is_ascii_digit());
        let digits: String = start
            .map(|i| {
                self.text[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
                    .collect()
            })
            .unwrap_or_default();
        let decimals = digits
            .trim_end_matches('.')
            .split('.')
            .nth(1)
            .map_or(0, str::len);
        0.5 * 10f64.powi(-(decimals as i32))
    }

    /// The bare text, for a row or column that already names the source
    /// kind (check it with [`PaperNumber::kind`]).
    pub fn text_of_kind(&self, kind: SourceKind) -> Option<&str> {
        (self.kind == kind).then_some(self.text.as_str())
    }
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

    /// `id.key` as a table cell: its text with the kind of its source
    /// ("1.869 (author's stored run)"), "-" when there is no such entry.
    pub fn cell(&self, id: &str, key: &str) -> String {
        self.get(id, key)
            .map_or_else(|_| "-".into(), PaperNumber::cell)
    }

    /// `id.key` as every reference number is printed, in a table cell, a
    /// row or a sentence: its text with the kind of its source, even where
    /// the column's label names it (a reader of one cell sees the source);
    /// "-" when there is no such entry. The same as [`PaperNumbers::cell`].
    pub fn labelled(&self, id: &str, key: &str) -> String {
        self.cell(id, key)
    }

    /// The number `key` of experiment `id`, or an error naming both.
    pub fn get(&self, id: &str, key: &str) -> Result<&PaperNumber> {
        self.0
            .get(id)
            .and_then(|m| m.get(key))
            .with_context(|| format!("paper-numbers.yaml has no entry {id}.{key}"))
    }
}

/// How far ours may be from a reference number and still agree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// Absolute, for fractions (accuracies): |ours − ref| ≤ this, printed in
    /// percentage points.
    Points(f64),
    /// Relative, for positive quantities (ratios, radii, losses):
    /// max(ours/ref, ref/ours) ≤ this.
    Factor(f64),
    /// For the first grid point past a threshold when the reference comes
    /// from a coarser grid: the true crossing lies in (ref − width, ref],
    /// ours in (ours/slack, ours]; they agree if the two intervals meet.
    Bin {
        /// The reference grid's step below its point.
        width: f64,
        /// Ratio of consecutive points of our grid there.
        slack: f64,
    },
}

impl Tolerance {
    fn agrees(self, ours: f64, reference: f64) -> bool {
        match self {
            Tolerance::Points(p) => (ours - reference).abs() <= p,
            Tolerance::Factor(f) => {
                ours > 0.0 && reference > 0.0 && ours / reference <= f && reference / ours <= f
            }
            Tolerance::Bin { width, slack } => {
                ours > reference - width && ours / slack <= reference
            }
        }
    }

    /// Agreement with a reference stated as the range `[lo, hi]`: ours
    /// within the tolerance of its nearer end (inside counts as agreeing).
    fn agrees_with_range(self, ours: f64, [lo, hi]: [f64; 2]) -> bool {
        match self {
            Tolerance::Points(p) => ours >= lo - p && ours <= hi + p,
            Tolerance::Factor(f) => ours > 0.0 && lo > 0.0 && ours >= lo / f && ours <= hi * f,
            Tolerance::Bin { .. } => self.agrees(ours, hi) || (ours >= lo && ours <= hi),
        }
    }

    fn describe(self) -> String {
        match self {
            Tolerance::Points(p) => format!("tolerance {} points", 100.0 * p),
            Tolerance::Factor(f) => format!("tolerance a factor of {f}"),
            Tolerance::Bin { width, .. } => {
                format!("tolerance: the reference grid's step, {width:.3} below it")
            }
        }
    }
}

/// A verdict's comparisons of our numbers with reference numbers, each
/// with its tolerance; it prints how many agree and names those that do not.
///
/// A property that holds by construction of our method (a controller steps
/// at its target r, a cap bounds r) is a check ([`Comparisons::add_check`]):
/// printed apart, never counted among the claims that hold or the numbers
/// that agree (reproducing it proves nothing).
#[derive(Debug, Default)]
pub struct Comparisons {
    /// (agrees, "what ours vs reference (kind), tolerance").
    rows: Vec<(bool, String)>,
    /// Partial disagreements that do not decide a row (e.g. ours matches
    /// the paper's figure but not its text, which disagree with each other).
    notes: Vec<String>,
    /// (holds, "what"): properties true by construction, checked only.
    checks: Vec<(bool, String)>,
}

impl Comparisons {
    /// No comparisons yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compare `ours` with `id.key` (when it exists and has a value) within
    /// `tol`; `what` names the quantity ("plain 1e-3 final accuracy") and
    /// `fmt` prints ours. Returns whether it agrees (None: nothing compared).
    pub fn add(
        &mut self,
        paper: &PaperNumbers,
        (id, key): (&str, &str),
        what: &str,
        ours: f64,
        fmt: impl Fn(f64) -> String,
        tol: Tolerance,
    ) -> Option<bool> {
        let n = paper.get(id, key).ok()?;
        let reference = n.value?;
        let agrees = match n.range {
            Some(range) => tol.agrees_with_range(ours, range),
            None => tol.agrees(ours, reference),
        };
        self.rows.push((
            agrees,
            format!("{what} {} vs {} ({})", fmt(ours), n.cell(), tol.describe()),
        ));
        Some(agrees)
    }

    /// A verbal claim of the paper checked against our result (`what`
    /// says what was checked and what we found).
    pub fn add_claim(&mut self, holds: bool, what: String) {
        self.rows.push((holds, what));
    }

    /// A partial disagreement named in [`Comparisons::summary`] without
    /// deciding agreement.
    pub fn add_note(&mut self, what: String) {
        self.notes.push(what);
    }

    /// A property that holds by construction of our method (`what` says
    /// what and the measured value): checked and printed as a check,
    /// neither a claim that holds nor a number that agrees. A failing
    /// check is a defect of ours, named as such, and makes
    /// [`Comparisons::all_agree`] false.
    pub fn add_check(&mut self, holds: bool, what: String) {
        self.checks.push((holds, what));
    }

    /// Number of comparisons that agree.
    pub fn agreeing(&self) -> usize {
        self.rows.iter().filter(|(a, _)| *a).count()
    }

    /// True if every comparison agrees and every check holds (also when
    /// there are none).
    pub fn all_agree(&self) -> bool {
        self.rows.iter().all(|(a, _)| *a) && self.checks_hold()
    }

    /// True if every check ([`Comparisons::add_check`]) holds.
    pub fn checks_hold(&self) -> bool {
        self.checks.iter().all(|(h, _)| *h)
    }

    /// "; checks (true by construction, not counted): a (holds); b (FAILS:
    /// a defect of ours)", or "" without checks.
    fn checks_text(&self) -> String {
        if self.checks.is_empty() {
            return String::new();
        }
        let each: Vec<String> = self
            .checks
            .iter()
            .map(|(h, t)| format!("{t} ({})", if *h { "holds" } else { "FAILS: a defect of ours" }))
            .collect();
        format!("; checks (true by construction, not counted): {}", each.join("; "))
    }

    /// Number of comparisons made (checks not counted).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True if nothing was compared.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// "k of n reference numbers agree; differ: a (ours vs reference,
    /// tolerance); b (...)".
    pub fn summary(&self) -> String {
        let agree = self.rows.iter().filter(|(a, _)| *a).count();
        let differ: Vec<&str> = self
            .rows
            .iter()
            .filter(|(a, _)| !*a)
            .map(|(_, t)| t.as_str())
            .collect();
        let mut out = format!("{agree} of {} reference numbers agree", self.rows.len());
        if !differ.is_empty() {
            out.push_str(&format!("; differ: {}", differ.join("; ")));
        }
        if !self.notes.is_empty() {
            out.push_str(&format!("; partly: {}", self.notes.join("; ")));
        }
        out.push_str(&self.checks_text());
        out
    }

    /// For rows that are the paper's claims checked on our runs (each
    /// text: the claim, then "(ours: ...)"): "k of n claims hold: a; b; do
    /// not hold in our runs: c". Every claim is named, those that hold too.
    /// Unlike [`Comparisons::summary`] it never says "differ", which would
    /// read as if our run did what the claim says.
    pub fn claims_summary(&self) -> String {
        let named = |holds: bool| -> Vec<&str> {
            self.rows
                .iter()
                .filter(|(a, _)| *a == holds)
                .map(|(_, t)| t.as_str())
                .collect()
        };
        let (hold, fail) = (named(true), named(false));
        let mut out = format!("{} of {} claims hold", hold.len(), self.rows.len());
        if !hold.is_empty() {
            out.push_str(&format!(": {}", hold.join("; ")));
        }
        if !fail.is_empty() {
            out.push_str(&format!("; do not hold in our runs: {}", fail.join("; ")));
        }
        if !self.notes.is_empty() {
            out.push_str(&format!("; partly: {}", self.notes.join("; ")));
        }
        out.push_str(&self.checks_text());
        out
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
    fn every_entry_is_of_the_kind_its_key_prefix_promises() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../paper/paper-numbers.yaml");
        let n = PaperNumbers::load(&path).unwrap();
        let wrong: Vec<String> =
            n.0.iter()
                .flat_map(|(id, m)| m.iter().map(move |(k, v)| (id, k, v)))
                .filter(|(_, k, v)| SourceKind::implied_by(k).is_some_and(|kind| kind != v.kind))
                .map(|(id, k, v)| format!("{id}.{k} is {:?}", v.kind))
                .collect();
        assert!(wrong.is_empty(), "{wrong:?}");
    }

    #[test]
    fn comparisons_count_agreements_and_name_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.yaml");
        std::fs::write(
            &p,
            "x:\n  acc:\n    value: 0.5\n    text: \"50%\"\n    source: s\n    kind: paper-text\n  r:\n    value: 10\n    text: \"~10x\"\n    source: s\n    kind: author-run\n",
        )
        .unwrap();
        let n = PaperNumbers::load(&p).unwrap();
        let mut c = Comparisons::new();
        let f = |v: f64| format!("{v}");
        assert_eq!(
            c.add(
                &n,
                ("x", "acc"),
                "final acc",
                0.53,
                f,
                Tolerance::Points(0.05)
            ),
            Some(true)
        );
        assert_eq!(
            c.add(&n, ("x", "r"), "max r", 30.0, f, Tolerance::Factor(2.0)),
            Some(false)
        );
        assert_eq!(
            c.add(&n, ("x", "missing"), "none", 1.0, f, Tolerance::Factor(2.0)),
            None
        );
        assert_eq!(
            c.add(&n, ("x", "r"), "r", f64::NAN, f, Tolerance::Factor(2.0)),
            Some(false)
        );
        assert!(!c.all_agree());
        let s = c.summary();
        assert!(s.starts_with("1 of 3 reference numbers agree"), "{s}");
        assert!(
            s.contains("max r 30 vs ~10x (author's stored run) (tolerance a factor of 2)"),
            "{s}"
        );
        assert!(!s.contains("final acc"), "{s}");
    }

    #[test]
    fn claims_summary_names_the_claims_that_fail_without_differ() {
        let mut c = Comparisons::new();
        c.add_claim(true, "a holds (ours: 1)".into());
        c.add_claim(false, "b exceeds 1 (ours: 0.2)".into());
        let s = c.claims_summary();
        assert_eq!(
            s,
            "1 of 2 claims hold: a holds (ours: 1); do not hold in our runs: b exceeds 1 (ours: 0.2)"
        );
        assert!(!s.contains("differ"));
        let mut none = Comparisons::new();
        none.add_claim(false, "a".into());
        assert_eq!(none.claims_summary(), "0 of 1 claims hold; do not hold in our runs: a");
    }

    #[test]
    fn checks_are_printed_apart_and_never_counted() {
        let mut c = Comparisons::new();
        c.add_claim(true, "a holds (ours: 1)".into());
        c.add_claim(false, "b (ours: 0)".into());
        c.add_check(true, "every controller steps at its target r (ours: 2e-16)".into());
        let s = c.claims_summary();
        assert!(s.starts_with("1 of 2 claims hold: a holds (ours: 1); do not hold"), "{s}");
        assert!(
            s.ends_with("; checks (true by construction, not counted): every controller steps at its target r (ours: 2e-16) (holds)"),
            "{s}"
        );
        assert_eq!(c.len(), 2);
        let mut d = Comparisons::new();
        d.add_check(true, "x".into());
        assert!(d.all_agree() && d.is_empty());
        assert!(d.summary().starts_with("0 of 0 reference numbers agree; checks"), "{}", d.summary());
        // A failing check is a defect, named, and no verdict reads "agree".
        d.add_check(false, "y".into());
        assert!(!d.all_agree() && !d.checks_hold());
        assert!(d.summary().contains("y (FAILS: a defect of ours)"), "{}", d.summary());
    }

    #[test]
    fn table_kinds_name_their_table() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.yaml");
        std::fs::write(
            &p,
            "x:\n  table3_a:\n    value: 1\n    text: \"1.00\"\n    source: s\n    kind: paper-table-3\n",
        )
        .unwrap();
        let n = PaperNumbers::load(&p).unwrap();
        assert_eq!(n.cell("x", "table3_a"), "1.00 (paper Table 3)");
        assert_eq!(SourceKind::implied_by("table3_a"), Some(SourceKind::PaperTable(3)));
        assert_eq!(SourceKind::implied_by("text_a"), Some(SourceKind::PaperText));
        assert_eq!(SourceKind::AuthorCode.label(), "author's code output");
        for bad in ["paper-table-0", "paper-table-x", "paper-table"] {
            std::fs::write(
                &p,
                format!("x:\n  a:\n    value: 1\n    text: one\n    source: s\n    kind: {bad}\n"),
            )
            .unwrap();
            let err = format!("{:#}", PaperNumbers::load(&p).unwrap_err());
            assert!(err.contains("unknown kind"), "{bad}: {err}");
        }
    }

    /// Every number of the project's file whose source names one of the
    /// paper's tables has that table's kind (labelled "paper Table n",
    /// never "paper text").
    #[test]
    fn numbers_from_a_paper_table_are_labelled_with_it() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../paper/paper-numbers.yaml");
        let n = PaperNumbers::load(&path).unwrap();
        let mut tables = 0;
        let mut wrong = Vec::new();
        for (id, keys) in &n.0 {
            for (key, v) in keys {
                let names = (1..=9u8).find(|t| v.source.starts_with(&format!("Table {t}")));
                if let Some(t) = names {
                    tables += 1;
                    if v.kind != SourceKind::PaperTable(t) {
                        wrong.push(format!("{id}.{key}: {:?}", v.kind));
                    }
                }
            }
        }
        assert!(tables >= 59, "{tables}");
        assert!(wrong.is_empty(), "{wrong:?}");
    }

    #[test]
    fn a_range_read_off_agrees_within_the_tolerance_of_its_ends() {
        let (lo, hi) = (0.15, 0.25);
        let pts = Tolerance::Points(0.05);
        // Inside, and within 5 points of either end: agrees.
        for ours in [0.10, 0.136, 0.20, 0.29, 0.30] {
            assert!(pts.agrees_with_range(ours, [lo, hi]), "{ours}");
        }
        for ours in [0.0999, 0.3001, 0.5] {
            assert!(!pts.agrees_with_range(ours, [lo, hi]), "{ours}");
        }
        // The same 29% against the range's middle alone would differ.
        assert!(!pts.agrees(0.29, 0.20));
        let f = Tolerance::Factor(3.17);
        assert!(f.agrees_with_range(0.004, [0.01, 0.1]));
        assert!(!f.agrees_with_range(0.003, [0.01, 0.1]));
        assert!(f.agrees_with_range(0.317, [0.01, 0.1]));
    }

    #[test]
    fn every_range_holds_its_value() {
        let numbers = PaperNumbers::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../paper/paper-numbers.yaml"),
        )
        .unwrap();
        let mut ranges = 0;
        for (id, keys) in &numbers.0 {
            for (key, n) in keys {
                if let Some([lo, hi]) = n.range {
                    ranges += 1;
                    let v = n.value.unwrap_or_else(|| panic!("{id}.{key}: a range needs a value"));
                    assert!(lo < hi && lo <= v && v <= hi, "{id}.{key}: {v} not in [{lo}, {hi}]");
                }
            }
        }
        assert!(ranges >= 8, "{ranges}");
    }

    #[test]
    fn half_unit_follows_the_printed_digits() {
        let n = |text: &str| PaperNumber {
            value: Some(1.0),
            range: None,
            text: text.into(),
            source: String::new(),
            kind: SourceKind::PaperText,
        };
        assert_eq!(n("0.033").half_unit(), 0.0005);
        assert_eq!(n("5.0x").half_unit(), 0.05);
        assert_eq!(n("a 6x reduction").half_unit(), 0.5);
        assert_eq!(n("~22,000").half_unit(), 0.5);
    }

    #[test]
    fn every_number_says_what_kind_of_source_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.yaml");
        std::fs::write(
            &p,
            "theory:\n  x:\n    value: 1\n    text: one\n    source: s\n",
        )
        .unwrap();
        let err = format!("{:#}", PaperNumbers::load(&p).unwrap_err());
        assert!(err.contains("kind"), "{err}");
        std::fs::write(
            &p,
            "theory:\n  x:\n    value: 1\n    text: one\n    source: s\n    kind: author-run\n",
        )
        .unwrap();
        let n = PaperNumbers::load(&p).unwrap();
        assert_eq!(
            n.get("theory", "x").unwrap().cell(),
            "one (author's stored run)"
        );
        // Every printed reference number names its source, also where a
        // column could: a key prefixed `stored_` too.
        std::fs::write(
            &p,
            "theory:\n  stored_x:\n    value: 1\n    text: one\n    source: s\n    kind: author-run\n",
        )
        .unwrap();
        let n = PaperNumbers::load(&p).unwrap();
        assert_eq!(n.labelled("theory", "stored_x"), "one (author's stored run)");
        assert_eq!(n.labelled("theory", "nothing"), "-");
    }

    #[test]
    fn unknown_keys_are_refused_with_location() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.yaml");
        std::fs::write(
            &p,
            "theory:\n  x:\n    value: 1\n    text: one\n    source: s\n    kind: paper-text\n    colour: red\n",
        )
        .unwrap();
        let err = format!("{:#}", PaperNumbers::load(&p).unwrap_err());
        assert!(
            err.contains("n.yaml") && err.contains("colour") && err.contains("line 7"),
            "{err}"
        );
    }
}
