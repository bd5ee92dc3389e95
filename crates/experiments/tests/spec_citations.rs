//! Every "spec §x" and "spec Cn" cited in the committed report, the README,
//! the architecture notes and the experiments' own text resolves in
//! docs/paper-spec.md (shipped with the repository, so a reader can follow
//! each citation).

use std::path::Path;

fn read(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The `x` of every "spec §x" (x = 6, 6.9, ...) and the `n` of "spec Cn".
fn citations(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut sections, mut controllers) = (Vec::new(), Vec::new());
    for (i, _) in text.match_indices("spec ") {
        let rest = &text[i + 5..];
        if let Some(r) = rest.strip_prefix('§') {
            let x: String = r.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            let x = x.trim_end_matches('.').to_string();
            if !x.is_empty() {
                sections.push(x);
            }
        } else if let Some(r) = rest.strip_prefix('C') {
            let n: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
            if !n.is_empty() {
                controllers.push(n);
            }
        }
    }
    (sections, controllers)
}

#[test]
fn spec_citations_resolve_in_the_shipped_spec() {
    let spec = read("docs/paper-spec.md");
    let has_section = |x: &str| {
        spec.lines().any(|l| {
            let h = l.trim_start_matches('#');
            l.starts_with('#')
                && (h.trim_start().starts_with(&format!("{x} "))
                    || h.trim_start().starts_with(&format!("{x}. ")))
        })
    };
    let has_controller = |n: &str| spec.lines().any(|l| l.starts_with(&format!("C{n}. ")));
    let mut checked = 0;
    for file in ["paper/REPORT.md", "README.md", "ARCHITECTURE.md"] {
        let (sections, controllers) = citations(&read(file));
        for x in &sections {
            assert!(has_section(x), "{file} cites spec §{x}, which docs/paper-spec.md has no heading for");
        }
        for n in &controllers {
            assert!(has_controller(n), "{file} cites spec C{n}, which docs/paper-spec.md does not define");
        }
        checked += sections.len() + controllers.len();
    }
    assert!(checked > 5, "only {checked} citations found: is the pattern still right?");
    // The report says where the spec is.
    assert!(read("paper/REPORT.md").contains("docs/paper-spec.md"));
}

#[test]
fn the_citation_pattern_finds_sections_and_controllers() {
    let (s, c) = citations("as spec §6.9 says (spec §7.) and spec C4; not spec-like §3");
    assert_eq!(s, ["6.9", "7"]);
    assert_eq!(c, ["4"]);
}
