#!/usr/bin/env bash
# joulebench's own cost per run of a campaign, outside the workload (spawn, meter threads, output
# collection, store commit, bookkeeping), and its peak memory as the campaign grows: campaigns of
# `true` runs with no idle baseline and no cool-down, 100 then 1000 runs.
#
#   bench/campaign_overhead.sh [RUNS...]      (default: 100 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%8s %12s %14s %16s %14s\n' runs "wall (s)" "in runs (s)" "overhead/run (ms)" "peak RSS (MiB)"
for runs in "${@:-100 1000}"; do
  for n in $runs; do
    cat > "$work/plan.toml" <<PLAN
[campaign]
name = "overhead"
repetitions = $n
warmup = 0
idle = "0s"
cooldown = "0s"

[[workload]]
name = "true"
framework = "none"
model = "none"
phase = "none"
command = ["true"]
PLAN
    rm -rf "$work/runs.db" "$work/runs.db-wal" "$work/runs.db-shm" "$work/runs.db.logs"
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/rss" build/joulebench run "$work/plan.toml" --db "$work/runs.db" 2>/dev/null
    end=$(date +%s.%N)
    in_runs=$(build/joulebench export --db "$work/runs.db" --format csv | python3 -c '
import csv, sys
print(sum(float(r["time_s"]) for r in csv.DictReader(sys.stdin)))')
    python3 - "$n" "$start" "$end" "$in_runs" "$(cat "$work/rss")" <<'PY'
import sys
n, start, end, in_runs, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
wall = end - start
print(f"{n:8d} {wall:12.2f} {in_runs:14.2f} {(wall - in_runs) / n * 1e3:16.2f} {rss / 1024:14.1f}")
PY
  done
done
