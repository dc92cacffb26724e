#!/bin/sh
# The whole release procedure (docs/procedure.md) on the embedded example project, on this machine:
# prepare → 1.0.0 staging → production gated by the SOP (approvals, four-eyes, notice, window,
# promotion) → 2.0.0 the same → 3.0.0 fails smoke on staging and is rolled back (production
# refuses it) → manual rollback → PO verification → close waits for monitoring → status → ledger.
set -eu
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
# The project copy (examples/demo_setup.py) names its own state directory and deploy paths under
# RELKIT_DEMO_ROOT: the commands printed at the end work from any shell, with no variable set.
RELKIT_DEMO_ROOT="${RELKIT_DEMO_ROOT:-$(mktemp -d /tmp/relkit-demo.XXXXXX)}"
RELKIT_DEMO_ROOT=$(cd "$RELKIT_DEMO_ROOT" && pwd)
unset RELKIT_STATE_DIR RELKIT_PROJECT
export RELKIT_USER="${RELKIT_USER:-ops-demo}"
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

step "the demo's copy of examples/project: windows moved to now, throwaway QA/PO/ops signing keys"
P=$("$VENV/bin/python" examples/demo_setup.py "$RELKIT_DEMO_ROOT")
R="$P/releases"
KEYS="$RELKIT_DEMO_ROOT/keys"
relkit() { "$VENV/bin/relkit" -C "$P" "$@"; }
cat "$P/allowed_signers"

step "validate the manifests"
for v in 1.0.0 2.0.0 3.0.0; do relkit validate "$R/$v.yml"; done

step "prepare staging and production (layout + host requirements: infra-ready gate)"
relkit prepare --env staging --manifest "$R/1.0.0.yml"
relkit prepare --env production --manifest "$R/1.0.0.yml"

step "1.0.0 → staging (light gates: manifest, plan, artifact)"
relkit deploy "$R/1.0.0.yml" --env staging

step "an unsigned deploy to production is refused: who deploys is proven by a key (exit 3)"
expect 3 relkit deploy "$R/1.0.0.yml" --env production

step "1.0.0 → production, signed by ops, is blocked until every SOP step is done (exit 3)"
expect 3 relkit deploy "$R/1.0.0.yml" --env production --key "$KEYS/ops-demo"

step "QA approves, then the PO (signed with ssh-keygen -Y sign); users are told"
relkit --as sari approve "$R/1.0.0.yml" --role qa --key "$KEYS/sari"
relkit --as dewi approve "$R/1.0.0.yml" --role po --key "$KEYS/dewi"
relkit notify "$R/1.0.0.yml" --kind announcement

step "the PO overrides the short notice for 1.0.0 on production: a signed act, on record"
relkit override "$R/1.0.0.yml" --env production --gate notice_sent --key "$KEYS/dewi" \
  --reason "demo: announced at the kick-off, not 24 h ahead"

step "the QA approver may not deploy what she approved, even signing with her own key (four-eyes, exit 3)"
expect 3 relkit deploy "$R/1.0.0.yml" --env production --key "$KEYS/sari"

step "ops deploys 1.0.0 to production, signed with the ops key"
relkit deploy "$R/1.0.0.yml" --env production --key "$KEYS/ops-demo"
health 18081 18091 18092

step "2.0.0 → staging, approvals, then production"
relkit deploy "$R/2.0.0.yml" --env staging
relkit --as sari approve "$R/2.0.0.yml" --role qa --key "$KEYS/sari"
relkit --as dewi approve "$R/2.0.0.yml" --role po --key "$KEYS/dewi"
relkit notify "$R/2.0.0.yml" --kind announcement --env production
relkit prepare --env production --manifest "$R/2.0.0.yml"
relkit override "$R/2.0.0.yml" --env production --gate notice_sent --key "$KEYS/dewi" \
  --reason "demo: announced at the kick-off, not 24 h ahead"
relkit deploy "$R/2.0.0.yml" --env production --key "$KEYS/ops-demo"
health 18081 18091 18092

step "deploying 2.0.0 to staging again: already live, verified on the host without a play (quick check)"
relkit deploy "$R/2.0.0.yml" --env staging

step "health of 2.0.0 on staging: smoke + health checks, one play (cron/systemd samples: examples/schedule/)"
relkit health --env staging --prom-file "$RELKIT_DEMO_ROOT/relkit-staging.prom"
grep '^relkit_release_info' "$RELKIT_DEMO_ROOT/relkit-staging.prom"

step "3.0.0 → staging fails its smoke test and is rolled back automatically (exit 4)"
expect 4 relkit deploy "$R/3.0.0.yml" --env staging
health 18081
step "... and production refuses it: it never passed staging (exit 3)"
expect 3 relkit deploy "$R/3.0.0.yml" --env production --key "$KEYS/ops-demo"

step "a manual rollback of production (signed by ops, decided by the PO, why recorded; the data is restored)"
relkit rollback --env production --key "$KEYS/ops-demo" --by dewi --reason "demo: PO asked to go back to 1.0.0"
health 18091 18092
relkit deploy "$R/2.0.0.yml" --env production --key "$KEYS/ops-demo"

step "PO verifies 2.0.0 in production; closing waits for the 24 h monitoring window (exit 3)"
relkit --as dewi verify "$R/2.0.0.yml" --env production --key "$KEYS/dewi"
printf 'Went well: staged rollout. To improve: announce 24 h ahead.\n' > "$RELKIT_DEMO_ROOT/retro-2.0.0.md"
expect 3 relkit close "$R/2.0.0.yml" --env production --retro "$RELKIT_DEMO_ROOT/retro-2.0.0.md" \
  --key "$KEYS/dewi"

step "who may sign is on record: rina's key added to allowed_signers counts once the signers admin signs it"
printf 'rina namespaces="relkit-qa" %s\n' "$(cut -d' ' -f1,2 "$KEYS/rina.pub")" >> "$P/allowed_signers"
expect 3 relkit gates "$R/2.0.0.yml" --env staging
relkit signers update --key "$KEYS/dewi" --reason "demo: rina joins QA"
relkit signers show

step "status, data snapshots (taken before each switch, and at each rollback) and ledger (chain and signed acts)"
relkit status
relkit snapshots --env production
relkit ledger verify

step "the hosts witness the ledger: each switch on each host recorded the ledger head it followed"
relkit ledger verify --witnesses production

step "the release report of 2.0.0 (from the manifest and the ledger), Markdown and HTML"
relkit report "$R/2.0.0.yml" --format md -o "$RELKIT_DEMO_ROOT/report-2.0.0.md"
relkit report "$R/2.0.0.yml" --format html -o "$RELKIT_DEMO_ROOT/report-2.0.0.html"
relkit report "$R/2.0.0.yml" --format html --lang id -o "$RELKIT_DEMO_ROOT/laporan-2.0.0.html"
step "the report of 3.0.0 (rolled back on staging, refused by production) opens with the outcome"
relkit report "$R/3.0.0.yml" --out "$RELKIT_DEMO_ROOT/report-3.0.0.md"
sed -n '/^## Outcome$/,/^## Contents$/p' "$RELKIT_DEMO_ROOT/report-3.0.0.md" | sed '$d'

step "where things are"
BIN="$(cd "$(dirname "$VENV/bin/relkit")" && pwd)/relkit"
echo "  hosts (deploy paths):  $RELKIT_DEMO_ROOT/{staging,production}/<host>"
echo "  project copy:          $P  (approvals beside the manifests in releases/*.approvals/)"
echo "  ledger (SQLite):       $RELKIT_DEMO_ROOT/state/ledger.db  (state_dir in the copy's relkit.yml)"
echo "  run artifacts/logs:    $RELKIT_DEMO_ROOT/state/runs/"
echo "  app logs:              $RELKIT_DEMO_ROOT/<env>/<host>/shared/log/app.log"
echo "  release report 2.0.0:  $RELKIT_DEMO_ROOT/report-2.0.0.md"
echo "                         $RELKIT_DEMO_ROOT/report-2.0.0.html  (Bahasa Indonesia: laporan-2.0.0.html)"
echo "  signing keys:          $KEYS/{sari,dewi,ops-demo}  (QA, PO, ops; throwaway)"
echo
echo "Look around (from any shell, as printed; relkit is $BIN):"
echo "  $BIN -C $P status"
echo "  $BIN -C $P ledger show --kind 'host.*'"
echo "  $BIN -C $P ledger verify"
echo "  $BIN -C $P snapshots --env production"
echo "The demo's apps are stopped on exit: 'relkit health' there now reports them down. The README's"
echo "tour deploys again in a fresh copy of its own. RELKIT_DEMO_ROOT=$RELKIT_DEMO_ROOT make demo"
echo "re-runs the demo in the same place."
