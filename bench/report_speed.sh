#!/usr/bin/env bash
# How long `joulebench report` takes, figures included, on a campaign of a real frameworks
# campaign's size (goal: under 10 s for 1,000 runs with 10 ms timelines), and its peak memory.
# The campaign is synthetic (bench/report_campaign): 18 workloads, RUNS measured runs, warm-ups,
# two failed runs, a profiled run per workload, a 10 ms power timeline for every run.
#
#   bench/report_speed.sh [RUNS]      (default 1000)
# BUILD (default build) is the build folder with joulebench and bench/report_campaign; OUT
# (default BUILD/bench-report-speed.json) where hyperfine's timings are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000}
build=${BUILD:-build}
out=${OUT:-$build/bench-report-speed.json}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db=$work/campaign.db
report=$work/report

"$build/bench/report_campaign" "$db" --runs "$runs" >&2
# The fixture is a well-formed store: compare reads it as it reads a real one.
"$build/joulebench" compare --db "$db" >/dev/null

# (--help of an unknown subcommand prints the main help and succeeds: the list is what tells.)
if ! grep -qE '^ +report +' <<<"$("$build/joulebench" --help)"; then
  echo "$build/joulebench has no report subcommand yet: the fixture alone was built and checked" >&2
  exit 1
fi

# Every timed run writes a fresh folder, as a first report would.
hyperfine --runs 5 --warmup 1 --prepare "rm -rf $report" --export-json "$out" \
  -n "report, $runs runs" "$build/joulebench report --db $db -o $report" >&2

# GNU time's peak is that of the largest process it waited for: joulebench, or a gnuplot it ran.
rm -rf "$report"
/usr/bin/time -v "$build/joulebench" report --db "$db" -o "$report" >/dev/null 2>"$work/time.txt"
peak_kib=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$work/time.txt")

python3 - "$out" "$runs" "$peak_kib" "$report" <<'PY'
import json, os, statistics, sys
out, runs, peak_kib, report = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
times = json.load(open(out))["results"][0]["times"]
files = [os.path.join(d, f) for d, _, names in os.walk(report) for f in names]
size = sum(os.path.getsize(f) for f in files)
median = statistics.median(times)
print(f"joulebench report, {runs} measured runs with 10 ms timelines:")
print(f"  time:   median {median:.2f} s (min {min(times):.2f}, max {max(times):.2f}, {len(times)} runs); goal under 10 s: "
      f"{'met' if median < 10 else 'NOT met'}")
print(f"  memory: peak resident set {peak_kib / 1024:.0f} MiB (joulebench, or its largest gnuplot)")
print(f"  output: {len(files)} files, {size / 1e6:.1f} MB in the report folder")
print(f"  timings in {out}")
PY
