//! Side-by-side speed sittings: our experiments timed beside the author's
//! code on one machine in one sitting, stored as rows of
//! `results/bench/sittings.tsv` and rendered as the README's benchmark
//! tables (`ghosts bench table`), so no speed number in the README is typed.
//!
//! The file is tab-separated with a header line; `#` lines are comments.
//! Columns (every row names its sitting, so sittings can be appended):
//!
//! | column | meaning |
//! |---|---|
//! | `sitting` | when the sitting began, `YYYY-MM-DD HH:MM` UTC (rows of one sitting share it) |
//! | `cpu` | the CPU model and logical cores, e.g. `Intel(R) Xeon(R) Processor, 2 vCPUs` |
//! | `work` | the experiment id (`temperature-fingerprint`, ...) or another short key |
//! | `what` | the work in words (seeds, steps, ...): the table's first column |
//! | `side` | `author` (piyush314/ghosts-of-softmax) or `ours` |
//! | `commit` | the side's commit |
//! | `threads` | our thread count (`RAYON_NUM_THREADS`); empty for the author's side, whose scripts set their own |
//! | `seconds` | wall time in seconds, or a range `lo..hi` (an estimate, say why in `note`) |
//! | `note` | free text, printed as a numbered note under the table (may be empty) |
//!
//! `tools/bench.sh --record` appends our rows and, given the author's
//! `times.tsv`, the author's rows of the same sitting.

use anyhow::{bail, Context as _, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The speed goal of the speed issue (issue 12): at least this many times
/// the author's speed at 2 threads ...
pub const GOAL_2_THREADS: f64 = 10.0;
/// ... and at least this many times at 1 thread.
pub const GOAL_1_THREAD: f64 = 5.0;

/// Which implementation a timing is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// The author's Python code.
    Author,
    /// This workspace.
    Ours,
}

/// One timed run (a row of the sittings file).
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// When the sitting began (UTC, as written in the file).
    pub sitting: String,
    /// CPU model and cores.
    pub cpu: String,
    /// Experiment id or work key.
    pub work: String,
    /// The work in words.
    pub what: String,
    /// Author's code or ours.
    pub side: Side,
    /// Commit of that side.
    pub commit: String,
    /// Our thread count (`None` for the author's side).
    pub threads: Option<u32>,
    /// Wall time in seconds: (lo, hi), equal for one measurement.
    pub seconds: (f64, f64),
    /// Free-text note (empty for none).
    pub note: String,
}

const COLUMNS: [&str; 9] = [
    "sitting", "cpu", "work", "what", "side", "commit", "threads", "seconds", "note",
];

/// Reads a sittings file. Errors name the file, the line and the column, and
/// say what was expected.
pub fn read(path: &Path) -> Result<Vec<Timing>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the sittings file {}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// Parses the text of a sittings file (`file` names it in errors).
pub fn parse(text: &str, file: &str) -> Result<Vec<Timing>> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim_start().starts_with('#') && !l.trim().is_empty());
    let Some((hline, header)) = lines.next() else {
        bail!("{file}: no header line (expected the columns {})", COLUMNS.join(", "));
    };
    let header: Vec<&str> = header.split('\t').collect();
    if header != COLUMNS {
        bail!(
            "{file}: line {hline}: the header must be the tab-separated columns {}, found {}",
            COLUMNS.join(", "),
            header.join(", ")
        );
    }
    let mut rows = Vec::new();
    for (n, line) in lines {
        let cells: Vec<&str> = line.split('\t').collect();
        if cells.len() != COLUMNS.len() {
            bail!("{file}: line {n}: {} tab-separated fields, expected {}", cells.len(), COLUMNS.len());
        }
        let field = |j: usize, what: &str| anyhow::anyhow!("{file}: line {n}: field `{}`: {what}", COLUMNS[j]);
        let side = match cells[4] {
            "author" => Side::Author,
            "ours" => Side::Ours,
            other => return Err(field(4, &format!("`{other}`, expected `author` or `ours`"))),
        };
        let threads = match (side, cells[6].trim()) {
            (Side::Author, "") => None,
            (Side::Author, t) => return Err(field(6, &format!("`{t}`: leave it empty for the author's side"))),
            (Side::Ours, t) => Some(
                t.parse::<u32>()
                    .ok()
                    .filter(|&t| t > 0)
                    .ok_or_else(|| field(6, &format!("`{t}`, expected a positive integer")))?,
            ),
        };
        let seconds = parse_seconds(cells[7])
            .ok_or_else(|| field(7, &format!("`{}`, expected seconds > 0 or a range lo..hi", cells[7])))?;
        for (j, cell) in cells.iter().enumerate().take(6) {
            if cell.trim().is_empty() && j != 4 {
                return Err(field(j, "empty"));
            }
        }
        rows.push(Timing {
            sitting: cells[0].to_string(),
            cpu: cells[1].to_string(),
            work: cells[2].to_string(),
            what: cells[3].to_string(),
            side,
            commit: cells[5].to_string(),
            threads,
            seconds,
            note: cells[8].trim().to_string(),
        });
    }
    Ok(rows)
}

fn parse_seconds(s: &str) -> Option<(f64, f64)> {
    let ok = |x: f64| x.is_finite() && x > 0.0;
    let (lo, hi) = match s.split_once("..") {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let x: f64 = s.trim().parse().ok()?;
            (x, x)
        }
    };
    (ok(lo) && ok(hi) && lo <= hi).then_some((lo, hi))
}

/// Seconds as the tables print them: two decimals below 10 s, one below
/// 1000 s, none above; from an hour on also in hours.
fn fmt_number(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2}")
    } else if s < 1000.0 {
        format!("{s:.1}")
    } else {
        format!("{s:.0}")
    }
}

/// The range of several measurements (and of ranges).
fn span(ts: &[&Timing]) -> Option<(f64, f64)> {
    let lo = ts.iter().map(|t| t.seconds.0).fold(f64::INFINITY, f64::min);
    let hi = ts.iter().map(|t| t.seconds.1).fold(f64::NEG_INFINITY, f64::max);
    (!ts.is_empty()).then_some((lo, hi))
}

/// "3.57 s", "0.70-0.74 s", "7920-9000 s (2.2-2.5 h)".
fn fmt_span((lo, hi): (f64, f64)) -> String {
    let secs = if lo == hi {
        format!("{} s", fmt_number(lo))
    } else {
        format!("{}-{} s", fmt_number(lo), fmt_number(hi))
    };
    if lo < 3600.0 {
        secs
    } else if lo == hi {
        format!("{secs} ({:.1} h)", lo / 3600.0)
    } else {
        format!("{secs} ({:.1}-{:.1} h)", lo / 3600.0, hi / 3600.0)
    }
}

/// Speed-up author/ours over the ranges: (worst, best).
fn ratio(author: (f64, f64), ours: (f64, f64)) -> (f64, f64) {
    (author.0 / ours.1, author.1 / ours.0)
}

fn fmt_ratio((lo, hi): (f64, f64)) -> String {
    let one = |x: f64| if x >= 10.0 { format!("{x:.0}") } else { format!("{x:.1}") };
    if one(lo) == one(hi) {
        format!("{}x", one(lo))
    } else {
        format!("{}-{}x", one(lo), one(hi))
    }
}

/// The README's benchmark tables: one per sitting, in file order, with the
/// speed-ups computed from the rows (worst and best case over repeated
/// runs and ranges), the notes, whether each row meets the speed goal, and
/// how much each side's time moved between sittings for the same work.
pub fn markdown(rows: &[Timing]) -> String {
    let mut out = String::new();
    let mut sittings: Vec<&str> = Vec::new();
    for r in rows {
        if !sittings.contains(&r.sitting.as_str()) {
            sittings.push(&r.sitting);
        }
    }
    for sitting in &sittings {
        let these: Vec<&Timing> = rows.iter().filter(|r| &r.sitting == sitting).collect();
        let commits = |side: Side| {
            let mut c: Vec<&str> = these.iter().filter(|r| r.side == side).map(|r| r.commit.as_str()).collect();
            c.dedup();
            if c.is_empty() { "-".to_string() } else { c.join(", ") }
        };
        let mut cpus: Vec<&str> = these.iter().map(|r| r.cpu.as_str()).collect();
        cpus.dedup();
        out.push_str(&format!(
            "Sitting of {sitting} UTC on {}: the author's code at {}, ours at {}.\n\n",
            cpus.join("; "),
            commits(Side::Author),
            commits(Side::Ours)
        ));
        let mut works: Vec<&str> = Vec::new();
        for r in &these {
            if !works.contains(&r.work.as_str()) {
                works.push(&r.work);
            }
        }
        let mut table = analysis::table::Table::new([
            "work",
            "author's code",
            "ours, 2 threads",
            "speed-up",
            "ours, 1 thread",
            "speed-up",
        ]);
        let mut notes: Vec<String> = Vec::new();
        let (mut meets, mut misses) = (Vec::new(), Vec::new());
        for work in works {
            let of = |side: Side, threads: Option<u32>| -> Vec<&Timing> {
                these
                    .iter()
                    .copied()
                    .filter(|r| r.work == work && r.side == side && (side == Side::Author || r.threads == threads))
                    .collect()
            };
            let author = span(&of(Side::Author, None));
            let ours2 = span(&of(Side::Ours, Some(2)));
            let ours1 = span(&of(Side::Ours, Some(1)));
            let cell = |s: Option<(f64, f64)>| s.map(fmt_span).unwrap_or_else(|| "-".into());
            let speed = |o: Option<(f64, f64)>| match (author, o) {
                (Some(a), Some(o)) => fmt_ratio(ratio(a, o)),
                _ => "-".into(),
            };
            let mut label = these.iter().find(|r| r.work == work).map(|r| r.what.clone()).unwrap_or_default();
            let mut marks = Vec::new();
            for r in these.iter().filter(|r| r.work == work && !r.note.is_empty()) {
                let k = match notes.iter().position(|n| n == &r.note) {
                    Some(k) => k,
                    None => {
                        notes.push(r.note.clone());
                        notes.len() - 1
                    }
                };
                if !marks.contains(&(k + 1)) {
                    marks.push(k + 1);
                }
            }
            if !marks.is_empty() {
                let m: Vec<String> = marks.iter().map(|k| format!("({k})")).collect();
                label = format!("{label} {}", m.join(""));
            }
            table.push_row([label.clone(), cell(author), cell(ours2), speed(ours2), cell(ours1), speed(ours1)]);
            if let Some(a) = author {
                let goal2 = ours2.map(|o| ratio(a, o).0 >= GOAL_2_THREADS);
                let goal1 = ours1.map(|o| ratio(a, o).0 >= GOAL_1_THREAD);
                match (goal2, goal1) {
                    (None, None) => {}
                    (g2, g1) if g2 != Some(false) && g1 != Some(false) => meets.push(work.to_string()),
                    _ => misses.push(work.to_string()),
                }
            }
        }
        for (k, n) in notes.iter().enumerate() {
            table.notes.push(format!("({}) {n}", k + 1));
        }
        table.notes.push(format!(
            "Speed goal ({GOAL_2_THREADS:.0}x at 2 threads, {GOAL_1_THREAD:.0}x at 1 thread, worst case over the runs): met by {}; missed by {}.",
            if meets.is_empty() { "none".to_string() } else { meets.join(", ") },
            if misses.is_empty() { "none".to_string() } else { misses.join(", ") },
        ));
        out.push_str(&table.to_markdown());
        out.push('\n');
    }
    // How much each side moved between sittings on the same work and threads.
    let mut groups: BTreeMap<(String, Side, Option<u32>), Vec<&Timing>> = BTreeMap::new();
    for r in rows {
        groups.entry((r.work.clone(), r.side, r.threads)).or_default().push(r);
    }
    let mut moves = Vec::new();
    for ((work, side, threads), ts) in &groups {
        let mut per: Vec<(f64, f64)> = Vec::new();
        for s in &sittings {
            let these: Vec<&Timing> = ts.iter().copied().filter(|t| &t.sitting == s).collect();
            if let Some(sp) = span(&these) {
                per.push(sp);
            }
        }
        if per.len() > 1 {
            let lo = per.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
            let hi = per.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
            let who = match (side, threads) {
                (Side::Author, _) => "the author's code".to_string(),
                (Side::Ours, Some(t)) => format!("ours at {t} thread{}", if *t == 1 { "" } else { "s" }),
                (Side::Ours, None) => "ours".to_string(),
            };
            moves.push(format!(
                "- {work}, {who}: {} over {} sittings ({:.2}x).",
                fmt_span((lo, hi)),
                per.len(),
                hi / lo
            ));
        }
    }
    if !moves.is_empty() {
        out.push_str("Between sittings, the same work moved:\n\n");
        for m in moves {
            out.push_str(&m);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "sitting\tcpu\twork\twhat\tside\tcommit\tthreads\tseconds\tnote\n";

    fn rows(body: &str) -> Vec<Timing> {
        parse(&format!("{HEAD}{body}"), "t.tsv").unwrap()
    }

    #[test]
    fn speed_ups_are_computed_worst_and_best_case_and_goal_is_judged_on_the_worst() {
        let r = rows(
            "d1\tcpu\tw\tthe work\tauthor\ta1\t\t20\t\n\
             d1\tcpu\tw\tthe work\tours\to1\t2\t1.9\tone-seed note\n\
             d1\tcpu\tw\tthe work\tours\to1\t2\t2.1\t\n\
             d1\tcpu\tw\tthe work\tours\to1\t1\t3\t\n",
        );
        let md = markdown(&r);
        assert!(md.contains("| the work (1) |"), "{md}");
        assert!(md.contains("1.90-2.10 s"), "{md}");
        assert!(md.contains("9.5-11x"), "{md}");
        assert!(md.contains("6.7x"), "{md}");
        assert!(md.contains("(1) one-seed note"), "{md}");
        // 20/2.1 = 9.5 < 10: missed (worst case), though the best case meets it.
        assert!(md.contains("met by none; missed by w"), "{md}");
    }

    #[test]
    fn moves_between_sittings_are_reported() {
        let r = rows(
            "d1\tc\tw\tx\tauthor\ta\t\t100\t\n\
             d1\tc\tw\tx\tours\to\t2\t10\t\n\
             d2\tc\tw\tx\tauthor\ta\t\t150\t\n\
             d2\tc\tw\tx\tours\to\t2\t9\t\n",
        );
        let md = markdown(&r);
        assert!(md.contains("w, the author's code: 100.0-150.0 s over 2 sittings (1.50x)"), "{md}");
        assert!(md.contains("met by w; missed by none"), "{md}");
        assert_eq!(md.matches("Sitting of").count(), 2);
    }

    #[test]
    fn estimates_print_as_ranges_with_hours() {
        let r = rows(
            "d\tc\tw\tx\tauthor\ta\t\t7920..9000\testimate\n\
             d\tc\tw\tx\tours\to\t2\t956.7\t\n",
        );
        let md = markdown(&r);
        assert!(md.contains("7920-9000 s (2.2-2.5 h)"), "{md}");
        assert!(md.contains("956.7 s"), "{md}");
        assert!(md.contains("8.3-9.4x"), "{md}");
    }

    #[test]
    fn bad_rows_are_named_by_line_and_field() {
        let e = parse(&format!("{HEAD}d\tc\tw\tx\tthem\ta\t\t1\t\n"), "f.tsv").unwrap_err();
        assert_eq!(e.to_string(), "f.tsv: line 2: field `side`: `them`, expected `author` or `ours`");
        let e = parse(&format!("# c\n{HEAD}d\tc\tw\tx\tours\ta\t2\t-1\t\n"), "f.tsv").unwrap_err();
        assert!(e.to_string().starts_with("f.tsv: line 3: field `seconds`"), "{e}");
        let e = parse(&format!("{HEAD}d\tc\tw\tx\tauthor\ta\t1\t1\t\n"), "f.tsv").unwrap_err();
        assert!(e.to_string().contains("field `threads`"), "{e}");
        let e = parse("a\tb\n", "f.tsv").unwrap_err();
        assert!(e.to_string().starts_with("f.tsv: line 1: the header"), "{e}");
        let e = parse(&format!("{HEAD}d\tc\tw\tx\tours\ta\t2\t5..4\t\n"), "f.tsv").unwrap_err();
        assert!(e.to_string().contains("lo..hi"), "{e}");
    }
}
