#!/usr/bin/env bash
# bench.sh - time our side of the speed comparison with the author's code.
#
# Usage: tools/bench.sh [--record FILE] [--author-times TIMES.tsv] [ID ...]
#   (default IDs: temperature-fingerprint random-directions lr-spike arch-grid)
# Builds the release binary, then runs each experiment in a scratch root
# with configs/bench/<id>.yaml when it exists (the author's canonical work;
# otherwise the paper config), at 2 threads and at 1 thread
# (RAYON_NUM_THREADS=1; most of the author's scripts pin torch to one
# thread), and prints one TSV row per run: id, threads, wall seconds.
#
# --record FILE appends the runs to a sittings file (results/bench/
# sittings.tsv; columns in crates/experiments/src/bench.rs) as one sitting:
# its start time (UTC), this CPU's model and core count, HEAD's commit (with
# "+dirty" when the tree has changes). --author-times adds the author's
# times of the same sitting from a file of `name<TAB>seconds<TAB>exit code`
# rows (the author-side timing script's times.tsv; names temperature,
# random-dirs, lr-spike, archgrid; failed runs are skipped), with the
# author's commit from $AUTHOR_COMMIT. `ghosts bench table` then prints the
# README's tables. Nothing else should load the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
record=""; author_times=""; ids=()
while [ $# -gt 0 ]; do
  case "$1" in
    --record) record=${2:?--record needs a file}; shift 2 ;;
    --author-times) author_times=${2:?--author-times needs a file}; shift 2 ;;
    *) ids+=("$1"); shift ;;
  esac
done
[ ${#ids[@]} -gt 0 ] || ids=(temperature-fingerprint random-directions lr-spike arch-grid)
if [ -n "$author_times" ]; then
  [ -n "$record" ] || { echo "bench.sh: --author-times needs --record" >&2; exit 2; }
  [ -n "${AUTHOR_COMMIT:-}" ] || { echo "bench.sh: set AUTHOR_COMMIT to the author's commit" >&2; exit 2; }
  [ -r "$author_times" ] || { echo "bench.sh: cannot read $author_times" >&2; exit 2; }
fi
# Ask cargo where the binary is (CARGO_TARGET_DIR may move it).
g=$(cargo build --release --locked -p ghosts --bin ghosts --message-format=json-render-diagnostics |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$g" ] || { echo "bench.sh: cargo built no ghosts binary" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
cp -r configs datasets "$root"/
sitting=$(date -u '+%Y-%m-%d %H:%M')
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) logical cores"
commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD || commit="$commit+dirty"
# The work in words, for the table's first column.
declare -A what=(
  [temperature-fingerprint]="temperature fingerprint"
  [random-directions]="random directions"
  [lr-spike]="LR spike"
  [arch-grid]="architecture grid"
  [transformer-radii]="transformer radii"
)
declare -A author_name=([temperature-fingerprint]=temperature [random-directions]=random-dirs
  [lr-spike]=lr-spike [arch-grid]=archgrid [transformer-radii]=transformer)
if [ -n "$record" ] && [ ! -s "$record" ]; then
  printf 'sitting\tcpu\twork\twhat\tside\tcommit\tthreads\tseconds\tnote\n' > "$record"
fi
printf 'id\tthreads\tseconds\n'
for id in "${ids[@]}"; do
  cfg=(); cfgname="configs/$id.yaml"
  if [ -f "configs/bench/$id.yaml" ]; then
    cfg=(--config "$root/configs/bench/$id.yaml"); cfgname="configs/bench/$id.yaml"
  fi
  label="${what[$id]:-$id} ($cfgname)"
  if [ -n "$author_times" ]; then
    name=${author_name[$id]:-$id}
    awk -F'\t' -v n="$name" '$1 == n && $3 == 0 { print $2 }' "$author_times" | while read -r secs; do
      printf '%s\t%s\t%s\t%s\tauthor\t%s\t\t%s\t\n' "$sitting" "$cpu" "$id" "$label" "$AUTHOR_COMMIT" "$secs" >> "$record"
    done
  fi
  for threads in 2 1; do
    rm -rf "$root/results/$id"
    start=$(date +%s.%N)
    RAYON_NUM_THREADS=$threads "$g" run "$id" "${cfg[@]}" --root "$root" >/dev/null
    end=$(date +%s.%N)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    printf '%s\t%d\t%s\n' "$id" "$threads" "$secs"
    if [ -n "$record" ]; then
      printf '%s\t%s\t%s\t%s\tours\t%s\t%d\t%s\t\n' "$sitting" "$cpu" "$id" "$label" "$commit" "$threads" "$secs" >> "$record"
    fi
  done
done
