#!/bin/sh
# The whole release procedure on the embedded example project, on this machine:
# prepare → 1.0.0 staging → production → 2.0.0 staging → production →
# 3.0.0 fails smoke on staging and is rolled back (and production refuses it) → status → ledger verify.
set -eu
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export RELKIT_DEMO_ROOT="${RELKIT_DEMO_ROOT:-$(mktemp -d /tmp/relkit-demo.XXXXXX)}"
export RELKIT_STATE_DIR="$RELKIT_DEMO_ROOT/state"
export RELKIT_USER="${RELKIT_USER:-ops-demo}"
relkit() { "$VENV/bin/relkit" -C examples/project "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
expect() { want=$1; shift; rc=0; "$@" || rc=$?; [ "$rc" -eq "$want" ] || { echo "expected exit $want, got $rc: $*" >&2; exit 1; }; }
health() { for port in "$@"; do printf '  127.0.0.1:%s/health → ' "$port"; "$VENV/bin/python" -c \
  "import json,urllib.request,sys; print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1], timeout=5))))" \
  "http://127.0.0.1:$port/health"; done; }
stop_apps() { for d in "$RELKIT_DEMO_ROOT"/*/*/; do [ -f "$d/shared/app.pid" ] && \
  "$VENV/bin/python" "$d/current/app.py" stop --pidfile "$d/shared/app.pid" >/dev/null 2>&1; done; true; }
trap stop_apps EXIT

step "build the example app's artifacts (1.0.0, 2.0.0, 3.0.0)"
"$VENV/bin/python" examples/build_artifacts.py --check-manifests examples/project

step "validate the manifests"
for v in 1.0.0 2.0.0 3.0.0; do relkit validate "examples/project/releases/$v.yml"; done

step "prepare staging and production (layout + host requirements)"
relkit prepare --env staging --manifest examples/project/releases/1.0.0.yml
relkit prepare --env production --manifest examples/project/releases/1.0.0.yml

step "1.0.0 → staging, then production"
relkit deploy examples/project/releases/1.0.0.yml --env staging
relkit deploy examples/project/releases/1.0.0.yml --env production
health 18081 18091 18092

step "2.0.0 → production is refused: it has not passed staging yet (exit 3)"
expect 3 relkit deploy examples/project/releases/2.0.0.yml --env production

step "2.0.0 → staging, then production"
relkit deploy examples/project/releases/2.0.0.yml --env staging
relkit deploy examples/project/releases/2.0.0.yml --env production
health 18081 18091 18092

step "3.0.0 → staging fails its smoke test and is rolled back automatically (exit 4)"
expect 4 relkit deploy examples/project/releases/3.0.0.yml --env staging
health 18081

step "a manual rollback of production (who and why are required and recorded)"
relkit rollback --env production --by alice --reason "demo: PO asked to go back to 1.0.0"
health 18091 18092
relkit deploy examples/project/releases/2.0.0.yml --env production

step "status and ledger"
relkit status
relkit ledger verify

step "where things are"
echo "  hosts (deploy paths):  $RELKIT_DEMO_ROOT/{staging,production}/<host>"
echo "  ledger (SQLite):       $RELKIT_STATE_DIR/ledger.db   (relkit -C examples/project ledger show)"
echo "  run artifacts/logs:    $RELKIT_STATE_DIR/runs/"
echo "  app logs:              $RELKIT_DEMO_ROOT/<env>/<host>/shared/log/app.log"
echo "  (the demo apps are stopped on exit; RELKIT_DEMO_ROOT=... re-runs in the same place)"
