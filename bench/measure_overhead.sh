#!/usr/bin/env bash
# Slowdown of a CPU-bound command under `joulebench measure`, against the bare command, side by side
# in one hyperfine run (the command keeps every core busy, so the sampler competes with it).
#
#   bench/measure_overhead.sh [MILLION_ITERATIONS_PER_THREAD] [RUNS]
# The default work takes about 10 s on the 2-core development machine.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-1400}
runs=${2:-5}
threads=$(nproc)
load="build/joulebench-cpu-load --iterations $work --threads $threads"
out=build/bench-measure-overhead.json
hyperfine --warmup 1 --runs "$runs" --export-json "$out" \
  -n bare "$load" \
  -n "measure 100ms" "build/joulebench measure --interval 100ms -o /dev/null -- $load" \
  -n "measure 10ms" "build/joulebench measure --interval 10ms -o /dev/null -- $load" \
  -n "measure 1ms" "build/joulebench measure --interval 1ms -o /dev/null -- $load"
python3 - "$out" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
bare = statistics.median(results[0]["times"])
print(f"\n{'command':<16}{'median (s)':>12}{'slowdown':>11}")
for r in results:
    m = statistics.median(r["times"])
    print(f"{r['command']:<16}{m:>12.3f}{(m / bare - 1) * 100:>10.2f}%")
PY
