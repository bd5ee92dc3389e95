//! Markdown tables and number formatting for reports.

/// A table rendered as GitHub-flavoured Markdown by [`Table::to_markdown`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Optional title, written in bold on the line above the table.
    pub title: Option<String>,
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows of cells; short rows are padded with empty cells.
    pub rows: Vec<Vec<String>>,
    /// Notes written as a bullet list after the table.
    pub notes: Vec<String>,
}

impl Table {
    /// A table with these headers and no rows.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            ..Table::default()
        }
    }

    /// Appends a row.
    pub fn push_row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Renders the table: pipes aligned (cells padded to the column width),
    /// numeric columns right-aligned, `|` and newlines in cells escaped,
    /// then the notes as a list. Title, cells and notes show the field's
    /// symbols with `<sub>` subscripts ([`crate::symbols::markdown`]). Ends with a newline.
    pub fn to_markdown(&self) -> String {
        let ncols = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0);
        let cell = |row: &[String], j: usize| escape(row.get(j).map(String::as_str).unwrap_or(""));
        let header: Vec<String> = (0..ncols).map(|j| cell(&self.headers, j)).collect();
        let body: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| (0..ncols).map(|j| cell(r, j)).collect())
            .collect();
        let width = |j: usize| {
            body.iter()
                .map(|r| r[j].chars().count())
                .chain([header[j].chars().count(), 3])
                .max()
                .unwrap_or(3)
        };
        let widths: Vec<usize> = (0..ncols).map(width).collect();
        let numeric: Vec<bool> = (0..ncols)
            .map(|j| {
                body.iter().any(|r| !r[j].is_empty())
                    && body.iter().all(|r| r[j].is_empty() || looks_numeric(&r[j]))
            })
            .collect();

        let mut out = String::new();
        if let Some(t) = &self.title {
            out.push_str(&format!("**{}**\n\n", crate::symbols::markdown(t.trim())));
        }
        if ncols > 0 {
            out.push_str(&line(&header, &widths, &numeric));
            let sep: Vec<String> = (0..ncols)
                .map(|j| {
                    if numeric[j] {
                        format!("{}:", "-".repeat(widths[j] - 1))
                    } else {
                        "-".repeat(widths[j])
                    }
                })
                .collect();
            out.push_str(&format!("| {} |\n", sep.join(" | ")));
            for r in &body {
                out.push_str(&line(r, &widths, &numeric));
            }
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                out.push_str(&format!("- {}\n", crate::symbols::markdown(n.trim()).replace('\n', " ")));
            }
        }
        out
    }
}

/// One table line with cells padded (right-aligned where numeric).
fn line(cells: &[String], widths: &[usize], numeric: &[bool]) -> String {
    let padded: Vec<String> = cells
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let pad = " ".repeat(widths[j] - c.chars().count());
            if numeric[j] {
                format!("{pad}{c}")
            } else {
                format!("{c}{pad}")
            }
        })
        .collect();
    format!("| {} |\n", padded.join(" | "))
}

/// A cell as Markdown: the field's symbols typeset ([`crate::symbols::markdown`]),
/// `|` and newlines escaped.
fn escape(s: &str) -> String {
    crate::symbols::markdown(s).replace('|', "\\|").replace('\n', " ")
}

fn looks_numeric(s: &str) -> bool {
    let t = s.trim().trim_end_matches('%');
    matches!(t, "NaN" | "inf" | "-inf") || t.parse::<f64>().is_ok()
}

/// `x` with `sig` significant digits (at least 1). Plain notation for
/// `1e-4 <= |x| < 1e6`, otherwise scientific like `1.23e-7`. Trailing zeros
/// are kept (they are significant). NaN is `"NaN"`, infinities `"inf"` and
/// `"-inf"`, and zero (also -0) is `"0"`.
pub fn fmt_sig(x: f64, sig: usize) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let sig = sig.max(1);
    // Rust's `{:e}` rounds correctly, so its exponent is the one after rounding.
    let sci = format!("{:.*e}", sig - 1, x);
    let exp: i32 = sci
        .rsplit('e')
        .next()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    if !(-4..6).contains(&exp) {
        return sci;
    }
    // Format the rounded value so that e.g. 123.4 at 2 digits reads "120".
    let rounded: f64 = sci.parse().unwrap_or(x);
    let decimals = (sig as i32 - 1 - exp).max(0) as usize;
    format!("{:.*}", decimals, rounded)
}

/// "1 seed (42)", "4 seeds (42-45)", "3 seeds (0, 2, 7)": how many seeds
/// and which, for titles and notes (a run of consecutive seeds as a range).
pub fn seeds_text(seeds: &[u64]) -> String {
    let list = match seeds {
        [] => return "no seeds".into(),
        [one] => return format!("1 seed ({one})"),
        [first, .., last] if seeds.windows(2).all(|w| w[1] == w[0] + 1) => format!("{first}-{last}"),
        _ => seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
    };
    format!("{} seeds ({list})", seeds.len())
}

/// A fraction as a percentage with `decimals` decimals: `fmt_pct(0.1234, 1)`
/// is `"12.3%"`. Non-finite values are spelled out as in [`fmt_sig`].
pub fn fmt_pct(fraction: f64, decimals: usize) -> String {
    if !fraction.is_finite() {
        return fmt_sig(fraction, 1);
    }
    let s = format!("{:.*}", decimals, fraction * 100.0);
    // "-0.0" would suggest a sign that the rounded value does not have.
    let s = if s
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s
    };
    format!("{s}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_counted_and_named() {
        assert_eq!(seeds_text(&[42]), "1 seed (42)");
        assert_eq!(seeds_text(&[42, 43, 44, 45]), "4 seeds (42-45)");
        assert_eq!(seeds_text(&[0, 2, 7]), "3 seeds (0, 2, 7)");
        assert_eq!(seeds_text(&[]), "no seeds");
    }

    #[test]
    fn sig_formatting() {
        assert_eq!(fmt_sig(1.23456, 3), "1.23");
        assert_eq!(fmt_sig(0.5, 3), "0.500");
        assert_eq!(fmt_sig(9.996, 3), "10.0");
        assert_eq!(fmt_sig(123.456, 2), "120");
        assert_eq!(fmt_sig(-0.00123, 2), "-0.0012");
        assert_eq!(fmt_sig(1.234e-7, 3), "1.23e-7");
        assert_eq!(fmt_sig(6.02e23, 3), "6.02e23");
        assert_eq!(fmt_sig(999_999.0, 3), "1.00e6");
        assert_eq!(fmt_sig(f64::NAN, 3), "NaN");
        assert_eq!(fmt_sig(f64::INFINITY, 3), "inf");
        assert_eq!(fmt_sig(f64::NEG_INFINITY, 3), "-inf");
        assert_eq!(fmt_sig(-0.0, 3), "0");
        assert_eq!(fmt_sig(42.0, 0), "40");
    }

    #[test]
    fn pct_formatting() {
        assert_eq!(fmt_pct(0.1234, 1), "12.3%");
        assert_eq!(fmt_pct(1.0, 0), "100%");
        assert_eq!(fmt_pct(-0.00001, 1), "0.0%");
        assert_eq!(fmt_pct(f64::NAN, 1), "NaN");
    }

    #[test]
    fn markdown_is_aligned() {
        let mut t = Table::new(["model", "r", "ratio"]);
        t.title = Some("Radii".into());
        t.push_row(["mlp", "0.5", "1.2"]);
        t.push_row(["a|b", "12.25"]);
        t.notes.push("r is the convergence radius".into());
        let md = t.to_markdown();
        let expected = "**Radii**\n\n\
            | model |     r | ratio |\n\
            | ----- | ----: | ----: |\n\
            | mlp   |   0.5 |   1.2 |\n\
            | a\\|b  | 12.25 |       |\n\
            \n- r is the convergence radius\n";
        assert_eq!(md, expected);
        let widths: Vec<usize> = md
            .lines()
            .skip(2)
            .take(4)
            .map(|l| l.chars().count())
            .collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{md}");
    }
}
