#!/usr/bin/env bash
# Completion.Bash: the generated completion, sourced in bash, completes commands, a command's
# options, and file names where a file goes.
#   completion_test.sh COMPLETION_FILE
set -uo pipefail  # not -e: a completion function may return non-zero from its tests
completion=$1
# shellcheck source=/dev/null
source "$completion" || { echo "cannot source $completion"; exit 1; }
failed=0

# Completes the last word of the command line given, as bash would on TAB; prints the candidates.
candidates() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _joulebench
  printf '%s\n' "${COMPREPLY[@]}"
}
expect() {  # expect WHAT CANDIDATE WORD...: CANDIDATE is among the completions of WORD...
  local what=$1 candidate=$2
  shift 2
  local got
  got=$(candidates "$@")
  grep -qx -- "$candidate" <<<"$got" || { echo "'$*<TAB>' ($what) offers no '$candidate', only: ${got//$'\n'/ }"; failed=1; }
}

expect "a command" measure joulebench me
[[ $(candidates joulebench mea) == measure ]] || { echo "'joulebench mea<TAB>' offers more than measure"; failed=1; }
expect "an option" --interval joulebench measure --
expect "an option" --output joulebench measure --interval 1s --o
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/plan.toml"
cd "$work" || exit 1
expect "a file" plan.toml joulebench run pl
expect "a file" plan.toml joulebench measure --output pl
exit $failed
