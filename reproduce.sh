#!/usr/bin/env bash
# Regenerate every implemented table and figure of the paper.
#   ./reproduce.sh                      paper scale, all experiments
#   ./reproduce.sh --quick              CI-sized settings
#   ./reproduce.sh --only theory,...    a subset (ids: ./target/release/ghosts list)
# Needs only the Rust toolchain. Finished runs are kept under results/, so an
# interrupted reproduction resumes; figures/, paper/tables/ and
# paper/REPORT.md are re-rendered from the stored results at the end.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --locked -p ghosts
start=$(date +%s)
./target/release/ghosts reproduce "$@"
echo "reproduce.sh: total wall time $(( $(date +%s) - start )) s"
