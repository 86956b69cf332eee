#!/usr/bin/env bash
# Version.NamesTheCommit: `joulebench --version` prints the version and the commit of the checkout
# it was built from (or "git unknown" outside one); cmake/BuildCommit.cmake leaves its output
# untouched when the text would not change, so a build with no new commit recompiles nothing.
#   version_test.sh JOULEBENCH SOURCE_DIR VERSION GIT
set -euo pipefail
joulebench=$1 source=$2 version=$3 git=$4
failed=0
out=$("$joulebench" --version)
[[ $out == "joulebench $version ("* ]] || { echo "--version prints '$out', not the version $version"; failed=1; }
top=$("$git" -C "$source" rev-parse --show-toplevel 2>/dev/null || true)
if [[ -n $top && $(realpath "$top") == $(realpath "$source") ]]; then
  head=$("$git" -C "$source" rev-parse --short HEAD)
  [[ $out == *"(git $head"* ]] ||
    { echo "--version prints '$out', not HEAD's commit $head (rebuild after committing)"; failed=1; }
else
  [[ $out == *"(git unknown)" ]] || { echo "--version prints '$out' outside a git checkout"; failed=1; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
generate() { cmake -DSOURCE_DIR="$source" -DOUTPUT="$work/build_commit.cpp" -DGIT="$git" -P "$source/cmake/BuildCommit.cmake"; }
generate
touch -d 2000-01-01 "$work/build_commit.cpp"
generate
[[ $(stat -c %Y "$work/build_commit.cpp") == $(date -d 2000-01-01 +%s) ]] ||
  { echo "BuildCommit.cmake rewrote an unchanged build_commit.cpp (everything would relink on every build)"; failed=1; }
exit $failed
