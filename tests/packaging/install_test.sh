#!/usr/bin/env bash
# Install.IntoAPrefix: `cmake --install` into a temporary prefix installs what a user needs and
# nothing else (no test program, no benchmark), the installed joulebench finds its helpers in
# libexec/joulebench, a project of its own finds the workload headers and the in-program API's
# library with find_package(joulebench), and /usr/bin/python3 imports the installed `joulebench`.
# The Monitors read a fake powercap zone whose counter a background loop advances.
#   install_test.sh BUILD_DIR CONSUMER_SOURCE CXX_COMPILER FILE...
#   FILE: a path, relative to the prefix, that must be installed.
set -euo pipefail
build=$1 consumer=$2 cxx=$3
shift 3
work=$(mktemp -d "$build/install-test.XXXXXX")
counter=
cleanup() {
  if [[ -n $counter ]]; then kill "$counter" 2>/dev/null || true; wait "$counter" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
prefix=$work/prefix
failed=0

cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; exit 1; }

for file in "$@"; do
  [[ -e $prefix/$file ]] || { echo "not installed: $file"; failed=1; }
done
# The library and the CMake package are in the configured libdir: lib/, or lib/<multiarch>/ for /usr.
while read -r file; do
  case $file in
    bin/joulebench | libexec/joulebench/* | share/man/man1/joulebench*.1 | \
      share/bash-completion/completions/joulebench | include/joulebench/* | share/doc/joulebench/* | \
      lib/libjoulebench.so* | lib/*-linux-gnu/libjoulebench.so* | lib/cmake/joulebench/* | \
      lib/*-linux-gnu/cmake/joulebench/* | lib/python3*/dist-packages/joulebench/*) ;;
    *) echo "installed, but not for users: $file"; failed=1 ;;
  esac
done < <(cd "$prefix" && find . ! -type d | sed 's|^\./||')

# The installed binary runs a helper from ../libexec/joulebench (catalog: find_helper).
"$prefix/bin/joulebench" workload cpu-load --iterations 1 --threads 1 >/dev/null ||
  { echo "the installed joulebench cannot run its cpu-load workload"; failed=1; }

# A fake sysfs with one powercap zone (package-0: the cpu domain), its energy_uj rewritten in place
# (fixed width, same inode) every 10 ms, 0.1 J a step: the Monitors below measure some energy.
export JOULEBENCH_SYSFS_ROOT=$work/sysfs
zone=$JOULEBENCH_SYSFS_ROOT/class/powercap/intel-rapl:0
mkdir -p "$zone"
echo package-0 >"$zone/name"
echo 262143328850 >"$zone/max_energy_range_uj"
printf '%20d\n' 1000000 >"$zone/energy_uj"
(
  energy=1000000
  while :; do
    energy=$((energy + 100000))
    printf '%20d\n' "$energy" 1<>"$zone/energy_uj"
    sleep 0.01
  done
) &
counter=$!

# A user's project: find_package(joulebench); joulebench::events, #include "joulebench/events.hpp";
# joulebench::meter, #include "joulebench/monitor.hpp", which prints its window's `time_s total_j`.
if cmake -S "$consumer" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
     -DCMAKE_CXX_COMPILER="$cxx" >"$work/consumer.log" 2>&1 &&
   cmake --build "$work/consumer" >>"$work/consumer.log" 2>&1; then
  grep -q "joulebench 0\..* from $prefix/" "$work/consumer.log" ||
    { echo "find_package(joulebench) found another joulebench:"; grep "joulebench" "$work/consumer.log"; failed=1; }
  ldd "$work/consumer/consumer" >"$work/ldd.txt"
  grep -q "libjoulebench\.so.* => $prefix/" "$work/ldd.txt" ||
    { echo "the consumer does not use the installed libjoulebench:"; cat "$work/ldd.txt"; failed=1; }
  if JOULEBENCH_EVENTS_FD=3 "$work/consumer/consumer" 3>"$work/events.jsonl" >"$work/consumer.out"; then
    grep -q '"region":"work"' "$work/events.jsonl" ||
      { echo "the consumer wrote no events:"; cat "$work/events.jsonl"; failed=1; }
    # With an events descriptor, a Monitor's windows are regions as well.
    grep -q '"region":"inner"' "$work/events.jsonl" ||
      { echo "the consumer's Monitor window is no region in its events:"; cat "$work/events.jsonl"; failed=1; }
    # time_s total_j: 0.3 s of sleep, some energy.
    awk 'NF == 2 && $1 >= 0.29 && $1 < 2 && $2 > 0 { ok = 1 } END { exit !ok }' "$work/consumer.out" ||
      { echo "the consumer's Monitor measured no energy over 0.3 s (time_s total_j):"; cat "$work/consumer.out"; failed=1; }
  else
    echo "the consumer failed:"; cat "$work/consumer.out"; failed=1
  fi
else
  echo "the consumer project does not build against the installed joulebench:"
  cat "$work/consumer.log"
  failed=1
fi

# `import joulebench` from the prefix alone (not the build's python/), by Debian's Python, outside
# the source tree. Built with JOULEBENCH_PYTHON=OFF there is none (when it is on, the FILEs name it).
pythonpath=$(shopt -s nullglob; echo "$prefix"/lib/python3*/dist-packages)
if [[ -n $pythonpath ]] && ! (cd "$work" && PYTHONPATH=$pythonpath /usr/bin/python3 -c '
import sys, time
import joulebench
assert joulebench.__file__.startswith(sys.argv[1] + "/"), joulebench.__file__
monitor = joulebench.Monitor(sources=["rapl-powercap"])
with monitor.measure("python") as m:
    time.sleep(0.3)
assert m.time_s >= 0.29 and m.energy_j["cpu"] > 0 and m.sources == {"cpu": "rapl-powercap"}, m.to_json()
' "$prefix" >"$work/python.log" 2>&1); then
  echo "the installed Python package does not work:"
  cat "$work/python.log"
  failed=1
fi
exit $failed
