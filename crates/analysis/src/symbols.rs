//! The field's symbols in figure text: experiments write names the way
//! code and tables spell them (`rho_a`, `tau`, `Delta_a`), and every figure
//! shows them as the paper does (ρa, τ, Δa), drawn with the embedded font
//! (DejaVu Sans has the Greek glyphs), so no figure spells Greek out.

/// Spelled-out names and their symbols, longest first where one is a
/// prefix of another.
const SYMBOLS: &[(&str, &str)] = &[
    ("Delta_a", "Δa"),
    ("delta_a", "Δa"),
    ("Delta", "Δ"),
    ("delta", "δ"),
    ("rho_a", "ρa"),
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
///
/// ```
/// assert_eq!(analysis::symbols::greek("r = tau / rho_a"), "r = τ / ρa");
/// assert_eq!(analysis::symbols::greek("Delta_a(T), spike, tau_H"), "Δa(T), spike, τ_H");
/// ```
pub fn greek(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    'scan: while let Some(c) = rest.chars().next() {
        if !prev.is_some_and(|p| p.is_alphanumeric()) {
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
    (" x ", " × "),
    ("η0", "η₀"),
];

/// `text` typeset for a figure: Greek names as symbols ([`greek`]),
/// `>=`/`<=` as ≥/≤, squares and cubes as superscripts, `sqrt` as √, and an
/// index written `_` plus digits or `_n` as a subscript (`T_15` → T₁₅,
/// `T_n` → Tₙ; `tau_H`, `r_T` stay: Unicode has no subscript H or T).
///
/// ```
/// assert_eq!(analysis::symbols::math("|T_15(x)|, sqrt(delta^2 + pi^2), r >= 1"), "|T₁₅(x)|, √(δ² + π²), r ≥ 1");
/// ```
pub fn math(text: &str) -> String {
    const SUB: [char; 10] = ['₀', '₁', '₂', '₃', '₄', '₅', '₆', '₇', '₈', '₉'];
    let mut t = greek(text);
    for (plain, typeset) in NOTATION {
        t = t.replace(plain, typeset);
    }
    let chars: Vec<char> = t.chars().collect();
    let mut out = String::with_capacity(t.len());
    let mut i = 0;
    while i < chars.len() {
        let after_letter = i > 0 && chars[i - 1].is_alphabetic();
        if chars[i] == '_' && after_letter {
            let digits: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            let next = chars.get(i + 1 + digits.len());
            if !digits.is_empty() && !next.is_some_and(|c| c.is_alphabetic()) {
                out.extend(digits.bytes().map(|b| SUB[(b - b'0') as usize]));
                i += 1 + digits.len();
                continue;
            }
            if chars.get(i + 1) == Some(&'n')
                && !chars.get(i + 2).is_some_and(|c| c.is_alphanumeric())
            {
                out.push('ₙ');
                i += 2;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{greek, math};

    #[test]
    fn notation_is_typeset() {
        assert_eq!(math("|T_n(x)|"), "|Tₙ(x)|");
        assert_eq!(math("T_1 and tau_H, r_T, x_2a"), "T₁ and τ_H, r_T, x_2a");
        assert_eq!(math("|g| <= 1, (tau^2/2)"), "|g| ≤ 1, (τ²/2)");
        assert_eq!(math("e^x, 2 / vHv"), "eˣ, 2 / vᵀHv");
        assert_eq!(
            math("mean +- std, lr x 1000, eta0 = 1e-3, f(x)"),
            "mean ± std, lr × 1000, η₀ = 1e-3, f(x)"
        );
    }

    #[test]
    fn names_become_symbols_only_as_words() {
        assert_eq!(greek("r = tau / rho_a"), "r = τ / ρa");
        assert_eq!(greek("rho_a(T) and Delta_a"), "ρa(T) and Δa");
        assert_eq!(greek("tau_H / rho_a, eta0"), "τ_H / ρa, η0");
        assert_eq!(greek("sigma(pi) = 0.96"), "σ(π) = 0.96");
        for word in [
            "spike", "beta1", "pivot", "theta_x2", "taus", "rhos", "zeta", "capita",
        ] {
            let want = if word == "theta_x2" { "θ_x2" } else { word };
            assert_eq!(greek(word), want);
        }
        assert_eq!(greek("max tau/rho_a"), "max τ/ρa");
    }
}
