//! Every figure, table and the report rendered twice from the repository's
//! stored results are byte-identical (PNG and SVG included): rendering
//! depends on nothing but the stored results and the embedded font (no
//! system fonts, no time, no thread timing). And every rendered figure is
//! laid out cleanly: no text cut by the canvas edge, on another text,
//! shortened or below the legible size at print width
//! (`analysis::plot::text_problems`, read from the SVG, whose text sits
//! where the PNG's does), and no marker is cut by a plot's frame
//! (`analysis::plot::marker_problems`).

mod common;

use common::files;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Copy `from` into `to` recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A scratch root holding the repository's stored results and paper
/// numbers, rendered by `ghosts figures`; returns its figures and paper files.
fn render_copy() -> BTreeMap<PathBuf, Vec<u8>> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = tempfile::tempdir().unwrap();
    copy_dir(&repo.join("results"), &root.path().join("results"));
    std::fs::create_dir_all(root.path().join("paper")).unwrap();
    std::fs::copy(
        repo.join("paper/paper-numbers.yaml"),
        root.path().join("paper/paper-numbers.yaml"),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ghosts"))
        .args(["figures", "--root", root.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut out = files(&root.path().join("figures"));
    for (k, v) in files(&root.path().join("paper")) {
        out.insert(Path::new("paper").join(k), v);
    }
    out
}

#[test]
fn rendering_the_stored_results_twice_gives_the_same_bytes() {
    let (a, b) = (render_copy(), render_copy());
    assert!(
        a.keys().any(|k| k.extension().is_some_and(|e| e == "png")),
        "no figure rendered"
    );
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let differ: Vec<&PathBuf> = a.keys().filter(|k| a[*k] != b[*k]).collect();
    assert!(differ.is_empty(), "rendered differently: {differ:?}");
    let mut problems = Vec::new();
    for (path, bytes) in a.iter().filter(|(k, _)| k.extension().is_some_and(|e| e == "svg")) {
        let svg = String::from_utf8_lossy(bytes);
        for p in analysis::plot::text_problems(&svg) {
            problems.push(format!("{}: {p}", path.display()));
        }
        for p in analysis::plot::marker_problems(&svg) {
            problems.push(format!("{}: {p}", path.display()));
        }
    }
    assert!(problems.is_empty(), "{} layout problems:\n{}", problems.len(), problems.join("\n"));
}

/// Every SVG names the face its PNG is drawn with (DejaVu Sans, with a
/// generic fallback), never a bare generic family; the report's prose
/// names no source file or code path of ours (`analysis::report::code_paths`);
/// and no report or table writes Δ without its subscript.
#[test]
fn rendered_figures_name_their_font_and_the_report_names_no_source() {
    let files = render_copy();
    let mut wrong = Vec::new();
    let mut svgs = 0;
    for (path, bytes) in files.iter().filter(|(k, _)| k.extension().is_some_and(|e| e == "svg")) {
        svgs += 1;
        let svg = String::from_utf8_lossy(bytes);
        let families: std::collections::BTreeSet<&str> = svg
            .split("font-family=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        if families.is_empty() || families.iter().any(|f| *f != analysis::style::FONT_FAMILY) {
            wrong.push(format!("{}: {families:?}", path.display()));
        }
    }
    assert!(svgs > 0, "no SVG rendered");
    assert!(analysis::style::FONT_FAMILY.starts_with("DejaVu Sans,"));
    assert!(wrong.is_empty(), "SVG font families other than {:?}: {wrong:?}", analysis::style::FONT_FAMILY);
    let report = String::from_utf8_lossy(&files[Path::new("paper/REPORT.md")]).into_owned();
    let paths = analysis::report::code_paths(&report);
    assert!(paths.is_empty(), "the report names our sources:\n{}", paths.join("\n"));
    // The figures' Δ keeps its subscript (`text_problems`); so does the
    // report's and every table's.
    let mut bare = Vec::new();
    for (path, bytes) in files.iter().filter(|(k, _)| k.extension().is_some_and(|e| e == "md")) {
        for b in analysis::symbols::bare_deltas(&String::from_utf8_lossy(bytes)) {
            bare.push(format!("{}: {b}", path.display()));
        }
    }
    assert!(bare.is_empty(), "Δ without its subscript:\n{}", bare.join("\n"));
}
