#!/usr/bin/env bash
# How long `joulebench run --dry-run` takes on plans whose matrix multiplies out to many
# workloads (the expansion must stay linear), and that an absurd one is refused at once.
# Usage: bench/plan_expansion.sh [build folder]   (medians of 3 runs each)
set -euo pipefail
build=${1:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
plan() {  # plan SIDE: a SIDE x SIDE matrix, 1 repetition, no warm-up
  local side=$1 values
  values=$(seq -s, 1 "$side")
  printf '[campaign]\nname = "m"\nrepetitions = 1\nwarmup = 0\n[[workload]]\nname = "w"\nframework = "f"\nmodel = "m"\nphase = "p"\ncommand = ["true", "{a}", "{b}"]\nmatrix = { a = [%s], b = [%s] }\n' "$values" "$values" > "$work/p$side.toml"
}
median_of_3() {
  local times=()
  for _ in 1 2 3; do
    local start end
    start=$(date +%s.%N)
    "$build/joulebench" run "$1" --db "$work/x.db" --dry-run > /dev/null 2>"$work/err" || true
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}
for side in 100 200 316 400 1000; do
  plan "$side"
  t=$(median_of_3 "$work/p$side.toml")
  echo "matrix ${side}x${side} ($((side * side)) workloads): ${t} s  $(head -c 160 "$work/err")"
done
