"""Gates: the procedure's checks, each a pure function of (manifest, ledger, environment, time).

A gate never does I/O: everything it needs arrives in :class:`GateInput` (the API gathers
it: artifact checksum, verified approvals, ledger entries). Gates register with
:func:`gate`; which gates guard which stage comes from :func:`gates_for` — the SOP by
default, replaced per stage (or stage:env) by relkit.yml's ``policy.gates``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from relkit.chain import Entry
from relkit.config import Policy
from relkit.manifest import Manifest
from relkit.rollout import unfinished_runs

STAGES = ("prepare", "deploy", "close")
ROLES = ("po", "dev", "qa", "ops", "comms")
EVIDENCE = ("functional", "regression", "performance", "security")


@dataclass(frozen=True)
class Signature:
    """An approval or verification found beside the manifest, as checked by ssh-keygen."""

    role: str
    by: str
    at: datetime
    """When the signer says she signed: shown, never trusted for order (``follows`` is)."""
    valid: bool
    problem: str = ""
    kind: str = "approval"
    env: str = ""
    key: str = ""
    """The signing key's fingerprint as ssh-keygen names it (``SHA256:…``)."""
    digest: str = ""
    """sha256 of the record (canonical payload and signature): what a PO approval names."""
    follows: tuple[str, ...] = ()
    """A PO approval: the digests of the QA approval records it follows (signed with it)."""


@dataclass(frozen=True)
class Override:
    """A named person passing a failed gate, with a reason (recorded in the ledger)."""

    gate: str
    by: str
    reason: str


@dataclass(frozen=True)
class GateInput:
    """Everything a gate may look at."""

    manifest: Manifest
    project_app: str
    env: str
    promote_from: str | None
    artifact_sha256: str | None
    artifact_problem: str
    history: Sequence[Entry]
    now: datetime
    policy: Policy = field(default_factory=Policy)
    actor: str = ""
    actor_key: str = ""
    """Fingerprint of the key that signed the deploy (empty for an unsigned one)."""
    artifact_commit: str | None = None
    signatures: Sequence[Signature] = ()
    requirements_digest: str = ""
    retro: str | None = None
    groups: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """relkit.yml's ``approvals.groups``: an owner ``@name`` is any principal of group ``name``."""
    signers_problem: str = ""
    """Why the allowed-signers file is not the one pinned in the ledger ('' when it is)."""
    signers_pin: str = ""
    """The pinned allowed signers' sha256 (short), '' when nothing is pinned."""
    provenance: str = "build_info"
    """The proof of the artifact's origin this environment requires: build_info, signed or either
    (``environments.<env>.provenance``, else ``policy.provenance``)."""
    build_info: str = "relkit-build.json"
    """relkit.yml's ``artifacts.build_info``: the build-info file's name at the artifact's root."""

    @property
    def production(self) -> bool:
        """An environment fed by another one gets the whole SOP."""
        return self.promote_from is not None


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict: pass/fail, why, what to do, and who overrode it if anyone."""

    name: str
    passed: bool
    reason: str
    remedy: str = ""
    overridden_by: str = ""
    override_reason: str = ""

    @property
    def overridden(self) -> bool:
        """Failed on its own but passed by an override."""
        return bool(self.overridden_by)


@dataclass(frozen=True)
class GateReport:
    """All gates evaluated for one stage of one environment."""

    stage: str
    env: str
    version: str
    results: tuple[GateResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """True when every gate passed (on its own or by override)."""
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[GateResult, ...]:
        """The gates that blocked."""
        return tuple(r for r in self.results if not r.passed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ledger, ``--output json``)."""
        return {
            "stage": self.stage,
            "env": self.env,
            "version": self.version,
            "passed": self.passed,
            "gates": [asdict(r) for r in self.results],
        }


Verdict = tuple[bool, str, str]
GateFn = Callable[[GateInput], GateResult]
GATES: dict[str, GateFn] = {}


def gate(name: str) -> Callable[[Callable[[GateInput], Verdict]], GateFn]:
    """Register a gate returning ``(passed, reason, remedy)``."""

    def register(fn: Callable[[GateInput], Verdict]) -> GateFn:
        def run(inp: GateInput) -> GateResult:
            passed, reason, remedy = fn(inp)
            return GateResult(name, passed, reason, "" if passed else remedy)

        run.__doc__ = fn.__doc__
        GATES[name] = run
        return run

    return register


def _entries(inp: GateInput, kind: str, env: str | None = None) -> list[Entry]:
    return [e for e in inp.history if e.kind == kind and (env is None or e.env == env)]


def _ts(entry: Entry) -> datetime:
    return datetime.fromisoformat(entry.ts)


@gate("signers")
def signers(inp: GateInput) -> Verdict:
    """The allowed-signers file is the one pinned in the ledger (changed only by a signed act)."""
    if inp.signers_problem:
        return (
            False,
            inp.signers_problem,
            "a signers admin (relkit-admin in the pinned file) signs the change: relkit signers update "
            "--key KEY; or put the pinned file back: relkit signers show --pinned > FILE",
        )
    if inp.signers_pin:
        return True, f"allowed signers as pinned in the ledger (sha256 {inp.signers_pin}…)", ""
    return True, "no allowed-signers file (nothing is signed)", ""


@gate("manifest_valid")
def manifest_valid(inp: GateInput) -> Verdict:
    """The manifest validated and belongs to this project's app."""
    app = inp.manifest.app
    if app != inp.project_app:
        return (
            False,
            f"manifest is for app {app!r}, this project deploys {inp.project_app!r}",
            "use the manifest of this project's app",
        )
    return True, f"{app} {inp.manifest.version} validated", ""


@gate("plan_complete")
def plan_complete(inp: GateInput) -> Verdict:
    """SOP 4.1: changes traced to issues, schedule, owners for every role, a rollback plan."""
    m, missing = inp.manifest, []
    if not m.changes:
        missing.append("changes (each with its issue/ticket id)")
    if m.schedule is None:
        missing.append("schedule (window_start, window_end, timezone, expected_downtime_minutes)")
    absent = [role for role in ROLES if not getattr(m.owners, role)]
    if absent:
        missing.append("owners." + ", owners.".join(absent))
    if not m.rollback_plan:
        missing.append("rollback_plan")
    if missing:
        return False, "plan incomplete: missing " + "; ".join(missing), "complete the manifest's release plan"
    return True, f"{len(m.changes)} change(s) traced, schedule, owners and rollback plan present", ""


@gate("artifact_checksum")
def artifact_checksum(inp: GateInput) -> Verdict:
    """The artifact exists and its sha256 is the manifest's; for production, its origin is proven
    as the environment requires (``policy.provenance``): built from the frozen commit (build info),
    or attested by the QA and PO approvals of the manifest (a third-party artifact)."""
    want = inp.manifest.artifact.sha256
    if inp.artifact_sha256 is None:
        return False, inp.artifact_problem or "artifact not available", "build or fetch the artifact"
    if inp.artifact_sha256 != want:
        return (
            False,
            f"artifact sha256 {inp.artifact_sha256[:12]}… differs from manifest {want[:12]}…",
            "rebuild the artifact from the frozen commit or correct artifact.sha256",
        )
    if not inp.production:
        return True, f"sha256 {want[:12]}… matches", ""
    freeze = inp.manifest.code_freeze
    if freeze is None:
        return (
            False,
            "no code_freeze recorded in the manifest",
            "record code_freeze.commit and time (SOP 4.2.3)",
        )
    built = inp.artifact_commit
    if built and not _same_commit(built, freeze.commit):
        return (
            False,
            f"artifact built from {built[:12]}, code freeze is {freeze.commit[:12]}",
            "build the artifact from the frozen commit",
        )
    third_party = inp.manifest.artifact.provenance == "third_party"
    if inp.provenance == "signed" or (inp.provenance == "either" and third_party):
        return _signed_provenance(inp, want, freeze.commit)
    if third_party:
        return (
            False,
            f"artifact.provenance is third_party (no build info), but {inp.env} requires build info "
            "(policy.provenance: build_info)",
            f"a third-party artifact is proven by the QA and PO approvals of its manifest: set "
            f"environments.{inp.env}.provenance (or policy.provenance) to signed or either in relkit.yml",
        )
    if not built:
        return (
            False,
            f"the artifact does not say which commit it was built from (no {inp.build_info} with a "
            '"commit" at its root)',
            f'embed build info in the build: {inp.build_info} at the artifact\'s root, {{"commit": "<sha>"}}'
            "; an artifact you did not build: artifact.provenance: third_party in the manifest and "
            f"policy.provenance: either (or signed) for {inp.env}",
        )
    return True, f"sha256 {want[:12]}… matches; built from frozen commit {freeze.commit[:12]}", ""


def _same_commit(built: str, frozen: str) -> bool:
    """One names the other (a prefix of at least 7 hex digits)."""
    return len(built) >= 7 and (built.startswith(frozen) or frozen.startswith(built))


def _signed_provenance(inp: GateInput, sha256: str, commit: str) -> Verdict:
    """The QA and PO owners' valid approvals of this manifest: they sign its artifact sha256,
    provenance, source and code freeze."""
    qa, _ = _owned(inp, "qa")
    po, _ = _owned(inp, "po")
    origin = "third-party artifact" if inp.manifest.artifact.provenance == "third_party" else "artifact"
    source = f" from {inp.manifest.artifact.source}" if inp.manifest.artifact.source else ""
    if not (qa and po):
        missing = " and ".join(r for r, found in (("QA", qa), ("PO", po)) if not found)
        return (
            False,
            f"sha256 {sha256[:12]}… matches; the {origin}'s provenance (policy.provenance: {inp.provenance}) "
            f"is proven by the QA and PO approvals of this manifest: no valid {missing} approval yet",
            "QA then PO: relkit approve MANIFEST --role qa|po --key KEY (they sign the artifact sha256 "
            "and code_freeze)",
        )
    return (
        True,
        f"sha256 {sha256[:12]}… matches; {origin}{source} attested by the signed approvals of QA "
        f"({qa[-1].by}) and PO ({po[-1].by}) for code freeze {commit[:12]}",
        "",
    )


@gate("test_evidence")
def test_evidence(inp: GateInput) -> Verdict:
    """SOP 4.2.1: functional, regression, performance, security passed; no open critical bug."""
    tests, problems = inp.manifest.tests, []
    for kind in EVIDENCE:
        result = getattr(tests, kind)
        if result is None:
            problems.append(f"{kind}: not recorded")
        elif result.result != "passed":
            problems.append(f"{kind}: {result.result}")
    if tests.open_critical_bugs:
        problems.append(f"{tests.open_critical_bugs} open critical bug(s)")
    if problems:
        return (
            False,
            "; ".join(problems),
            "record passing QA evidence on staging (tests.*) and close critical bugs",
        )
    return True, "functional, regression, performance, security passed; no open critical bug", ""


ROLE_NAMES = {"qa": "QA", "po": "PO"}
AFTER_QA = "PO: relkit approve MANIFEST --role po --key KEY (after QA)"


def owner_problem(manifest: Manifest, role: str, principal: str, groups: Mapping[str, Sequence[str]]) -> str:
    """Why ``principal`` may not sign for ``role`` of this release: ``""`` when the manifest's
    ``owners.<role>`` names that principal, or names ``@group`` and the principal is in it."""
    owner, label = getattr(manifest.owners, role, None), ROLE_NAMES.get(role, role)
    if not owner:
        return f"signed by {principal}, but the manifest names no {label} owner (owners.{role})"
    if owner.startswith("@"):
        members = groups.get(owner[1:])
        if members is None:
            return (
                f"the manifest names {owner} as {label} owner, but approvals.groups defines no {owner[1:]!r}"
            )
        if principal in members:
            return ""
        return f"signed by {principal}, who is not in {owner}, the manifest's {label} owner"
    if principal == owner:
        return ""
    return f"signed by {principal}, but the manifest names {owner} as {label} owner"


def separation_problems(signatures: Sequence[Signature]) -> list[str]:
    """Where one principal, or one key, gave both a QA and a PO approval (valid approvals only)."""
    qa = [s for s in signatures if s.kind == "approval" and s.valid and s.role == "qa"]
    po = [s for s in signatures if s.kind == "approval" and s.valid and s.role == "po"]
    problems: list[str] = []
    for q in qa:
        for p in po:
            if q.by == p.by:
                problem = f"{q.by} gave both the QA and the PO approval: one person cannot fill two roles"
            elif q.key and q.key == p.key:
                problem = (
                    f"the QA approval by {q.by} and the PO approval by {p.by} were signed with one key "
                    f"({q.key}): one key cannot fill two roles"
                )
            else:
                continue
            if problem not in problems:
                problems.append(problem)
    return problems


def _owned(
    inp: GateInput, role: str, kind: str = "approval", env: str | None = None
) -> tuple[list[Signature], list[str]]:
    """The valid records of ``role`` (for ``env``) signed by its owner, sorted by their stated
    time (for display), and a note for each valid one signed by someone else."""
    found = sorted(
        (
            s
            for s in inp.signatures
            if s.kind == kind and s.role == role and s.valid and (env is None or s.env == env)
        ),
        key=lambda s: s.at,
    )
    owned, notes = [], []
    for s in found:
        problem = owner_problem(inp.manifest, role, s.by, inp.groups)
        if problem:
            notes.append(f"{role} {kind} by {s.by} rejected: {problem}")
        else:
            owned.append(s)
    return owned, notes


@gate("approvals")
def approvals(inp: GateInput) -> Verdict:
    """SOP 4.2.2-4.2.3: a valid approval by the QA owner, then the PO owner's approval signing
    that QA record (its ``follows``); never one person or one key in both roles."""
    broken = [s for s in inp.signatures if s.kind == "approval" and not s.valid]
    notes = [f"{s.role} approval by {s.by} rejected: {s.problem}" for s in broken]
    qa, qa_notes = _owned(inp, "qa")
    po, po_notes = _owned(inp, "po")
    notes += qa_notes + po_notes
    shared = separation_problems(inp.signatures)
    if shared:
        return (
            False,
            "; ".join([*notes, *shared]),
            "QA and PO approve as different people with their own keys; remove the other approval records",
        )
    if not qa:
        return (
            False,
            "; ".join([*notes, "no valid QA approval"]),
            "QA: relkit approve MANIFEST --role qa --key KEY",
        )
    if not po:
        return False, "; ".join([*notes, "no valid PO approval"]), AFTER_QA
    qa_records = {q.digest for q in qa if q.digest}
    chained = [p for p in po if qa_records.intersection(p.follows)]
    notes += [
        f"PO approval by {p.by} follows no valid QA approval of this manifest (signed before QA approved, "
        "or the QA approval it names is gone or void)"
        for p in po
        if p not in chained
    ]
    if not chained:
        return False, "; ".join([*notes, "no valid PO approval after QA"]), AFTER_QA
    followed = {digest for p in chained for digest in p.follows}
    unfollowed = [
        f"QA approval by {q.by} ({q.at:%Y-%m-%d %H:%M}) is followed by no PO approval: the PO approves again"
        for q in qa
        if q.digest not in followed
    ]
    if unfollowed:
        return False, "; ".join([*notes, *unfollowed]), AFTER_QA
    reason = f"QA: {qa[-1].by}, then PO: {chained[-1].by}"
    return True, reason + (f" (not counted: {'; '.join(notes)})" if notes else ""), ""


@gate("four_eyes")
def four_eyes(inp: GateInput) -> Verdict:
    """The deployer gave neither approval the deploy rests on, and no one person or key gave both."""
    given = [s for s in inp.signatures if s.kind == "approval" and s.valid and s.role in ("qa", "po")]
    approvers = {s.by for s in given}
    keys = {s.key for s in given if s.key}
    problems = separation_problems(inp.signatures)
    if inp.actor in approvers or (inp.actor_key and inp.actor_key in keys):
        self_approval = (
            f"{inp.actor} approved this release and cannot also deploy it to {inp.env} (self-approval)"
            if inp.actor in approvers
            else f"the key that signs this deploy ({inp.actor_key}) signed an approval of this release "
            f"(self-approval)"
        )
        return (
            False,
            "; ".join([self_approval, *problems]),
            "another person deploys, signing with their own key (--key)",
        )
    if problems:
        return (
            False,
            "; ".join(problems),
            "QA and PO approve as different people with their own keys; remove the other approval records",
        )
    return True, f"deployer {inp.actor or '?'} gave none of the approvals", ""


@gate("infra_ready")
def infra_ready(inp: GateInput) -> Verdict:
    """SOP 4.2.4: a passing prepare on this environment for this manifest's host requirements."""
    runs = _entries(inp, "prepare.result", inp.env)
    if (
        runs
        and runs[-1].data.get("passed")
        and runs[-1].data.get("requirements_digest") == inp.requirements_digest
    ):
        return True, f"prepare passed at {runs[-1].ts[:19]}Z for these requirements", ""
    reason = "no passing prepare on this environment for these host requirements"
    if runs and not runs[-1].data.get("passed"):
        reason = f"the last prepare on {inp.env} failed ({runs[-1].ts[:19]}Z)"
    return False, reason, f"relkit prepare --env {inp.env} --manifest MANIFEST"


def _span(delta: timedelta) -> str:
    """A duration in words for a person planning a release: ``2 d 3 h``, ``5 h 20 min``, ``12 min``."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def _at(moment: datetime, zone: tzinfo) -> str:
    """A moment in the release's timezone, with UTC beside it: ``2026-11-17 22:00 WIB = 15:00Z``."""
    local, utc = moment.astimezone(zone), moment.astimezone(UTC)
    return f"{local:%Y-%m-%d %H:%M %Z} = {utc:{'%H:%M' if local.date() == utc.date() else '%Y-%m-%d %H:%M'}}Z"


def _announcements(inp: GateInput) -> tuple[list[Entry], list[Entry]]:
    """This release's successful announcements, and those of its version for another artifact."""
    sent = [
        e
        for e in _entries(inp, "notify.sent")
        if e.data.get("event") == "announcement"
        and e.data.get("ok")
        and e.data.get("version") == inp.manifest.version
    ]
    this = [e for e in sent if e.data.get("sha256") == inp.manifest.artifact.sha256]
    return this, [e for e in sent if e not in this]


@gate("notice_sent")
def notice_sent(inp: GateInput) -> Verdict:
    """SOP 4.3.1: an announcement of this release (its version and artifact sha256) was sent at least
    the lead time before the window opens."""
    schedule = inp.manifest.schedule
    if schedule is None:
        return False, "no schedule to announce", "add schedule to the manifest"
    start = schedule.aware(schedule.window_start)
    hours = inp.policy.notice_lead_hours
    lead = timedelta(hours=hours)
    opens = f"the window opens {_at(start, schedule.zone)}"
    sooner = (
        "; a release sooner than that needs policy.notice_lead_hours lowered in relkit.yml, or a PO's "
        "relkit override --gate notice_sent"
    )
    sent, other_artifact = _announcements(inp)
    if not sent:
        reason = "no successful announcement recorded"
        if other_artifact:
            old = str(other_artifact[0].data.get("sha256") or "none recorded")
            reason = (
                f"the announcement of {inp.manifest.version} ({other_artifact[0].ts[:16]}Z) named artifact "
                f"sha256 {old[:12]}…, this manifest's is {inp.manifest.artifact.sha256[:12]}…: "
                "it announced another build"
            )
        notify = "relkit notify MANIFEST --kind announcement"
        if start - lead >= inp.now:
            return (
                False,
                reason,
                f"{notify} by {_at(start - lead, schedule.zone)} ({hours:g} h before {opens})",
            )
        earliest = inp.now + lead
        return (
            False,
            reason,
            f"{notify}, and move the window to {_at(earliest, schedule.zone)} or later (new manifest): "
            f"{opens}, less than {hours:g} h from now{sooner}",
        )
    first = min(sent, key=_ts)
    if _ts(first) > start - lead:
        ready = _ts(first) + lead
        return (
            False,
            f"announced {first.ts[:16]}Z, less than {hours:g} h before the window ({start.isoformat()}): "
            f"that notice covers windows opening from {_at(ready, schedule.zone)}, "
            f"{_span(ready - start)} after this one opens",
            f"move the window to {_at(ready, schedule.zone)} or later (new manifest){sooner}",
        )
    return True, f"announced {first.ts[:16]}Z, ≥ {hours:g} h ahead", ""


@gate("window")
def window(inp: GateInput) -> Verdict:
    """SOP 4.1: now is inside the agreed release window (timezone and DST aware)."""
    schedule = inp.manifest.schedule
    if schedule is None:
        return False, "no release window in the manifest", "add schedule.window_start/window_end"
    start, end = schedule.aware(schedule.window_start), schedule.aware(schedule.window_end)
    local = inp.now.astimezone(schedule.zone)
    if start <= inp.now < end:
        return True, f"{local:%Y-%m-%d %H:%M %Z} is inside {start:%H:%M}-{end:%H:%M %Z}", ""
    when = "before" if inp.now < start else "after"
    reason = f"{local:%Y-%m-%d %H:%M %Z} is {when} the window {start:%Y-%m-%d %H:%M}-{end:%H:%M %Z}"
    if inp.now < start:
        return (
            False,
            f"{reason}: it opens in {_span(start - inp.now)}, {_at(start, schedule.zone)}",
            f"deploy once the window opens ({_at(start, schedule.zone)}), or agree an earlier window (new "
            "manifest, announced again)",
        )
    return (
        False,
        f"{reason}: it closed {_span(inp.now - end)} ago",
        "agree a new window (new manifest, announced again: the announcement must be "
        f"{inp.policy.notice_lead_hours:g} h ahead of it)",
    )


@gate("freeze")
def freeze(inp: GateInput) -> Verdict:
    """No deploy freeze from relkit.yml (dated periods) covers now."""
    for period in inp.policy.freezes:
        if period.covers(inp.now):
            return (
                False,
                f"deploy freeze: {period.reason} ({period.start} - {period.end} {period.timezone})",
                ("wait for the freeze to end"),
            )
    return True, "no deploy freeze now", ""


@gate("promoted_from")
def promoted_from(inp: GateInput) -> Verdict:
    """This very artifact was deployed to the upstream environment and passed smoke there."""
    source, sha = inp.promote_from, inp.manifest.artifact.sha256
    if source is None:
        return True, "environment has no upstream", ""
    partial = unfinished_runs(e for e in inp.history if e.kind.startswith("rollout.") and e.env == source)
    only_part = ""
    for entry in reversed(_entries(inp, "smoke.result", source)):
        if entry.data.get("sha256") != sha or not entry.data.get("passed"):
            continue
        rollout = partial.get(entry.run_id)
        if rollout is None:
            return True, f"passed smoke on {source} at {entry.ts[:19]}Z (run {entry.run_id})", ""
        only_part = only_part or (
            f": it passed only on part of {source}, in rollout {rollout.rollout_id}, which "
            f"{'was ' + rollout.finished.replace('_', ' ') if rollout.finished else 'has not completed'}"
        )
    return (
        False,
        f"sha256 {sha[:12]}… has not passed smoke on {source}{only_part}",
        f"deploy this manifest to {source} first: relkit deploy MANIFEST --env {source}",
    )


@gate("verified")
def verified(inp: GateInput) -> Verdict:
    """SOP 4.3.4: the manifest's PO verified the release in this environment (signed)."""
    found, notes = _owned(inp, "po", "verification", inp.env)
    if not found:
        return (
            False,
            "; ".join([*notes, f"no valid PO verification for {inp.env}"]),
            f"PO: relkit verify MANIFEST --env {inp.env}",
        )
    return True, f"verified by {found[-1].by} at {found[-1].at:%Y-%m-%d %H:%M}", ""


@gate("monitoring_elapsed")
def monitoring_elapsed(inp: GateInput) -> Verdict:
    """SOP 4.4.1: the monitoring window after the last switch to this release has elapsed, health green."""
    last: dict[str, Entry] = {}
    for e in _entries(inp, "host.switched", inp.env):
        last[e.host] = e
    switches = [e for e in last.values() if e.data.get("version") == inp.manifest.version]
    if not switches:
        return False, f"{inp.manifest.version} is not live on {inp.env}", "deploy it first"
    if len(switches) != len(last):
        others = sorted(h for h, e in last.items() if e.data.get("version") != inp.manifest.version)
        reason = f"{inp.manifest.version} is not live on {', '.join(others)}"
        return False, reason, "finish the deploy or roll back first"
    since = max(_ts(e) for e in switches)
    needed = timedelta(hours=inp.policy.monitoring_hours)
    if inp.now - since < needed:
        left = needed - (inp.now - since)
        return (
            False,
            f"monitoring window runs {left.total_seconds() / 3600:.1f} h more",
            "wait, keep health checks running",
        )
    health = [e for e in _entries(inp, "health.result", inp.env) if _ts(e) >= since]
    if health and health[-1].data.get("status") == "critical":
        return False, f"last health check ({health[-1].ts[:16]}Z) was critical", "fix or roll back first"
    return True, f"{inp.policy.monitoring_hours:g} h monitored since {since:%Y-%m-%d %H:%M}Z", ""


@gate("retrospective")
def retrospective(inp: GateInput) -> Verdict:
    """SOP 4.4.4: a retrospective note is present."""
    if inp.retro and inp.retro.strip():
        return True, f"retrospective note ({len(inp.retro.strip())} characters)", ""
    return False, "no retrospective note", "relkit close MANIFEST --retro FILE"


ALWAYS = ("signers",)
"""Gates of every stage, whatever the policy, that no override passes."""

SOP_PRODUCTION = [
    "signers",
    "manifest_valid",
    "plan_complete",
    "artifact_checksum",
    "test_evidence",
    "approvals",
    "four_eyes",
    "infra_ready",
    "notice_sent",
    "window",
    "freeze",
    "promoted_from",
]
DEFAULT = {
    "prepare": ["signers", "manifest_valid", "plan_complete"],
    "deploy": ["signers", "manifest_valid", "plan_complete", "artifact_checksum"],
    "close": ["signers", "verified", "monitoring_elapsed", "retrospective"],
}


def gates_for(stage: str, env: str, promote_from: str | None, policy: Policy) -> list[str]:
    """The gates of a stage: ``policy.gates['stage:env']``, else ``['stage']``, else the SOP default;
    the :data:`ALWAYS` gates first in every case."""
    configured: Mapping[str, list[str]] = policy.gates
    chosen = configured.get(f"{stage}:{env}", configured.get(stage))
    if chosen is not None:
        return [*ALWAYS, *(g for g in chosen if g not in ALWAYS)]
    if stage == "deploy" and promote_from:
        return list(SOP_PRODUCTION)
    return list(DEFAULT[stage])


def unknown_gates(policy: Policy) -> list[str]:
    """Gate names in the policy that do not exist."""
    named = {g for names in policy.gates.values() for g in names} | set(policy.not_overridable)
    return sorted(named - set(GATES))


def evaluate(
    stage: str, inp: GateInput, names: Sequence[str] | None = None, overrides: Sequence[Override] = ()
) -> GateReport:
    """Run the gates of ``stage`` (or ``names``), apply overrides, and collect a report."""
    chosen = list(names) if names is not None else gates_for(stage, inp.env, inp.promote_from, inp.policy)
    by_gate = {o.gate: o for o in overrides}
    results = []
    for name in chosen:
        result = GATES[name](inp)
        if not result.passed and name in by_gate and name not in ALWAYS:
            o = by_gate[name]
            result = GateResult(name, True, result.reason, result.remedy, o.by, o.reason)
        results.append(result)
    return GateReport(stage, inp.env, inp.manifest.version, tuple(results))
