#!/usr/bin/env bash
# joulebench's own peak memory while it measures a long command at 10 ms, timeline written to a
# file (what a 10-minute run costs). GNU time reports the peak resident set of joulebench; the
# measured command is `sleep`, whose own peak (about 1 MB) is below joulebench's.
#
#   bench/measure_memory.sh [SECONDS]      (default 600: ten minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
/usr/bin/time -f "joulebench peak RSS: %M KiB over %e s" \
  build/joulebench measure --interval 10ms --timeline build/bench-memory-timeline.csv -o build/bench-memory-report.txt -- sleep "$seconds"
echo "timeline rows: $(($(wc -l < build/bench-memory-timeline.csv) - 1))"
