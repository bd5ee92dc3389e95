//! ARCHITECTURE.md's "Adding an experiment" quotes the worked example's
//! code; every quoted block must stand in the named file as written, so the
//! guide cannot drift from the code it teaches.

use std::path::Path;

#[test]
fn worked_example_excerpts_are_the_real_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let marker = "<!-- worked-example: ";
    let mut checked = 0;
    for (at, _) in doc.match_indices(marker) {
        let rest = &doc[at + marker.len()..];
        let file = rest[..rest.find(" -->").expect("marker ends with -->")].trim();
        let block = &rest[rest.find("```rust\n").expect("a rust block follows") + 8..];
        let block = &block[..block.find("```").expect("the block ends")];
        // The block is indented as a list item in the guide.
        let indent = block.len() - block.trim_start().len();
        let code: String = block
            .lines()
            .map(|l| l.get(indent.min(l.len())..).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let source = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("{file} (named in ARCHITECTURE.md): {e}"));
        assert!(
            source.contains(code.trim_end()),
            "ARCHITECTURE.md quotes code that is not in {file}:\n{code}"
        );
        checked += 1;
    }
    assert!(
        checked >= 1,
        "ARCHITECTURE.md has no worked-example excerpt"
    );
}
