#!/usr/bin/env bash
# `joulebench bench` beside hyperfine on the same commands, side by side in one run (these
# machines are noisy: only the ratios of one run mean something). For each command: the mean time
# each tool reports for it, and each tool's wall time per run (what a user waits: the tool's own
# cost included). joulebench runs with no idle baseline and no cool-down, as hyperfine does.
#
#   bench/bench_vs_hyperfine.sh [RUNS]      (default: 30; needs hyperfine and build/joulebench)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
load=build/joulebench-cpu-load
printf '%-44s %12s %12s %14s %14s\n' command "hf mean(ms)" "jb mean(ms)" "hf wall/run" "jb wall/run"
for cmd in "true" "sleep 0.05" "$load --iterations 20 --threads 1"; do
  start=$(date +%s.%N)
  hyperfine -N --runs "$runs" --warmup 1 --export-json "$work/hf.json" "$cmd" >/dev/null 2>&1
  mid=$(date +%s.%N)
  build/joulebench bench -r "$runs" -w 1 --idle 0s --cooldown 0s --export-json "$work/jb.json" "$cmd" >/dev/null 2>&1
  end=$(date +%s.%N)
  python3 - "$cmd" "$runs" "$start" "$mid" "$end" "$work/hf.json" "$work/jb.json" <<'PY'
import json, sys
cmd, runs, start, mid, end = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6])
hf = json.load(open(sys.argv[6]))["results"][0]["mean"]
jb = json.load(open(sys.argv[7]))["results"][0]["mean"]
label = cmd if len(cmd) <= 44 else cmd[:20] + "..." + cmd[-21:]
print(f"{label:<44} {hf * 1e3:12.2f} {jb * 1e3:12.2f} {(mid - start) / (runs + 1) * 1e3:12.1f}ms {(end - mid) / (runs + 1) * 1e3:12.1f}ms")
PY
done
