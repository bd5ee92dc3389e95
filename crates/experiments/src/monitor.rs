//! The monitor's JSON Lines log read back, summarised and drawn
//! (`ghosts monitor plot`): the reading side of [`control::MonitorLog`],
//! whose docs ([`control::jsonl`]) define the format (keys, JSON types,
//! units).
//!
//! Reading checks every line against that format and stops at the first
//! line that does not fit, with a [`LogError`] naming the file, the line
//! (1-based), the key and what was expected. Blank lines are skipped and
//! keys the format does not define are ignored (a tool may add its own).

use analysis::plot::{render, Band, Figure, HLine, LegendPos, Panel, Series};
use analysis::stats::nan_median;
use analysis::table::fmt_sig;
use anyhow::Result;
use control::MonitorRecord;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// A log that cannot be read as the monitor's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError {
    /// The file, as given.
    pub file: PathBuf,
    /// 1-based line number; `None` for a fault of the whole file
    /// (unreadable, no records).
    pub line: Option<usize>,
    /// The key at fault (`closest[2].sample` inside the array); `None` when
    /// the line as a whole is at fault (not UTF-8, not JSON, not an object).
    pub field: Option<String>,
    /// What the format expects there.
    pub expected: String,
    /// What the file holds instead.
    pub found: String,
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": expected {}, found {}", self.expected, self.found)
    }
}

impl std::error::Error for LogError {}

/// The JSON type a key of the format holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An integer ≥ 0.
    Count,
    /// A number, or null for a non-finite one.
    Number,
    /// A number (never null).
    FiniteNumber,
    /// An integer ≥ 0 or null.
    Index,
    /// Null or two integers ≥ 0.
    Pair,
    /// An array of {sample, rho_a}.
    Closest,
}

/// Every key of the format and whether a line must have it, in the order
/// [`control::MonitorLog`] writes them.
const FIELDS: [(&str, Kind, bool); 12] = [
    ("step", Kind::Count, true),
    ("tau", Kind::Number, true),
    ("delta_a", Kind::Number, true),
    ("rho_a", Kind::Number, true),
    ("r", Kind::Number, true),
    ("cap_factor", Kind::Number, true),
    ("binding_sample", Kind::Index, true),
    ("class_pair", Kind::Pair, true),
    ("closest", Kind::Closest, true),
    ("rho_top2", Kind::Number, false),
    ("rho_exact", Kind::Number, false),
    ("ms", Kind::FiniteNumber, true),
];

/// A short description of a JSON value for an error message.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("string {:?}", format!("{}...", s.chars().take(40).collect::<String>()))
        }
        Value::String(s) => format!("string {s:?}"),
        Value::Array(a) => format!("an array of {} values", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

/// What the format expects for a key of kind `kind`.
fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Count => "a non-negative integer",
        Kind::Number => "a number or null",
        Kind::FiniteNumber => "a number",
        Kind::Index => "a non-negative integer or null",
        Kind::Pair => "null or two class indices [k_max, k_min] (non-negative integers)",
        Kind::Closest => "an array of {\"sample\": integer, \"rho_a\": number or null}",
    }
}

/// `Err((key suffix, expected, found))` when `v` is not of kind `kind`;
/// an element of `closest` reports its own suffix (`[2].sample`).
fn check(v: &Value, kind: Kind) -> Result<(), (String, String, String)> {
    let bad = |at: &str, expected: &str, found: String| Err((at.to_string(), expected.to_string(), found));
    let fits = match kind {
        Kind::Count => v.as_u64().is_some(),
        Kind::Number => v.is_null() || v.is_number(),
        Kind::FiniteNumber => v.is_number(),
        Kind::Index => v.is_null() || v.as_u64().is_some(),
        Kind::Pair => match v {
            Value::Null => true,
            Value::Array(a) => a.len() == 2 && a.iter().all(|c| c.as_u64().is_some()),
            _ => false,
        },
        Kind::Closest => {
            let Value::Array(items) = v else {
                return bad("", expected(kind), describe(v));
            };
            for (i, item) in items.iter().enumerate() {
                let Value::Object(o) = item else {
                    return bad(&format!("[{i}]"), "an object {\"sample\": integer, \"rho_a\": number or null}", describe(item));
                };
                for (key, kind) in [("sample", Kind::Count), ("rho_a", Kind::Number)] {
                    match o.get(key) {
                        None => return bad(&format!("[{i}].{key}"), expected(kind), "no such key".into()),
                        Some(x) => check(x, kind).or_else(|_| bad(&format!("[{i}].{key}"), expected(kind), describe(x)))?,
                    }
                }
            }
            true
        }
    };
    if fits {
        Ok(())
    } else {
        bad("", expected(kind), describe(v))
    }
}

/// Parses the text of a log; `file` names it in errors.
///
/// # Errors
/// The first line that is not one JSON object of the format (a key
/// missing or of another type), or a text without any record.
pub fn parse_log(text: &[u8], file: &Path) -> Result<Vec<MonitorRecord>, LogError> {
    let err = |line: Option<usize>, field: Option<String>, expected: &str, found: String| LogError {
        file: file.to_path_buf(),
        line,
        field,
        expected: expected.to_string(),
        found,
    };
    let mut records = Vec::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line = std::str::from_utf8(raw).map_err(|e| {
            err(Some(n), None, "UTF-8 text", format!("a byte that is not UTF-8 at column {}", e.valid_up_to() + 1))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| {
            // serde_json's message ends with its own "at line 1 column c".
            let msg = e.to_string();
            let msg = msg.rsplit_once(" at line ").map_or(msg.as_str(), |(m, _)| m).to_string();
            err(Some(n), None, "one JSON object per line", format!("invalid JSON at column {} ({msg})", e.column()))
        })?;
        let Value::Object(obj) = &value else {
            return Err(err(Some(n), None, "one JSON object per line", describe(&value)));
        };
        for (key, kind, required) in FIELDS {
            match obj.get(key) {
                None if required => {
                    return Err(err(Some(n), Some(key.into()), expected(kind), "no such key".into()));
                }
                None => {}
                Some(v) => check(v, kind).map_err(|(at, expected, found)| {
                    err(Some(n), Some(format!("{key}{at}")), &expected, found)
                })?,
            }
        }
        // Every key has been checked, so this cannot fail on the format;
        // whatever serde still finds (a number out of range) is reported.
        let rec: MonitorRecord = serde_json::from_value(value)
            .map_err(|e| err(Some(n), None, "a monitor record", e.to_string()))?;
        records.push(rec);
    }
    if records.is_empty() {
        return Err(err(None, None, "at least one record (one JSON object per line)", "no records".into()));
    }
    Ok(records)
}

/// Reads the log at `path` ([`parse_log`]).
///
/// # Errors
/// The file cannot be read, or [`parse_log`]'s errors.
pub fn read_log(path: &Path) -> Result<Vec<MonitorRecord>, LogError> {
    let bytes = std::fs::read(path).map_err(|e| LogError {
        file: path.to_path_buf(),
        line: None,
        field: None,
        expected: "a readable file".into(),
        found: e.to_string(),
    })?;
    parse_log(&bytes, path)
}

/// How often each binding class pair (k_max, k_min) occurs, most frequent
/// first (ties by the pair).
pub fn class_pair_counts(records: &[MonitorRecord]) -> Vec<((usize, usize), usize)> {
    let mut counts: std::collections::BTreeMap<(usize, usize), usize> = Default::default();
    for p in records.iter().filter_map(|r| r.class_pair) {
        *counts.entry(p).or_default() += 1;
    }
    let mut out: Vec<_> = counts.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// The lines `ghosts monitor plot` prints about a log: steps, r
/// (median, max and where, steps beyond r = 1), the most frequent binding
/// class pairs and the monitor's median cost.
pub fn summary_lines(records: &[MonitorRecord]) -> Vec<String> {
    let (first, last) = (records.first().map_or(0, |r| r.step), records.last().map_or(0, |r| r.step));
    let mut out = vec![format!("{} steps (step {first} to {last})", records.len())];
    let r: Vec<f64> = records.iter().map(|x| x.r).collect();
    let worst = records
        .iter()
        .filter(|x| x.r.is_finite())
        .max_by(|a, b| a.r.total_cmp(&b.r).then(b.step.cmp(&a.step)));
    let above = r.iter().filter(|&&v| v > 1.0).count();
    let non_finite = r.iter().filter(|v| !v.is_finite()).count();
    let mut line = format!("r = tau/rho_a: median {}", fmt_sig(nan_median(&r), 3));
    if let Some(w) = worst {
        line += &format!(", max {} at step {}", fmt_sig(w.r, 3), w.step);
    }
    line += &format!("; {above} step{} with r > 1", if above == 1 { "" } else { "s" });
    if non_finite > 0 {
        line += &format!(", {non_finite} without a finite r");
    }
    out.push(line);
    let pairs = class_pair_counts(records);
    if pairs.is_empty() {
        out.push("binding class pairs: none recorded".into());
    } else {
        let top: Vec<String> = pairs
            .iter()
            .take(3)
            .map(|((hi, lo), n)| format!("({hi}, {lo}) {n} step{}", if *n == 1 { "" } else { "s" }))
            .collect();
        out.push(format!(
            "binding class pairs (k_max, k_min): {} distinct, most frequent {}",
            pairs.len(),
            top.join(", ")
        ));
    }
    let ms: Vec<f64> = records.iter().map(|x| x.ms).collect();
    out.push(format!("monitor time: median {} ms per step", fmt_sig(nan_median(&ms), 2)));
    out
}

/// Half the width of one bar of the class histogram (class units).
const BAR: f64 = 0.38;

/// One bar from `x0` to `x1` of height `n`: a filled band and its outline.
fn bar(p: &mut Panel, x0: f64, x1: f64, n: f64, color: usize, label: &str) {
    p.bands.push(Band::new("", vec![x0, x1], vec![0.0, 0.0], vec![n, n]).color(color));
    p.series.push(Series::new(label, vec![x0, x0, x1, x1], vec![0.0, n, n, 0.0]).color(color));
}

/// The figure of a log: τ and ρa per step (log y; ρ_top2 and ρ* too when
/// logged), r per step (log y, r = 1 dashed) and how often each class is
/// k_max or k_min of the binding pair. `title` heads the figure.
pub fn figure(records: &[MonitorRecord], title: &str) -> Figure {
    let x: Vec<f64> = records.iter().map(|r| r.step as f64).collect();
    let col = |f: fn(&MonitorRecord) -> f64| -> Vec<f64> { records.iter().map(f).collect() };
    let x_range = match (x.first(), x.iter().copied().reduce(f64::max)) {
        (Some(&a), Some(b)) if b > a => Some((x.iter().copied().fold(a, f64::min), b)),
        _ => None,
    };

    let mut radii = Panel::new("Step size and radius per step", "step", "parameter distance");
    radii.y_log = true;
    radii.series.push(Series::new("tau (proposed update)", x.clone(), col(|r| r.tau)).color(0));
    radii.series.push(Series::new("rho_a", x.clone(), col(|r| r.rho_a)).color(1).dashed());
    if records.iter().any(|r| r.rho_top2.is_some()) {
        let y = col(|r| r.rho_top2.unwrap_or(f64::NAN));
        radii.series.push(Series::new("rho_top2", x.clone(), y).color(2).dashed());
    }
    if records.iter().any(|r| r.rho_exact.is_some()) {
        let y = col(|r| r.rho_exact.unwrap_or(f64::NAN));
        radii.series.push(Series::new("rho*", x.clone(), y).color(4).dashed());
    }
    radii.legend = LegendPos::Below;

    let mut ratio = Panel::new("Normalised step r = tau/rho_a", "step", "r");
    ratio.y_log = true;
    ratio.series.push(Series::new("r", x.clone(), col(|r| r.r)).color(0));
    ratio.hlines.push(HLine::new(1.0, "r = 1"));
    ratio.legend = LegendPos::Below;
    for p in [&mut radii, &mut ratio] {
        p.x_range = x_range;
    }

    // Histogram of the binding pair's classes: per class, how often it had
    // the largest slope (k_max) and the smallest (k_min).
    let pairs: Vec<(usize, usize)> = records.iter().filter_map(|r| r.class_pair).collect();
    let classes = pairs.iter().map(|&(a, b)| a.max(b) + 1).max().unwrap_or(0);
    let mut hist = Panel::new(
        format!("Binding class pair, {} of {} steps", pairs.len(), records.len()),
        "class",
        "steps",
    );
    let mut top = 0usize;
    for c in 0..classes {
        let hi = pairs.iter().filter(|p| p.0 == c).count();
        let lo = pairs.iter().filter(|p| p.1 == c).count();
        top = top.max(hi).max(lo);
        let (l_hi, l_lo) = if c == 0 {
            ("k_max (largest slope)", "k_min (smallest slope)")
        } else {
            ("", "")
        };
        bar(&mut hist, c as f64 - BAR, c as f64, hi as f64, 0, l_hi);
        bar(&mut hist, c as f64, c as f64 + BAR, lo as f64, 1, l_lo);
    }
    hist.x_range = Some((-0.6, classes.max(1) as f64 - 0.4));
    hist.y_range = Some((0.0, (top.max(1) as f64 * 1.1).ceil()));
    hist.legend = LegendPos::Below;
    if pairs.is_empty() {
        hist.notes.push("no binding class pair in the log".into());
    } else {
        let top: Vec<String> = class_pair_counts(records)
            .iter()
            .take(3)
            .map(|((a, b), n)| format!("({a}, {b}): {n}"))
            .collect();
        hist.notes.push(format!("most frequent pairs {}", top.join(", ")));
    }

    Figure::grid(vec![radii, ratio, hist], 1)
        .sized((900, 480))
        .titled(title)
}

/// Draws [`figure`] of `records` to `stem.png` and `stem.svg`; returns the
/// two paths.
///
/// # Errors
/// A file cannot be written.
pub fn plot(records: &[MonitorRecord], title: &str, stem: &Path) -> Result<Vec<PathBuf>> {
    render(&figure(records, title), stem)
}

/// Where `ghosts monitor plot FILE` writes without `--out`: FILE without
/// its extension (`runs/a.jsonl` -> `runs/a`, then `.png` and `.svg`).
pub fn default_stem(file: &Path) -> PathBuf {
    file.with_extension("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::{MonitorLog, NearBinding};

    fn rec(step: u64, r: f64, pair: Option<(usize, usize)>) -> MonitorRecord {
        MonitorRecord {
            step,
            tau: r * 2.0,
            delta_a: std::f64::consts::PI / 2.0,
            rho_a: 2.0,
            r,
            cap_factor: (1.0 / r).min(1.0),
            binding_sample: pair.map(|_| 4),
            class_pair: pair,
            closest: vec![NearBinding { sample: 4, rho_a: 2.0 }],
            rho_top2: None,
            rho_exact: None,
            ms: 0.5 + step as f64,
        }
    }

    fn written(recs: &[MonitorRecord]) -> Vec<u8> {
        let mut log = MonitorLog::new(Vec::new());
        for r in recs {
            log.write(r).unwrap();
        }
        log.into_inner()
    }

    #[test]
    fn a_written_log_reads_back_equal_and_non_finite_as_nan() {
        let mut recs = vec![rec(0, 0.5, Some((3, 8))), rec(1, 0.25, Some((1, 7))), rec(2, 4.0, None)];
        recs[1].rho_top2 = Some(3.5);
        recs[1].rho_exact = Some(4.5);
        let back = parse_log(&written(&recs), Path::new("a.jsonl")).unwrap();
        assert_eq!(back, recs);
        let mut bad = rec(3, f64::NAN, None);
        bad.tau = f64::INFINITY;
        bad.rho_exact = Some(f64::NAN);
        let bytes = written(std::slice::from_ref(&bad));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"tau\":null") && text.contains("\"r\":null") && text.contains("\"rho_exact\":null"));
        let back = parse_log(&bytes, Path::new("a.jsonl")).unwrap();
        assert!(back[0].tau.is_nan() && back[0].r.is_nan() && back[0].rho_exact.unwrap().is_nan());
        assert_eq!(back[0].rho_top2, None);
    }

    fn error_of(text: &str) -> LogError {
        parse_log(text.as_bytes(), Path::new("run.jsonl")).unwrap_err()
    }

    #[test]
    fn bad_lines_are_named_by_line_and_key() {
        let good = String::from_utf8(written(&[rec(0, 0.5, Some((3, 8)))])).unwrap();
        let good = good.trim_end();
        let with = |from: &str, to: &str| {
            assert!(good.contains(from), "{from}");
            format!("{good}\n\n{}\n", good.replacen(from, to, 1))
        };
        let e = error_of(&with("\"rho_a\":2.0,", "\"rho_a\":\"big\","));
        assert_eq!((e.line, e.field.as_deref()), (Some(3), Some("rho_a")));
        assert_eq!(e.to_string(), "run.jsonl, line 3, field `rho_a`: expected a number or null, found string \"big\"");
        let e = error_of(&with("\"step\":0,", ""));
        assert_eq!((e.line, e.field.as_deref(), e.found.as_str()), (Some(3), Some("step"), "no such key"));
        assert_eq!(e.expected, "a non-negative integer");
        let e = error_of(&with("\"step\":0,", "\"step\":-1,"));
        assert_eq!(e.field.as_deref(), Some("step"));
        let e = error_of(&with("[3,8]", "[3]"));
        assert_eq!(e.field.as_deref(), Some("class_pair"));
        let e = error_of(&with("{\"sample\":4,", "{\"sample\":true,"));
        assert_eq!(e.field.as_deref(), Some("closest[0].sample"));
        assert_eq!(e.found, "boolean true");
        let e = error_of(&with("\"ms\":0.5", "\"ms\":null"));
        assert_eq!((e.field.as_deref(), e.expected.as_str()), (Some("ms"), "a number"));
        let e = error_of(&format!("{good}\n{{\"step\": 1,"));
        assert_eq!((e.line, e.field.as_ref()), (Some(2), None));
        assert!(e.found.starts_with("invalid JSON at column"), "{e}");
        let e = error_of("[1, 2]\n");
        assert_eq!((e.line, e.found.as_str()), (Some(1), "an array of 2 values"));
        let e = parse_log(b"\xff\n", Path::new("x")).unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = error_of("\n\n");
        assert_eq!((e.line, e.found.as_str()), (None, "no records"));
        let e = read_log(Path::new("/nonexistent/run.jsonl")).unwrap_err();
        assert_eq!((e.line, e.expected.as_str()), (None, "a readable file"));
        // Keys the format does not define are ignored.
        let extra = good.replacen('{', "{\"loss\":2.3,", 1);
        assert_eq!(parse_log(extra.as_bytes(), Path::new("x")).unwrap().len(), 1);
    }

    #[test]
    fn the_readme_and_the_format_docs_list_every_key() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for file in ["README.md", "crates/control/src/jsonl.rs"] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            for (key, _, _) in FIELDS {
                assert!(text.contains(&format!("| `{key}` |")), "{file} lacks a table row for `{key}`");
            }
        }
    }

    #[test]
    fn summary_counts_pairs_and_steps_beyond_one() {
        let recs = vec![
            rec(0, 0.5, Some((3, 8))),
            rec(1, 3.0, Some((1, 7))),
            rec(2, 0.25, Some((3, 8))),
            rec(3, f64::NAN, None),
        ];
        assert_eq!(class_pair_counts(&recs), vec![((3, 8), 2), ((1, 7), 1)]);
        let lines = summary_lines(&recs);
        assert_eq!(lines[0], "4 steps (step 0 to 3)");
        assert_eq!(lines[1], "r = tau/rho_a: median 0.500, max 3.00 at step 1; 1 step with r > 1, 1 without a finite r");
        assert_eq!(lines[2], "binding class pairs (k_max, k_min): 2 distinct, most frequent (3, 8) 2 steps, (1, 7) 1 step");
        assert_eq!(lines[3], "monitor time: median 2.0 ms per step");
    }

    #[test]
    fn the_figure_draws_every_class_and_renders() {
        let recs: Vec<MonitorRecord> =
            (0..40).map(|t| rec(t, 0.1 * (t as f64 + 1.0), Some(((t % 3) as usize, 9)))).collect();
        let fig = figure(&recs, "test");
        let hist = &fig.panels[2];
        // Ten classes, two bars each (a band and its outline).
        assert_eq!((hist.bands.len(), hist.series.len()), (20, 20));
        let heights: Vec<f64> = hist.bands.iter().map(|b| b.hi[0]).collect();
        assert_eq!(&heights[..6], &[14.0, 0.0, 13.0, 0.0, 13.0, 0.0]);
        assert_eq!(heights[19], 40.0);
        let dir = tempfile::tempdir().unwrap();
        let files = plot(&recs, "test", &dir.path().join("m")).unwrap();
        assert!(files.iter().all(|f| std::fs::metadata(f).unwrap().len() > 1000));
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        assert_eq!(analysis::plot::text_problems(&svg), Vec::<String>::new());
        // A log without any class pair still draws.
        let none: Vec<MonitorRecord> = (0..3).map(|t| rec(t, 1.0, None)).collect();
        plot(&none, "none", &dir.path().join("n")).unwrap();
    }
}
