#!/usr/bin/env bash
# Man.PagePerCommand: the build wrote joulebench.1 and a page for every command `joulebench --help`
# lists, each naming that command's options.
#   man_pages_test.sh JOULEBENCH MAN_DIR
set -euo pipefail
joulebench=$1 dir=$2
failed=0
mapfile -t commands < <("$joulebench" --help | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
((${#commands[@]} > 5)) || { echo "joulebench --help lists ${#commands[@]} commands"; exit 1; }
[[ -f $dir/joulebench.1 ]] || { echo "no $dir/joulebench.1"; failed=1; }
for command in "${commands[@]}"; do
  page=$dir/joulebench-$command.1
  if [[ ! -f $page ]]; then
    echo "no man page for 'joulebench $command' ($page)"
    failed=1
  elif ! grep -q '\\fB\\-h\\fR, \\fB\\-\\-help\\fR' "$page"; then
    echo "$page lists no options"
    failed=1
  fi
done
grep -q '\\fB\\-\\-interval\\fR \\fIDURATION' "$dir/joulebench-measure.1" ||
  { echo "joulebench-measure.1 does not describe --interval"; failed=1; }
# Hidden commands are not documented.
for page in "$dir"/joulebench-*.1; do
  name=${page##*/joulebench-}
  printf '%s\n' "${commands[@]}" | grep -qx "${name%.1}" || { echo "a page for no listed command: $page"; failed=1; }
done
exit $failed
