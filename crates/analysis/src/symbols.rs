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

#[cfg(test)]
mod tests {
    use super::greek;

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
