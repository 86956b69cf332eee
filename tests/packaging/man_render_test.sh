#!/usr/bin/env bash
# Man.RendersWithoutWarnings: every generated page renders with groff (all warnings on) and with
# man -l (man-db, as `man joulebench-measure` will), with no warning.
#   man_render_test.sh MAN_DIR
set -euo pipefail
dir=$1
command -v groff >/dev/null || command -v man >/dev/null || { echo "neither groff nor man installed"; exit 77; }
failed=0
for page in "$dir"/*.1; do
  if command -v groff >/dev/null; then
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    [[ -z $warnings ]] || { echo "groff: $page:"; echo "$warnings"; failed=1; }
  fi
  if command -v man >/dev/null; then
    text=$(MANWIDTH=80 MANPAGER=cat man --warnings=all -l "$page" 2>"$page.warnings") || failed=1
    [[ ! -s $page.warnings ]] || { echo "man -l: $page:"; cat "$page.warnings"; failed=1; }
    rm -f "$page.warnings"
    [[ $text == *NAME*OPTIONS* ]] || { echo "man -l $page renders no NAME and OPTIONS"; failed=1; }
  fi
done
exit $failed
