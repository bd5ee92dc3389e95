//! Every `console` block of README.md, run against the real `ghosts`
//! binary (trycmd): a command example whose printed output differs from the
//! program's fails the suite, so the README cannot drift from the code.
//! Blocks of other languages (`sh`, `rust`) are not run.

#[test]
fn readme_console_examples_match_the_binary() {
    // The README's commands run from the repository root, as a reader runs
    // them (`--file datasets/examples/...`). This file holds one test, so
    // changing the process's directory affects no other.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    std::env::set_current_dir(root).expect("repository root");
    trycmd::TestCases::new()
        .register_bin("ghosts", trycmd::cargo::cargo_bin!("ghosts"))
        .case("README.md");
}
