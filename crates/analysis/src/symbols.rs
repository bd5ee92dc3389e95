//! The field's symbols in figure and report text: experiments write names
//! the way code and tables spell them (`rho_a`, `tau_H`, `Delta_a`), and
//! every figure and the report show them as the paper does: ρ with a real
//! subscript a, τ with subscript H, Δ with subscript a.
//!
//! Three steps share one notion of a subscript (see [`subscript_at`]):
//! * [`greek`]: spelled-out Greek names that stand as words become their
//!   symbols (`rho_a` → `ρ_a`; the `_` stays as subscript markup);
//! * [`math`] (figures): [`greek`] plus typeset notation (≥, ², √, ±, ×);
//!   the figure renderer then draws each `_x` as a smaller, lowered glyph
//!   run ([`runs`]);
//! * [`markdown`] (report and tables): [`greek`] with each subscript as
//!   `<sub>x</sub>`, code spans left alone.
//!
//! A subscript is written `_` plus 1 to 6 letters or digits after a base
//! of one or two letters (a Greek symbol counts as one) that starts a
//! word, in a word with no other `_`: `ρ_a`, `τ_H`, `T_15`, `lr_eff`,
//! `r_T`. Identifiers stay as they are (`flip_r1_grad`, `onset_spread`,
//! `mlp_ln`).

/// Spelled-out names and their symbols, longest first where one is a
/// prefix of another.
const SYMBOLS: &[(&str, &str)] = &[
    ("Delta", "Δ"),
    ("delta_a", "Δ_a"),
    ("delta", "δ"),
    ("rho", "ρ"),
    ("tau", "τ"),
    ("sigma", "σ"),
    ("theta", "θ"),
    ("lambda", "λ"),
    ("eta", "η"),
    ("pi", "π"),
];

/// `text` with every spelled-out Greek name that stands as a word replaced
/// by its symbol: the name must not follow a letter or digit, and must not
/// be followed by a letter (a digit or `_` may follow: `eta0` → `η0`,
/// `tau_H` → `τ_H`). Other words are left alone (`spike`, `beta1`, `pivot`).
/// `delta_a` is the paper's spread Δ_a like `Delta_a`.
///
/// ```
/// assert_eq!(analysis::symbols::greek("r = tau / rho_a"), "r = τ / ρ_a");
/// assert_eq!(analysis::symbols::greek("Delta_a(T), spike, tau_H"), "Δ_a(T), spike, τ_H");
/// ```
pub fn greek(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    'scan: while let Some(c) = rest.chars().next() {
        if !prev.is_some_and(|p| p.is_alphanumeric() || p == '`') {
            for (name, symbol) in SYMBOLS {
                if let Some(after) = rest.strip_prefix(name) {
                    if !after.chars().next().is_some_and(|n| n.is_alphabetic()) {
                        out.push_str(symbol);
                        prev = name.chars().last();
                        rest = after;
                        continue 'scan;
                    }
                }
            }
        }
        out.push(c);
        prev = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// If `chars[i]` is the `_` of a subscript (see the module docs), the
/// length of the subscript after it.
pub fn subscript_at(chars: &[char], i: usize) -> Option<usize> {
    if chars.get(i) != Some(&'_') {
        return None;
    }
    // Superscripts (Δ_a³) end a subscript: they are typeset, not lowered.
    let sub = |c: &char| c.is_alphanumeric() && !"⁰¹²³⁴⁵⁶⁷⁸⁹ˣᵀ".contains(*c);
    let word = |c: &char| sub(c) || *c == '_';
    // The base: one or two letters that start a word.
    let mut b = i;
    while b > 0 && chars[b - 1].is_alphabetic() {
        b -= 1;
    }
    let base = i - b;
    if !(1..=2).contains(&base) || (b > 0 && word(&chars[b - 1])) {
        return None;
    }
    let n = chars[i + 1..].iter().take_while(|c| sub(c)).count();
    let end = i + 1 + n;
    if !(1..=6).contains(&n) || chars.get(end).is_some_and(word) {
        return None;
    }
    Some(n)
}

/// Plain-text notation and its typeset form, applied after [`greek`] by
/// [`math`].
const NOTATION: &[(&str, &str)] = &[
    (">=", "≥"),
    ("<=", "≤"),
    ("^2", "²"),
    ("^3", "³"),
    ("^x", "ˣ"),
    ("sqrt", "√"),
    ("vHv", "vᵀHv"),
    ("+-", "±"),
    ("->", "→"),
    (" x ", " × "),
    ("η0", "η_0"),
];

/// `text` typeset for a figure: Greek names as symbols ([`greek`]),
/// `>=`/`<=` as ≥/≤, squares and cubes as superscripts, `sqrt` as √; a
/// subscript stays written `_x`, which the renderer draws as a subscript
/// ([`runs`]).
///
/// ```
/// assert_eq!(analysis::symbols::math("|T_15(x)|, sqrt(delta^2 + pi^2), r >= 1"), "|T_15(x)|, √(δ² + π²), r ≥ 1");
/// ```
pub fn math(text: &str) -> String {
    typeset(text, true)
}

/// [`greek`], then [`NOTATION`]; `times` also turns a lone ` x ` into ` × `
/// (right in a figure's short labels, wrong in prose: "at x = R/2").
fn typeset(text: &str, times: bool) -> String {
    let mut t = greek(text);
    for (plain, typeset) in NOTATION {
        if times || *plain != " x " {
            t = t.replace(plain, typeset);
        }
    }
    t
}

/// `text` split into runs of normal text (`false`) and subscripts
/// (`true`), dropping the `_` that marks each subscript; consecutive
/// characters of one kind form one run. Text without subscripts is one run.
///
/// ```
/// use analysis::symbols::runs;
/// assert_eq!(runs("ρ_a = π/Δ_a"), vec![("ρ".to_string(), false), ("a".into(), true), (" = π/Δ".into(), false), ("a".into(), true)]);
/// assert_eq!(runs("flip_r1_grad"), vec![("flip_r1_grad".to_string(), false)]);
/// ```
pub fn runs(text: &str) -> Vec<(String, bool)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut push = |c: char, sub: bool| match out.last_mut() {
        Some((s, k)) if *k == sub => s.push(c),
        _ => out.push((c.to_string(), sub)),
    };
    let mut i = 0;
    while i < chars.len() {
        if let Some(n) = subscript_at(&chars, i) {
            for &c in &chars[i + 1..i + 1 + n] {
                push(c, true);
            }
            i += 1 + n;
        } else {
            push(chars[i], false);
            i += 1;
        }
    }
    out
}

/// `text` for Markdown (the report, tables): Greek names as symbols, the
/// notation of [`math`] typeset (≤, ≥, ±, →, ², √; not ×, since a lone `x`
/// in prose is a variable), each subscript as `<sub>…</sub>`; code spans
/// (between backticks) are left exactly as written.
///
/// ```
/// assert_eq!(analysis::symbols::markdown("tau_H / rho_a in `rho_a`"), "τ<sub>H</sub> / ρ<sub>a</sub> in `rho_a`");
/// ```
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (k, piece) in text.split('`').enumerate() {
        if k > 0 {
            out.push('`');
        }
        if k % 2 == 1 {
            out.push_str(piece);
            continue;
        }
        for (run, sub) in runs(&typeset(piece, false)) {
            if sub {
                out.push_str(&format!("<sub>{run}</sub>"));
            } else {
                out.push_str(&run);
            }
        }
    }
    out
}

/// Where the Markdown `text` (as [`markdown`] writes it) shows Δ without a
/// subscript outside code spans: the paper's Δ is a spread and always
/// carries one (Δ<sub>a</sub>, Δ<sub>yc</sub>), so a bare Δ is a lost
/// subscript ("Delta^3" written for "Delta_a^3"). Each item is the Δ with
/// some text around it; empty when there is none.
///
/// ```
/// assert!(analysis::symbols::bare_deltas("|τ|³ Δ<sub>a</sub>³").is_empty());
/// assert_eq!(analysis::symbols::bare_deltas("|τ|³ Δ³/(18)").len(), 1);
/// ```
pub fn bare_deltas(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (k, piece) in text.split('`').enumerate() {
        if k % 2 == 1 {
            continue;
        }
        for (i, _) in piece.match_indices('Δ') {
            let after = &piece[i + 'Δ'.len_utf8()..];
            if !after.starts_with("<sub>") {
                let from = piece[..i].char_indices().rev().nth(20).map_or(0, |(j, _)| j);
                let to: String = after.chars().take(20).collect();
                out.push(format!("{}Δ{to}", &piece[from..i]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{bare_deltas, greek, markdown, math, runs};

    #[test]
    fn a_bare_delta_is_found_outside_code() {
        assert!(bare_deltas(&markdown("rho_a = pi / max Delta_a, Delta_a^3, (delta + i pi)/Delta_yc")).is_empty());
        assert_eq!(bare_deltas(&markdown("remainder / (|tau|^3 Delta^3/(18 sqrt 3))")).len(), 1);
        assert!(bare_deltas("`Δ` in code").is_empty());
    }

    #[test]
    fn notation_is_typeset() {
        assert_eq!(math("|T_n(x)|"), "|T_n(x)|");
        assert_eq!(math("|g| <= 1, (tau^2/2)"), "|g| ≤ 1, (τ²/2)");
        assert_eq!(math("e^x, 2 / vHv"), "eˣ, 2 / vᵀHv");
        assert_eq!(math("mean +- std, lr x 1000, eta0 = 1e-3, f(x)"), "mean ± std, lr × 1000, η_0 = 1e-3, f(x)");
    }

    #[test]
    fn names_become_symbols_only_as_words() {
        assert_eq!(greek("r = tau / rho_a"), "r = τ / ρ_a");
        assert_eq!(greek("rho_a(T) and Delta_a"), "ρ_a(T) and Δ_a");
        assert_eq!(greek("tau_H / rho_a, eta0"), "τ_H / ρ_a, η0");
        assert_eq!(greek("sigma(pi) = 0.96"), "σ(π) = 0.96");
        for word in ["spike", "beta1", "pivot", "taus", "rhos", "zeta", "capita", "`rho_a`"] {
            assert_eq!(greek(word), word);
        }
        assert_eq!(greek("max tau/rho_a"), "max τ/ρ_a");
    }

    #[test]
    fn subscripts_are_found_and_identifiers_left_alone() {
        let subs = |t: &str| -> Vec<String> {
            runs(&greek(t)).into_iter().filter(|r| r.1).map(|r| r.0).collect()
        };
        assert_eq!(subs("rho_a, tau_H, T_15, r_T, lr_eff, rho_attn"), ["a", "H", "15", "T", "eff", "attn"]);
        for ident in [
            "flip_r1_grad", "onset_spread", "mlp_ln", "rho_a_grad", "x_", "_a", "a_bcdefgh", "fig8_random",
            "stored_onset_std_raw",
        ] {
            assert!(subs(ident).is_empty(), "{ident}: {:?}", subs(ident));
            assert_eq!(runs(ident).concat_text(), ident);
        }
    }

    trait Concat {
        fn concat_text(&self) -> String;
    }
    impl Concat for Vec<(String, bool)> {
        fn concat_text(&self) -> String {
            self.iter().map(|r| r.0.as_str()).collect()
        }
    }

    #[test]
    fn markdown_uses_sub_and_keeps_code() {
        assert_eq!(markdown("rho_a = pi / max Delta_a"), "ρ<sub>a</sub> = π / max Δ<sub>a</sub>");
        assert_eq!(markdown("`tau_H` vs tau_H"), "`tau_H` vs τ<sub>H</sub>");
        assert_eq!(markdown("r = r_target, lr_eff"), "r = r<sub>target</sub>, lr<sub>eff</sub>");
        assert_eq!(markdown("Delta_a^3 / (18 sqrt 3)"), "Δ<sub>a</sub>³ / (18 √ 3)");
        assert_eq!(markdown("|g| <= 1, +-1 pixel, 64->128, at x = R/2, `a<=b`"), "|g| ≤ 1, ±1 pixel, 64→128, at x = R/2, `a<=b`");
        assert_eq!(markdown("fig6_lr_spike, mlp_ln_64x3"), "fig6_lr_spike, mlp_ln_64x3");
        assert_eq!(markdown("mid flip_r1_grad 31%"), "mid flip_r1_grad 31%");
        assert!(!markdown("rho_a, Delta_a, tau_H, r_T").contains('_'));
    }
}
