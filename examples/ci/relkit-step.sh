#!/bin/sh
# One relkit command in a CI job: the JSON envelope saved to relkit-COMMAND.json, the outcome
# said in words from it, and the job's result taken from relkit's exit code (docs/ci.md).
#
#   ci/relkit-step.sh deploy "releases/$VERSION.yml" --env staging
#
# Exit codes: 0 done · 1 unexpected error · 2 bad input · 3 blocked by a gate ·
# 4 play failed · 5 rollback failed · 6 locked (retried: RELKIT_LOCK_TRIES times,
# RELKIT_LOCK_WAIT seconds apart; defaults 5 and 60).
set -u
command -v jq >/dev/null || { echo "relkit-step: jq is needed" >&2; exit 1; }
out="relkit-$1.json"
tries=${RELKIT_LOCK_TRIES:-5}
while :; do
  rc=0
  relkit --output json --yes "$@" >"$out" || rc=$?
  [ "$rc" -eq 6 ] && [ "$tries" -gt 1 ] || break
  echo "locked: $(jq -r '.error.message' "$out"); retrying in ${RELKIT_LOCK_WAIT:-60} s" >&2
  tries=$((tries - 1))
  sleep "${RELKIT_LOCK_WAIT:-60}"
done
case $rc in
  0) jq -r '"relkit \(.command): done"' "$out" ;;
  2) jq -r '"bad input: \(.error.message)", (.error.problems[] | "  - \(.)")' "$out" ;;
  3) jq -r '"blocked: \(.error.message)",
            (.error.gates.gates[]? | select(.passed | not) | "  \(.name): \(.reason) -> \(.remedy)")' "$out" ;;
  4) jq -r '"play failed: \(.error.message)",
            (.result.hosts // {} | to_entries[] | "  \(.key): \(.value)"),
            (.result.rolled_back // {} | to_entries[] | "  rolled back \(.key) to \(.value)")' "$out" ;;
  5) jq -r '"ROLLBACK FAILED, hosts need a person: \(.error.message)"' "$out" ;;
  6) jq -r '"still locked, run the job again later: \(.error.message)"' "$out" ;;
  *) jq -r '"unexpected error: \(.error.message) (debug log on the runner: \(.error.log))"' "$out" ;;
esac >&2
exit "$rc"
