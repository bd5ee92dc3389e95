#!/usr/bin/env bash
# Regenerate every implemented table and figure of the paper.
#   ./reproduce.sh                      paper scale, all experiments
#   ./reproduce.sh --quick              CI-sized settings
#   ./reproduce.sh --only theory,...    a subset (ids: cargo run --release -p ghosts -- list)
# Needs only the Rust toolchain. Finished runs are kept under results/, so an
# interrupted reproduction resumes; figures/, paper/tables/ and
# paper/REPORT.md are re-rendered from the stored results at the end.
set -euo pipefail
cd "$(dirname "$0")"
# Ask cargo where it put the binary: CARGO_TARGET_DIR or a build.target-dir
# in a cargo config moves it away from ./target.
ghosts=$(cargo build --release --locked -p ghosts --bin ghosts --message-format=json-render-diagnostics |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [ -z "$ghosts" ] || [ ! -x "$ghosts" ]; then
  echo "reproduce.sh: cargo built no ghosts binary" >&2
  exit 1
fi
start=$(date +%s)
"$ghosts" reproduce "$@"
echo "reproduce.sh: total wall time $(( $(date +%s) - start )) s"
