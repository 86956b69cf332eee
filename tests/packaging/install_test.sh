#!/usr/bin/env bash
# Install.IntoAPrefix: `cmake --install` into a temporary prefix installs what a user needs and
# nothing else (no test program, no benchmark), the installed joulebench finds its helpers in
# libexec/joulebench, and a project of its own finds the workload headers with
# find_package(joulebench).
#   install_test.sh BUILD_DIR CONSUMER_SOURCE CXX_COMPILER FILE...
#   FILE: a path, relative to the prefix, that must be installed.
set -euo pipefail
build=$1 consumer=$2 cxx=$3
shift 3
work=$(mktemp -d "$build/install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
failed=0

cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; exit 1; }

for file in "$@"; do
  [[ -e $prefix/$file ]] || { echo "not installed: $file"; failed=1; }
done
while read -r file; do
  case $file in
    bin/joulebench | libexec/joulebench/* | share/man/man1/joulebench*.1 | \
      share/bash-completion/completions/joulebench | include/joulebench/* | share/cmake/joulebench/* | \
      share/doc/joulebench/*) ;;
    *) echo "installed, but not for users: $file"; failed=1 ;;
  esac
done < <(cd "$prefix" && find . ! -type d | sed 's|^\./||')

# The installed binary runs a helper from ../libexec/joulebench (catalog: find_helper).
"$prefix/bin/joulebench" workload cpu-load --iterations 1 --threads 1 >/dev/null ||
  { echo "the installed joulebench cannot run its cpu-load workload"; failed=1; }

# A user's project: find_package(joulebench), joulebench::events, #include "joulebench/events.hpp".
if cmake -S "$consumer" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
     -DCMAKE_CXX_COMPILER="$cxx" >"$work/consumer.log" 2>&1 &&
   cmake --build "$work/consumer" >>"$work/consumer.log" 2>&1; then
  grep -q "joulebench 0\..* from $prefix/" "$work/consumer.log" ||
    { echo "find_package(joulebench) found another joulebench:"; grep "joulebench" "$work/consumer.log"; failed=1; }
  JOULEBENCH_EVENTS_FD=3 "$work/consumer/consumer" 3>"$work/events.jsonl"
  grep -q '"region":"work"' "$work/events.jsonl" ||
    { echo "the consumer wrote no events:"; cat "$work/events.jsonl"; failed=1; }
else
  echo "the consumer project does not build against the installed joulebench:"
  cat "$work/consumer.log"
  failed=1
fi
exit $failed
