#!/usr/bin/env bash
# bench.sh - time our side of the speed comparison with the author's code.
#
# Usage: tools/bench.sh [ID ...]   (default: temperature-fingerprint
#        random-directions lr-spike arch-grid)
# Builds the release binary, then runs each experiment in a scratch root
# with configs/bench/<id>.yaml when it exists (the author's canonical work;
# otherwise the paper config), at 2 threads and at 1 thread
# (RAYON_NUM_THREADS=1; most of the author's scripts pin torch to one
# thread), and prints one TSV row per run: id, threads, wall seconds.
# Nothing else should load the machine. The author's side: check out
# github.com/piyush314/ghosts-of-softmax and run each experiment's canonical
# command (its contract.json) with --device cpu, in the same sitting.
set -euo pipefail
cd "$(dirname "$0")/.."
# Ask cargo where the binary is (CARGO_TARGET_DIR may move it).
g=$(cargo build --release --locked -p ghosts --bin ghosts --message-format=json-render-diagnostics |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$g" ] || { echo "bench.sh: cargo built no ghosts binary" >&2; exit 1; }
ids=("$@")
[ ${#ids[@]} -gt 0 ] || ids=(temperature-fingerprint random-directions lr-spike arch-grid)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
cp -r configs datasets "$root"/
printf 'id\tthreads\tseconds\n'
for id in "${ids[@]}"; do
  cfg=()
  [ -f "configs/bench/$id.yaml" ] && cfg=(--config "$root/configs/bench/$id.yaml")
  for threads in 2 1; do
    rm -rf "$root/results/$id"
    start=$(date +%s.%N)
    RAYON_NUM_THREADS=$threads "$g" run "$id" "${cfg[@]}" --root "$root" >/dev/null
    end=$(date +%s.%N)
    awk -v id="$id" -v t="$threads" -v a="$start" -v b="$end" \
      'BEGIN { printf "%s\t%d\t%.2f\n", id, t, b - a }'
  done
done
