"""The release report model: manifest + project config + ledger entries → the report's sections.

Pure: no I/O. :func:`build_report` selects the ledger entries that concern one release (see
:func:`release_entries`) and arranges them in the sections of seed 003's release report (its
table of contents, numbering included: :data:`SECTIONS`), led by the outcome (what is live
where, whether this release was rolled back, by whom and why, open or closed) and followed by
relkit's own record as appendices. Rendering (Markdown, HTML, English or Bahasa Indonesia) is
:func:`relkit.report_render.render_report`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from relkit.chain import ChainCheck, Entry
from relkit.config import ProjectConfig, SmokeCheck
from relkit.gates import gates_for
from relkit.manifest import Change, Manifest


@dataclass(frozen=True)
class Section:
    """A section of the report: its key (for labels and anchors) and its number in the seed's
    table of contents (``"2.2.1"``; a letter for an appendix; ``""`` for the outcome, which
    leads the report unnumbered)."""

    key: str
    number: str

    @property
    def level(self) -> int:
        """Heading depth: 1 for a chapter, an appendix or the outcome, 2 for 1.1, 3 for 2.2.1."""
        return self.number.count(".") + 1 if self.number[:1].isdigit() else 1

    @property
    def appendix(self) -> bool:
        """True for relkit's own record (lettered)."""
        return self.number[:1].isalpha()


SECTIONS = (
    Section("outcome", ""),
    Section("policy_chapter", "1"),
    Section("policy_intro", "1.1"),
    Section("policy", "1.2"),
    Section("process_chapter", "2"),
    Section("process_intro", "2.1"),
    Section("process", "2.2"),
    Section("diagram", "2.2.1"),
    Section("work", "2.2.2"),
    Section("release_chapter", "3"),
    Section("scope", "3.1"),
    Section("functionality", "3.2"),
    Section("problems", "3.3"),
    Section("test_chapter", "4"),
    Section("tests", "4.1"),
    Section("test_env", "4.2"),
    Section("criteria", "4.3"),
    Section("implementation_chapter", "5"),
    Section("resources", "5.1"),
    Section("schedule", "5.2"),
    Section("support", "5.3"),
    Section("technical_chapter", "6"),
    Section("hardware", "6.1"),
    Section("install", "6.2"),
    Section("configuration", "6.3"),
    Section("addresses", "6.3.1"),
    Section("data", "6.3.2"),
    Section("approvals", "A"),
    Section("gates", "B"),
    Section("deployments", "C"),
    Section("checks", "D"),
    Section("rollbacks", "E"),
    Section("notifications", "F"),
    Section("retro", "G"),
    Section("ledger", "H"),
)
"""The outcome, seed 003's table of contents (numbers and order as the seed has them), then
relkit's record as appendices A to H."""

FEATURE_TYPES = ("feature", "performance")
FIX_TYPES = ("fix", "security")
ROLES = ("po", "dev", "qa", "ops", "comms")
TEST_KINDS = ("functional", "regression", "performance", "security")
SKIPPED_IN_TIMELINE = ("task.result",)
QUIET_ACTIONS = ("health",)
"""Scheduled runs shown only by their non-ok results (a 48 h monitoring window is ~600 runs)."""
GOOD_RUNS = ("successful", "ok", "skipped", "warning")
"""How a run ends when nothing needs attention (a health warning is shown with the checks)."""
PARTIAL_KINDS = ("run.started", "run.finished", "rollback.requested", "rollback.started", "smoke.result")
"""Entries of another release's run that switched hosts back to this one (its automatic
rollback): shown in this release's report, with the switches themselves."""

MET, NOT_MET, PENDING, NA = "met", "not_met", "pending", "na"
STATE_ORDER = {NOT_MET: 0, PENDING: 1, MET: 2, NA: 3}


@dataclass(frozen=True)
class Row:
    """A ledger fact shown in a section: when (UTC ISO and local display), where, and its fields."""

    seq: int
    ts: str
    when: str
    run_id: str
    env: str
    host: str
    kind: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HostFacts:
    """One inventory's hosts as the plays see them: per host, relkit.yml strings rendered with
    the host's variables (``address``, ``connection``, ``deploy_path``, ``smoke.<check>``; None:
    not known), or why the inventory could not be read. Built by the use case (it runs Ansible)."""

    hosts: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class SmokeItem:
    """One smoke check of relkit.yml on one host: its target rendered (None: not known)."""

    name: str
    kind: str
    target: str | None
    expect: str


@dataclass(frozen=True)
class HostView:
    """A host of an environment: how relkit reaches it and where the release lives on it."""

    env: str
    host: str
    address: str | None
    connection: str | None
    deploy_path: str | None
    smoke: list[SmokeItem]
    in_inventory: bool = True
    commands: dict[str, str | None] = field(default_factory=dict)
    """relkit.yml's service commands that use host variables, rendered for this host."""


@dataclass(frozen=True)
class EnvHosts:
    """The hosts of one environment, or why they are not known."""

    env: str
    hosts: list[HostView]
    error: str = ""


@dataclass(frozen=True)
class RunSpan:
    """One run that concerns this release: where, when it started and ended, how it ended."""

    run_id: str
    action: str
    env: str
    by: str
    version: str
    started: str
    finished: str
    status: str
    in_window: bool | None
    problem: str = ""
    this: bool = True
    """False for another release's run that brought this one back (its automatic rollback)."""


@dataclass(frozen=True)
class Fact:
    """A criterion or a stage of the procedure: its state (met, not_met, pending, na) and a note
    (a label key in ``notes`` and its values)."""

    key: str
    state: str
    note: str = ""
    args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkStep:
    """A step of seed 003's work instruction and the stages of relkit that carry it out."""

    key: str
    state: str
    stages: list[Fact]


@dataclass(frozen=True)
class HostNow:
    """What one host of an environment runs now."""

    host: str
    version: str
    this: bool
    since: str
    action: str
    by: str


@dataclass(frozen=True)
class EnvOutcome:
    """This release on one environment: live, partly live, rolled back, replaced, failed, blocked
    or not deployed; and what every host runs now."""

    env: str
    status: str
    hosts: list[HostNow]
    switched_in: str = ""


@dataclass(frozen=True)
class Rollback:
    """A rollback run that moved hosts away from this release (``away``) or back to it (``back``)."""

    direction: str
    when: str
    env: str
    run_id: str
    automatic: bool
    by: str
    reason: str
    moved: dict[str, str]
    replaced: str
    status: str


@dataclass(frozen=True)
class Outcome:
    """The report's first section."""

    state: str
    closed: dict[str, str] | None
    envs: list[EnvOutcome]
    withdrawn: list[Rollback]
    restored: list[Rollback]
    failures: list[RunSpan]
    critical: list[Row]


@dataclass(frozen=True)
class Report:
    """Everything the release report shows."""

    app: str
    version: str
    sha256: str
    artifact: str
    manifest_ref: str
    generated_at: str
    timezone: str
    sections: tuple[Section, ...]
    outcome: Outcome
    # seed 003
    policy: dict[str, Any]
    stages: list[Fact]
    work: list[WorkStep]
    os: list[str]
    features: list[Change]
    fixes: list[Change]
    other_changes: list[Change]
    code_freeze: dict[str, str] | None
    tests: list[dict[str, Any]]
    open_critical_bugs: int
    test_envs: list[str]
    environments: list[str]
    hosts: list[EnvHosts]
    smoke_checks: list[SmokeItem]
    smoke_timeout: float
    criteria: list[Fact]
    owners: dict[str, str]
    actors: dict[str, list[str]]
    window: dict[str, Any] | None
    closed: dict[str, str] | None
    runs: list[RunSpan]
    timeline: list[Row]
    health: dict[str, Any]
    hardware: dict[str, Any]
    prepared: list[Row]
    install: list[Step]
    configuration: dict[str, Any]
    data: dict[str, Any]
    rollback_plan: str
    # relkit's record
    approvals: list[Row]
    gates: list[Row]
    overrides: list[Row]
    deployments: list[Row]
    checks: list[Row]
    rollbacks: list[Row]
    notifications: list[Row]
    retro: list[Row]
    ledger: dict[str, Any]

    def sec(self, key: str) -> Section:
        """A section by key."""
        return next(s for s in self.sections if s.key == key)

    def section(self, key: str) -> str:
        """The number of a section (``"4.2"``, ``"A"``; ``""`` for the outcome)."""
        return next(s.number for s in self.sections if s.key == key)

    def criterion(self, key: str) -> Fact:
        """A success criterion by key (tests, bugs, smoke, promote, monitor)."""
        return next(c for c in self.criteria if c.key == key)


@dataclass(frozen=True)
class Step:
    """An installation step: what it does (a label key) and the command."""

    what: str
    command: str
    env: str = ""


# -- which entries concern the release -------------------------------------------------


def _is_this(data: Mapping[str, Any], version: str, sha256: str) -> bool:
    """An entry's release is this one: by sha256 when it names one, else by version."""
    sha = data.get("sha256")
    return sha == sha256 if sha else data.get("version") == version


def release_entries(entries: Sequence[Entry], version: str, sha256: str) -> list[Entry]:
    """The entries that concern this release, in ledger order.

    - runs of this release (deploy and prepare runs name it when they start) and the gate
      evaluations of its attempts, blocked ones included;
    - rollback runs that concern it: it was live on the environment when the run started (so a
      failed rollback, which moves nothing, is there too), the run targets it (``--to``), or the
      run moved a host away from it or back to it;
    - health runs that found it live on a host;
    - another release's run that switched hosts back to this one (an automatic rollback): its
      start and end, the rollback decision, its smoke result after the rollback, the switches;
    - entries outside runs (approvals, announcements, closing) that name it.
    """
    started: dict[str, Entry] = {}
    switched_to: set[str] = set()
    concerned: set[str] = set()
    live: dict[str, dict[str, bool]] = {}
    for e in entries:
        if not e.run_id:
            if e.kind == "host.switched":
                live.setdefault(e.env, {})[e.host] = _is_this(e.data, version, sha256)
            continue
        if e.kind == "run.started":
            started[e.run_id] = e
            action = e.data.get("action")
            if e.data.get("sha256") or e.data.get("version"):
                if _is_this(e.data, version, sha256):
                    concerned.add(e.run_id)
            elif action == "rollback" and (any(live.get(e.env, {}).values()) or e.data.get("to") == version):
                concerned.add(e.run_id)
        elif e.kind == "host.switched":
            this_now = _is_this(e.data, version, sha256)
            live.setdefault(e.env, {})[e.host] = this_now
            names_release = e.run_id in started and (
                started[e.run_id].data.get("sha256") or started[e.run_id].data.get("version")
            )
            if this_now and names_release and e.run_id not in concerned:
                switched_to.add(e.run_id)
            elif not names_release and (this_now or e.data.get("previous") == version):
                concerned.add(e.run_id)
        elif _names_this(e, version, sha256, started):
            concerned.add(e.run_id)

    def belongs(e: Entry) -> bool:
        if e.run_id in concerned:
            return True
        if e.run_id in switched_to:
            if e.kind == "host.switched":
                return _is_this(e.data, version, sha256)
            if e.kind == "smoke.result":
                return not e.data.get("sha256")  # the smoke test after the rollback
            return e.kind in PARTIAL_KINDS
        if e.run_id and e.run_id in started:
            return False
        return _is_this(e.data, version, sha256)

    return [e for e in entries if belongs(e)]


def _names_this(e: Entry, version: str, sha256: str, started: Mapping[str, Entry]) -> bool:
    """A health result that found this release live; the gates of an attempt at it (a blocked
    attempt has no ``run.started``)."""
    if e.kind == "health.result":
        return version in _mapping(e.data.get("versions")).values()
    return e.kind == "gate.evaluated" and e.run_id not in started and _is_this(e.data, version, sha256)


def _mapping(value: object) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


# -- building --------------------------------------------------------------------------


def build_report(
    manifest: Manifest,
    config: ProjectConfig,
    entries: Sequence[Entry],
    *,
    manifest_ref: str,
    generated_at: datetime,
    chain: ChainCheck | None = None,
    hosts: Mapping[str, HostFacts] | None = None,
) -> Report:
    """The report of ``manifest``'s release from the project config, the whole ledger and the
    environments' hosts (``hosts``: env → :class:`HostFacts`; absent: addresses not known)."""
    version, sha = manifest.version, manifest.artifact.sha256
    entries = sorted(entries, key=lambda e: e.seq)
    mine = release_entries(entries, version, sha)
    zone: tzinfo = manifest.schedule.zone if manifest.schedule else UTC
    rows = [_row(e, zone) for e in mine]
    by_kind: dict[str, list[Row]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)

    def kinds(*names: str) -> list[Row]:
        return sorted((r for n in names for r in by_kind.get(n, [])), key=lambda r: r.seq)

    envs = _env_order(config)
    test_envs = _test_envs(config, envs)
    req = manifest.requirements
    runs = _runs(mine, zone, manifest, config)
    now = generated_at if generated_at.tzinfo else generated_at.replace(tzinfo=UTC)
    switches = kinds("host.switched")
    checks = kinds("smoke.result", "health.result")
    criteria = _criteria(manifest, config, envs, switches, checks, now, zone)
    closed = _closed(mine, zone)
    chain_ok = chain.ok if chain else None
    approvals = kinds("approval.recorded", "release.verified")
    stages = _stages(manifest, config, envs, kinds, criteria, closed)
    host_views = _host_views(config, envs, hosts or {}, entries)
    outcome = _outcome(entries, mine, manifest, envs, runs, zone, closed)
    return Report(
        app=manifest.app,
        version=version,
        sha256=sha,
        artifact=artifact_name(manifest),
        manifest_ref=manifest_ref,
        generated_at=_fmt(now, zone),
        timezone=manifest.schedule.timezone if manifest.schedule else "UTC",
        sections=SECTIONS,
        outcome=outcome,
        policy=_policy(config, envs),
        stages=stages,
        work=_work(stages, manifest, chain_ok),
        os=[f"{o.distribution} {', '.join(o.versions)}".strip() for o in req.os],
        features=[c for c in manifest.changes if c.type in FEATURE_TYPES],
        fixes=[c for c in manifest.changes if c.type in FIX_TYPES],
        other_changes=[c for c in manifest.changes if c.type not in FEATURE_TYPES + FIX_TYPES],
        code_freeze=(
            {"commit": manifest.code_freeze.commit, "time": _fmt(manifest.code_freeze.time, zone)}
            if manifest.code_freeze
            else None
        ),
        tests=[
            {"kind": k, "result": t.result, "link": t.link or ""}
            for k in TEST_KINDS
            if (t := getattr(manifest.tests, k)) is not None
        ],
        open_critical_bugs=manifest.tests.open_critical_bugs,
        test_envs=test_envs,
        environments=envs,
        hosts=host_views,
        smoke_checks=[_smoke_item(c, None) for c in config.smoke.checks],
        smoke_timeout=config.smoke.timeout,
        criteria=criteria,
        owners={r: getattr(manifest.owners, r) for r in ROLES if getattr(manifest.owners, r)},
        actors=_actors(rows, runs),
        window=_window(manifest),
        runs=[r for r in runs if r.action not in QUIET_ACTIONS or r.status not in GOOD_RUNS],
        timeline=_timeline(rows),
        health=_health_summary(kinds("health.result")),
        hardware={
            "os": ", ".join(f"{o.distribution} {'/'.join(o.versions)}".strip() for o in req.os),
            "cpu": req.cpu,
            "ram_mb": req.ram_mb,
            "disk_mb": req.disk_mb,
        },
        prepared=kinds("prepare.result"),
        install=_install(config, envs, manifest_ref),
        configuration={
            "commands": [
                {"what": what, "command": command, "per_host": _templated(command)}
                for what, command in _service_commands(config).items()
            ],
            "shared": list(config.shared),
            "keep_releases": config.retention.keep_releases,
        },
        data={
            "items": [
                {"name": d.name, "kind": d.kind, "where": d.path or d.database or ""} for d in config.data
            ],
            "shared": list(config.shared),
            "migrate": config.service.migrate or "",
            "snapshots": kinds("snapshot.taken", "snapshot.restored"),
        },
        rollback_plan=manifest.rollback_plan or "",
        closed=closed,
        approvals=approvals,
        gates=kinds("gate.evaluated"),
        overrides=kinds("gate.override"),
        deployments=switches,
        checks=[r for r in checks if not _quiet_health(r)],
        rollbacks=_rollbacks(kinds("rollback.requested", "rollback.started"), switches, runs),
        notifications=kinds("notify.sent"),
        retro=kinds("release.closed"),
        ledger={
            "entries": len(mine),
            "total": len(entries),
            "first": rows[0].when if rows else "",
            "last": rows[-1].when if rows else "",
            "chain_ok": chain_ok,
            "chain_checked": chain.checked if chain else 0,
            "chain_problem": chain.problem if chain else "",
            "chain_bad_seq": chain.bad_seq if chain else None,
            "head": entries[-1].hash if entries else "",
        },
    )


def artifact_name(manifest: Manifest) -> str:
    """The artifact's file name (never the controller's path to it, nor a URL's query)."""
    source = manifest.artifact.path or urlparse(manifest.artifact.url or "").path
    return PurePosixPath(source.replace("\\", "/")).name or source


# -- the outcome -----------------------------------------------------------------------


def _outcome(
    entries: Sequence[Entry],
    mine: Sequence[Entry],
    manifest: Manifest,
    envs: list[str],
    runs: list[RunSpan],
    zone: tzinfo,
    closed: dict[str, str] | None,
) -> Outcome:
    version, sha = manifest.version, manifest.artifact.sha256
    now_live: dict[str, dict[str, Entry]] = {}
    for e in entries:
        if e.kind == "host.switched":
            now_live.setdefault(e.env, {})[e.host] = e
    mine_switches = [e for e in mine if e.kind == "host.switched"]
    known = list(envs) + sorted(set(now_live) - set(envs))
    out_envs = []
    for env in known:
        hosts = [
            HostNow(
                host,
                str(e.data.get("version", "?")),
                _is_this(e.data, version, sha),
                _fmt_ts(e.ts, zone),
                str(e.data.get("action", "")),
                str(e.data.get("by", "")),
            )
            for host, e in sorted(now_live.get(env, {}).items())
        ]
        to_this = [e for e in mine_switches if e.env == env and _is_this(e.data, version, sha)]
        away = [
            e
            for e in mine_switches
            if e.env == env and not _is_this(e.data, version, sha) and e.data.get("previous") == version
        ]
        env_runs = [r for r in runs if r.env == env and r.this]
        live_hosts = [h for h in hosts if h.this]
        if live_hosts and len(live_hosts) == len(hosts):
            status = "live"
        elif live_hosts:
            status = "partly_live"
        elif to_this:
            last_away = away[-1] if away else None
            status = "rolled_back" if last_away and last_away.data.get("action") == "rollback" else "replaced"
        elif any(r.action == "deploy" and r.status not in (*GOOD_RUNS, "blocked") for r in env_runs):
            status = "failed"
        elif any(r.action == "deploy" and r.status == "blocked" for r in env_runs):
            status = "blocked"
        else:
            status = "not_deployed"
        out_envs.append(EnvOutcome(env, status, hosts, _fmt_ts(to_this[-1].ts, zone) if to_this else ""))
    withdrawn, restored = _rollback_events(mine, runs, version, sha, zone)
    critical = [
        _row(e, zone)
        for e in mine
        if e.kind == "health.result"
        and e.data.get("status") == "critical"
        and version in _mapping(e.data.get("versions")).values()
    ]
    return Outcome(
        state="closed" if closed else "open",
        closed=closed,
        envs=out_envs,
        withdrawn=withdrawn,
        restored=restored,
        failures=[r for r in runs if r.this and r.status not in (*GOOD_RUNS, "blocked")],
        critical=critical,
    )


def rollback_status(span: RunSpan | None) -> str:
    """How a rollback went: a rollback run's own status; for the automatic rollback inside a
    deploy run, ``successful`` when the deploy ended rolled back, else the run's status."""
    if span is None:
        return ""
    if span.action == "rollback" or span.status != "rolled_back":
        return span.status
    return "successful"


def _rollback_events(
    mine: Sequence[Entry], runs: list[RunSpan], version: str, sha: str, zone: tzinfo
) -> tuple[list[Rollback], list[Rollback]]:
    """Rollbacks away from this release (failed ones too) and back to it, one per run and env."""
    by_run: dict[str, list[Entry]] = {}
    for e in mine:
        if e.run_id:
            by_run.setdefault(e.run_id, []).append(e)
    spans = {r.run_id: r for r in runs}
    away: list[Rollback] = []
    back: list[Rollback] = []
    for run_id, run_entries in by_run.items():
        decisions = [e for e in run_entries if e.kind in ("rollback.requested", "rollback.started")]
        moves = [e for e in run_entries if e.kind == "host.switched" and e.data.get("action") == "rollback"]
        span = spans.get(run_id)
        is_rollback_run = span is not None and span.action == "rollback"
        if not decisions and not moves and not is_rollback_run:
            continue
        decision = decisions[-1] if decisions else None
        first = decision or (moves[0] if moves else run_entries[0])
        automatic = bool(decision and (decision.kind == "rollback.started" or decision.data.get("automatic")))
        by = str((decision.data.get("by") if decision else "") or (span.by if span else ""))
        reason = str(decision.data.get("reason", "")) if decision else ""
        status = rollback_status(span)
        to_this = {e.host: str(e.data.get("version")) for e in moves if _is_this(e.data, version, sha)}
        from_this = {
            e.host: str(e.data.get("version"))
            for e in moves
            if not _is_this(e.data, version, sha) and e.data.get("previous") == version
        }
        when = _fmt_ts(first.ts, zone)
        env = first.env
        replaced = ", ".join(sorted({str(e.data.get("previous") or "—") for e in moves if e.host in to_this}))
        if to_this or (not from_this and span is not None and span.version == version):
            back.append(Rollback("back", when, env, run_id, automatic, by, reason, to_this, replaced, status))
        elif from_this or span is None or span.this:
            away.append(
                Rollback("away", when, env, run_id, automatic, by, reason, from_this, version, status)
            )
    return away, back


# -- the procedure (seed 003 §2) -------------------------------------------------------


def _stages(
    manifest: Manifest,
    config: ProjectConfig,
    envs: list[str],
    kinds: Callable[..., list[Row]],
    criteria: list[Fact],
    closed: dict[str, str] | None,
) -> list[Fact]:
    """relkit's stages of the release process in order, each met, not met or pending."""
    crit = {c.key: c for c in criteria}
    test_envs = set(_test_envs(config, envs))
    downstream = [e for e in envs if e not in test_envs]
    approvals = kinds("approval.recorded")
    roles = {str(a.fields.get("role")) for a in approvals}
    verified = kinds("release.verified")
    prepared = [r for r in kinds("prepare.result") if r.env in downstream]
    notices = [
        n for n in kinds("notify.sent") if n.fields.get("event") == "announcement" and n.fields.get("ok")
    ]
    to_this = [
        s for s in kinds("host.switched") if _is_this(s.fields, manifest.version, manifest.artifact.sha256)
    ]
    missing_plan = [
        name
        for name, present in (
            ("changes", bool(manifest.changes)),
            ("schedule", manifest.schedule is not None),
            ("owners", bool(manifest.owners.po and manifest.owners.qa)),
            ("rollback_plan", bool(manifest.rollback_plan)),
        )
        if not present
    ]

    def state(done: bool, failed: bool = False) -> str:
        return MET if done else NOT_MET if failed else PENDING

    prod_smoke = [
        r
        for r in kinds("smoke.result")
        if r.env in downstream and r.fields.get("sha256") == manifest.artifact.sha256
    ]
    stages = [
        Fact(
            "plan",
            MET if not missing_plan else NOT_MET,
            "missing" if missing_plan else "plan_complete",
            {"missing": ", ".join(missing_plan)},
        ),
        Fact(
            "build",
            MET if manifest.code_freeze else PENDING,
            "freeze" if manifest.code_freeze else "no_freeze",
            {"commit": manifest.code_freeze.commit if manifest.code_freeze else ""},
        ),
        Fact("staging", crit["smoke"].state, crit["smoke"].note, crit["smoke"].args),
        Fact(
            "qa",
            state(crit["tests"].state == MET and "qa" in roles, crit["tests"].state == NOT_MET),
            "qa_approved" if "qa" in roles else "no_qa_approval",
            {},
        ),
        Fact("po_approval", state("po" in roles), "po_approved" if "po" in roles else "no_po_approval", {}),
    ]
    if downstream:
        stages += [
            Fact(
                "prepare",
                state(any(p.fields.get("passed") for p in prepared), bool(prepared)),
                "prepared" if prepared else "not_prepared",
                {"envs": ", ".join(downstream)},
            ),
            Fact("announce", state(bool(notices)), "announced" if notices else "not_announced", {}),
            Fact(
                "production",
                state(any(s.env in downstream for s in to_this)),
                "deployed_to" if any(s.env in downstream for s in to_this) else "not_deployed_to",
                {"envs": ", ".join(downstream)},
            ),
            Fact(
                "production_smoke",
                state(any(r.fields.get("passed") for r in prod_smoke), bool(prod_smoke)),
                "smoke_passed"
                if any(r.fields.get("passed") for r in prod_smoke)
                else "smoke_failed"
                if prod_smoke
                else "no_smoke",
                {"envs": ", ".join(downstream)},
            ),
        ]
    stages += [
        Fact(
            "verify",
            state(bool(verified)),
            "verified" if verified else "not_verified",
            {"by": str(verified[-1].fields.get("by", "")) if verified else ""},
        ),
        Fact("monitor", crit["monitor"].state, crit["monitor"].note, crit["monitor"].args),
        Fact(
            "close",
            state(closed is not None),
            "closed" if closed else "not_closed",
            {"by": closed["by"] if closed else "", "when": closed["when"] if closed else ""},
        ),
    ]
    return _skipped(stages)


def _skipped(stages: list[Fact]) -> list[Fact]:
    """A stage still pending when a later one is done was skipped: not met (monitoring, which
    runs alongside closing, aside)."""
    out = []
    for i, stage in enumerate(stages):
        later = [s for s in stages[i + 1 :] if s.key != "monitor"]
        if stage.state == PENDING and stage.key != "monitor" and any(s.state == MET for s in later):
            stage = Fact(stage.key, NOT_MET, stage.note, stage.args)
        out.append(stage)
    return out


WORK_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("change", ()),
    ("identify", ()),
    ("plan", ("plan",)),
    ("build", ("build", "staging")),
    ("verify", ("staging", "qa", "po_approval")),
    ("rollout", ("prepare", "announce", "production", "production_smoke")),
    ("review", ("verify", "monitor", "close")),
    ("cmdb", ("ledger",)),
)
"""Seed 003's work instruction (Tabel I), step by step, and relkit's stages that carry it out."""


def _work(stages: list[Fact], manifest: Manifest, chain_ok: bool | None) -> list[WorkStep]:
    by_key = {s.key: s for s in stages}
    ledger = Fact(
        "ledger",
        MET if chain_ok else NOT_MET if chain_ok is False else PENDING,
        "chain_ok" if chain_ok else "chain_bad" if chain_ok is False else "chain_unknown",
        {},
    )
    by_key["ledger"] = ledger
    steps = []
    for key, names in WORK_STEPS:
        facts = [by_key[n] for n in names if n in by_key]
        if key in ("change", "identify"):
            n = len(manifest.changes)
            facts = [
                Fact(key, MET if n else NOT_MET, "changes" if key == "change" else "grouped", {"n": str(n)})
            ]
        worst = min((f.state for f in facts), key=lambda s: STATE_ORDER[s], default=NA)
        steps.append(WorkStep(key, worst, facts))
    return steps


def _policy(config: ProjectConfig, envs: list[str]) -> dict[str, Any]:
    """The release policy relkit.yml sets: gates per environment, lead times, automatic actions."""
    p = config.policy
    signed = {
        env: p.signed_acts == "all" or config.environments[env].promote_from is not None for env in envs
    }
    return {
        "envs": [
            {
                "env": env,
                "promote_from": config.environments[env].promote_from or "",
                "prepare": gates_for("prepare", env, config.environments[env].promote_from, p),
                "deploy": gates_for("deploy", env, config.environments[env].promote_from, p),
                "close": gates_for("close", env, config.environments[env].promote_from, p),
                "signed": signed[env],
            }
            for env in envs
        ],
        "notice_lead_hours": f"{p.notice_lead_hours:g}",
        "monitoring_hours": f"{p.monitoring_hours:g}",
        "on_smoke_failure": p.on_smoke_failure,
        "on_partial_failure": p.on_partial_failure,
        "on_critical": config.health.on_critical,
        "critical_threshold": config.health.critical_threshold,
        "not_overridable": list(p.not_overridable),
        "freezes": [
            {
                "start": f"{f.start:%Y-%m-%d %H:%M}",
                "end": f"{f.end:%Y-%m-%d %H:%M}",
                "tz": f.timezone,
                "reason": f.reason,
            }
            for f in p.freezes
        ],
        "dbms": sorted({d.kind for d in config.data if d.kind != "directory"}),
        "keep_releases": config.retention.keep_releases,
    }


# -- hosts -----------------------------------------------------------------------------


def _host_views(
    config: ProjectConfig, envs: list[str], facts: Mapping[str, HostFacts], entries: Sequence[Entry]
) -> list[EnvHosts]:
    seen: dict[str, list[str]] = {}
    for e in entries:
        if e.kind == "host.switched" and e.host and e.host not in seen.setdefault(e.env, []):
            seen[e.env].append(e.host)
    out = []
    for env in envs:
        got = facts.get(env)
        views = []
        rendered = dict(got.hosts) if got else {}
        for host, values in rendered.items():
            views.append(
                HostView(
                    env,
                    host,
                    values.get("address"),
                    values.get("connection"),
                    values.get("deploy_path"),
                    [_smoke_item(c, values) for c in config.smoke.checks],
                    commands={
                        what: values.get(f"service.{what}")
                        for what, command in _service_commands(config).items()
                        if _templated(command)
                    },
                )
            )
        for host in seen.get(env, []):
            if host not in rendered:
                views.append(
                    HostView(
                        env, host, None, None, None, [_smoke_item(c, {}) for c in config.smoke.checks], False
                    )
                )
        error = got.error if got else "not read"
        out.append(EnvHosts(env, views, error if not rendered else ""))
    return out


def host_strings(config: ProjectConfig) -> dict[str, str]:
    """The relkit.yml strings the report renders per host (see :class:`HostFacts`)."""
    strings = {
        "address": "{{ ansible_host | default(inventory_hostname) }}",
        "connection": "{{ ansible_connection | default('ssh') }}",
        "deploy_path": "{{ relkit_deploy_path | default(relkit_project.deploy_path) }}",
    }
    for check in config.smoke.checks:
        strings[f"smoke.{check.name}"] = _smoke_target(check)
        if check.contains and _templated(check.contains):
            strings[f"smoke.{check.name}.contains"] = check.contains
    for what, command in _service_commands(config).items():
        if _templated(command):
            strings[f"service.{what}"] = command
    return strings


def _service_commands(config: ProjectConfig) -> dict[str, str]:
    """The service commands relkit.yml sets, in the order a deploy runs them."""
    service = config.service
    commands = {"stop": service.stop, "migrate": service.migrate, "start": service.start}
    return {what: command for what, command in commands.items() if command}


def _templated(text: str) -> bool:
    """True when ``text`` uses host variables (rendered per host, never shown raw)."""
    return "{{" in text or "{%" in text


def _smoke_target(check: SmokeCheck) -> str:
    if check.http is not None:
        return check.http
    if check.port is not None:
        return f"{check.host}:{check.port}"
    return check.command or ""


def _smoke_item(check: SmokeCheck, rendered: Mapping[str, str | None] | None) -> SmokeItem:
    """A smoke check with its target as the host sees it (``rendered``), or as relkit.yml has it
    when it uses no host variable; None when it does and the host's value is not known."""
    raw = _smoke_target(check)
    target: str | None = raw
    if _templated(raw):
        target = rendered.get(f"smoke.{check.name}") if rendered is not None else None
    if check.http is not None:
        contains = check.contains
        if contains and _templated(contains):
            contains = (rendered or {}).get(f"smoke.{check.name}.contains") or "(a value not known)"
        expect = f"HTTP {check.status}" + (f", contains {contains!r}" if contains else "")
        return SmokeItem(check.name, "http", target, expect)
    if check.port is not None:
        return SmokeItem(check.name, "port", target, "open")
    return SmokeItem(check.name, "command", target, "exit 0")


# -- runs, checks, criteria ------------------------------------------------------------


def _timeline(rows: list[Row]) -> list[Row]:
    """Every row in ledger order, less task results and the routine of scheduled health runs."""
    quiet_runs = {
        r.run_id for r in rows if r.kind == "run.started" and r.fields.get("action") in QUIET_ACTIONS
    }
    ok_runs = {r.run_id for r in rows if r.kind == "run.finished" and r.fields.get("status") in GOOD_RUNS}
    return [
        r
        for r in rows
        if r.kind not in SKIPPED_IN_TIMELINE
        and not (r.run_id in quiet_runs & ok_runs and r.kind in ("run.started", "run.finished"))
        and not _quiet_health(r)
    ]


def _quiet_health(row: Row) -> bool:
    return row.kind == "health.result" and row.fields.get("status") == "ok"


def _health_summary(rows: list[Row]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in rows:
        status = str(r.fields.get("status", "?"))
        counts[status] = counts.get(status, 0) + 1
    return {
        "count": len(rows),
        "counts": counts,
        "first": rows[0].when if rows else "",
        "last": rows[-1].when if rows else "",
    }


def _row(e: Entry, zone: tzinfo) -> Row:
    return Row(e.seq, e.ts, _fmt_ts(e.ts, zone), e.run_id, e.env, e.host, e.kind, dict(e.data))


def _parse(ts: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _fmt_ts(ts: str, zone: tzinfo) -> str:
    moment = _parse(ts)
    return _fmt(moment, zone) if moment else ts


def _fmt(moment: datetime, zone: tzinfo) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    local = aware.astimezone(zone)
    name = local.tzname() or ""
    if not name.isalpha():
        offset = local.strftime("%z")
        name = f"{offset[:3]}:{offset[3:]}" if offset else ""
    return f"{local:%Y-%m-%d %H:%M:%S} {name}".strip()


def _window(manifest: Manifest) -> dict[str, Any] | None:
    s = manifest.schedule
    if s is None:
        return None
    return {
        "start": _fmt(s.aware(s.window_start), s.zone),
        "end": _fmt(s.aware(s.window_end), s.zone),
        "start_iso": s.aware(s.window_start).isoformat(),
        "end_iso": s.aware(s.window_end).isoformat(),
        "timezone": s.timezone,
        "downtime_minutes": s.expected_downtime_minutes,
    }


def _env_order(config: ProjectConfig) -> list[str]:
    """Environments in promotion order (upstream first), then by name."""

    def depth(name: str) -> int:
        seen, step, n = set(), config.environments[name].promote_from, 0
        while step and step not in seen and step in config.environments:
            seen.add(step)
            step, n = config.environments[step].promote_from, n + 1
        return n

    return sorted(config.environments, key=lambda n: (depth(n), n))


def _test_envs(config: ProjectConfig, envs: list[str]) -> list[str]:
    """The environments a release is tested on: those others are promoted from."""
    upstream = {e.promote_from for e in config.environments.values() if e.promote_from}
    return [e for e in envs if e in upstream] or envs[:1]


def _criteria(
    manifest: Manifest,
    config: ProjectConfig,
    envs: list[str],
    switches: list[Row],
    checks: list[Row],
    now: datetime,
    zone: tzinfo,
) -> list[Fact]:
    """The success criteria (seed 003 §4.3), each met, not met, pending (not known yet) or n/a,
    with a note saying on what evidence."""
    version, sha = manifest.version, manifest.artifact.sha256
    test_envs = _test_envs(config, envs)
    downstream = [e for e in envs if e not in test_envs]
    # tests
    results = {k: getattr(manifest.tests, k) for k in TEST_KINDS}
    failed = [k for k, t in results.items() if t is not None and t.result == "failed"]
    missing = [k for k, t in results.items() if t is None]
    waiting = [k for k, t in results.items() if t is not None and t.result == "pending"]
    if failed:
        tests = Fact("tests", NOT_MET, "tests_failed", {"kinds": ", ".join(failed)})
    elif missing:
        tests = Fact("tests", NOT_MET, "tests_missing", {"kinds": ", ".join(missing)})
    elif waiting:
        tests = Fact("tests", PENDING, "tests_pending", {"kinds": ", ".join(waiting)})
    else:
        tests = Fact("tests", MET, "tests_passed", {})
    n_bugs = manifest.tests.open_critical_bugs
    bugs = Fact("bugs", MET if n_bugs == 0 else NOT_MET, "bugs", {"n": str(n_bugs)})
    # smoke on the test environments
    smoke = [r for r in checks if r.kind == "smoke.result" and r.fields.get("sha256") == sha]
    upstream_smoke = [r for r in smoke if r.env in test_envs]
    passed = [r for r in upstream_smoke if r.fields.get("passed")]
    if passed:
        smoke_fact = Fact("smoke", MET, "smoke_passed_at", {"env": passed[0].env, "when": passed[0].when})
    elif upstream_smoke:
        last = upstream_smoke[-1]
        hosts = ", ".join(str(h) for h in last.fields.get("failed") or []) or "—"
        smoke_fact = Fact(
            "smoke", NOT_MET, "smoke_failed_at", {"env": last.env, "when": last.when, "hosts": hosts}
        )
    else:
        smoke_fact = Fact("smoke", PENDING, "not_deployed_to", {"envs": ", ".join(test_envs)})
    # promotion: every switch of this release into a downstream environment after it passed smoke upstream
    downstream_in = [
        s
        for s in switches
        if s.env in downstream and _is_this(s.fields, version, sha) and s.fields.get("action") != "rollback"
    ]
    if not downstream:
        promote = Fact("promote", NA, "no_downstream", {})
    elif not downstream_in:
        promote = Fact("promote", PENDING, "not_deployed_to", {"envs": ", ".join(downstream)})
    else:
        early = [s for s in downstream_in if not any(p.seq < s.seq for p in passed)]
        promote = (
            Fact("promote", NOT_MET, "promoted_early", {"host": early[0].host, "when": early[0].when})
            if early
            else Fact("promote", MET, "promoted_after", {"env": ", ".join(test_envs)})
        )
    return [tests, bugs, smoke_fact, promote, _monitor(manifest, config, envs, switches, checks, now, zone)]


def _monitor(
    manifest: Manifest,
    config: ProjectConfig,
    envs: list[str],
    switches: list[Row],
    checks: list[Row],
    now: datetime,
    zone: tzinfo,
) -> Fact:
    """No critical health result while this release was live, over a monitoring window that has
    passed with health runs in it: met only then; a critical result while it was live is not met."""
    version, sha = manifest.version, manifest.artifact.sha256
    test_envs = _test_envs(config, envs)
    watched = [e for e in envs if e not in test_envs] or envs
    health = [
        r
        for r in checks
        if r.kind == "health.result" and version in _mapping(r.fields.get("versions")).values()
    ]
    critical = [r for r in health if r.fields.get("status") == "critical"]
    if critical:
        hosts = sorted(h for h, v in _mapping(critical[0].fields.get("versions")).items() if v == version)
        return Fact(
            "monitor",
            NOT_MET,
            "critical_at",
            {
                "env": critical[0].env,
                "when": critical[0].when,
                "n": str(len(critical)),
                "hosts": ", ".join(hosts),
            },
        )
    hours = config.policy.monitoring_hours
    into = [s for s in switches if s.env in watched and _is_this(s.fields, version, sha)]
    if not into:
        return Fact("monitor", PENDING, "not_deployed_to", {"envs": ", ".join(watched)})
    env = into[-1].env
    start = _parse(into[-1].ts) or now
    end = start + timedelta(hours=hours)
    left = [
        s for s in switches if s.env == env and s.seq > into[-1].seq and not _is_this(s.fields, version, sha)
    ]
    if left and (_parse(left[0].ts) or now) < end:
        return Fact("monitor", NOT_MET, "withdrawn_early", {"env": env, "when": left[0].when})
    in_window = [r for r in health if r.env == env and start <= (_parse(r.ts) or now) <= end]
    if now < end:
        return Fact(
            "monitor",
            PENDING,
            "window_open",
            {"env": env, "end": _fmt(end, zone), "n": str(len(in_window)), "hours": f"{hours:g}"},
        )
    if not in_window:
        return Fact(
            "monitor", NOT_MET, "no_health", {"env": env, "end": _fmt(end, zone), "hours": f"{hours:g}"}
        )
    return Fact(
        "monitor",
        MET,
        "monitored",
        {"env": env, "n": str(len(in_window)), "end": _fmt(end, zone), "hours": f"{hours:g}"},
    )


def _runs(entries: Sequence[Entry], zone: tzinfo, manifest: Manifest, config: ProjectConfig) -> list[RunSpan]:
    """Every run in ``entries``: its start, end and status (``interrupted`` without an end;
    ``blocked``: gates evaluated, nothing started), and what went wrong."""
    started: dict[str, Entry] = {}
    ended: dict[str, Entry] = {}
    gated: dict[str, Entry] = {}
    failures: dict[str, list[str]] = {}
    for e in entries:
        if not e.run_id:
            continue
        if e.kind == "run.started":
            started.setdefault(e.run_id, e)
        elif e.kind == "run.finished":
            ended[e.run_id] = e
        elif e.kind == "gate.evaluated":
            gated[e.run_id] = e
        elif e.kind == "task.result" and e.data.get("status") in ("failed", "unreachable"):
            msg = " ".join(str(e.data.get("msg") or e.data.get("status")).split())
            failures.setdefault(e.run_id, []).append(f"{e.host}: {msg}"[:200])
    spans: list[tuple[int, RunSpan]] = []
    for run_id, start in started.items():
        end = ended.get(run_id)
        action = str(start.data.get("action", ""))
        status = str(end.data.get("status", "")) if end else "interrupted"
        if action == "rollback" and status == "failed":
            status = "rollback_failed"
        this = bool(
            _is_this(start.data, manifest.version, manifest.artifact.sha256)
            if start.data.get("sha256") or start.data.get("version")
            else True
        )
        problem = ""
        if status not in GOOD_RUNS:
            details = list(dict.fromkeys(failures.get(run_id, [])))
            if end and end.data.get("error"):
                details.append(" ".join(str(end.data["error"]).split())[:200])
            problem = "; ".join(details)[:400]
        windowed = action == "deploy" and "window" in gates_for(
            "deploy", start.env, _promote_from(config, start.env), config.policy
        )
        spans.append(
            (
                start.seq,
                RunSpan(
                    run_id,
                    action,
                    start.env,
                    str(start.data.get("by", "")),
                    str(start.data.get("version") or start.data.get("to") or ""),
                    _fmt_ts(start.ts, zone),
                    _fmt_ts(end.ts, zone) if end else "",
                    status,
                    _in_window(manifest, start.ts, end.ts if end else None) if windowed and this else None,
                    problem,
                    this,
                ),
            )
        )
    for run_id, gate in gated.items():
        if run_id in started or gate.data.get("passed"):
            continue
        blocked = [str(g.get("name", "?")) for g in gate.data.get("gates", []) if not g.get("passed")]
        when = _fmt_ts(gate.ts, zone)
        spans.append(
            (
                gate.seq,
                RunSpan(
                    run_id,
                    str(gate.data.get("stage", "")),
                    gate.env,
                    str(gate.data.get("by", "")),
                    str(gate.data.get("version", "")),
                    when,
                    when,
                    "blocked",
                    None,
                    ", ".join(blocked),
                ),
            )
        )
    return [span for _, span in sorted(spans, key=lambda pair: pair[0])]


def _promote_from(config: ProjectConfig, env: str) -> str | None:
    environment = config.environments.get(env)
    return environment.promote_from if environment else None


def _in_window(manifest: Manifest, start: str, end: str | None) -> bool | None:
    s = manifest.schedule
    low_run, high_run = _parse(start), _parse(end) if end else None
    if s is None or low_run is None or high_run is None:
        return None
    low, high = s.aware(s.window_start), s.aware(s.window_end)
    return low <= low_run and high_run <= high


def _actors(rows: list[Row], runs: list[RunSpan]) -> dict[str, list[str]]:
    """Who acted on this release (the ledger's ``by``), and what they did."""
    acts: dict[str, list[str]] = {}

    def add(who: object, what: str) -> None:
        name = str(who or "").strip()
        if name and what not in acts.setdefault(name, []):
            acts[name].append(what)

    for run in runs:
        if run.this or run.action == "rollback":
            add(run.by, run.action)
    for r in rows:
        if r.kind == "approval.recorded":
            add(r.fields.get("by"), f"approval:{r.fields.get('role', '')}")
        elif r.kind == "release.verified":
            add(r.fields.get("by"), "verification")
        elif r.kind == "gate.override":
            add(r.fields.get("by"), "override")
        elif r.kind == "rollback.requested":
            add(r.fields.get("by"), "rollback_decision")
        elif r.kind == "release.closed":
            add(r.fields.get("by"), "close")
    return acts


def _install(config: ProjectConfig, envs: list[str], manifest_ref: str) -> list[Step]:
    upstream = set(_test_envs(config, envs))
    steps = [Step("step_prepare", f"relkit prepare --env {e} --manifest {manifest_ref}", e) for e in envs]
    for env in envs:
        if env not in upstream:
            steps.append(
                Step("step_announce", f"relkit notify {manifest_ref} --kind announcement --env {env}", env)
            )
        steps.append(Step("step_deploy", f"relkit deploy {manifest_ref} --env {env}", env))
    steps.append(Step("step_status", "relkit status"))
    steps.append(Step("step_rollback", "relkit rollback --env ENV --key KEY --by NAME --reason WHY"))
    steps.append(Step("step_report", f"relkit report {manifest_ref} --out report.html"))
    return steps


def _rollbacks(requests: list[Row], switches: list[Row], runs: list[RunSpan]) -> list[Row]:
    """Rollback decisions with the switches of the same run (host → version) and the run's end."""
    status = {r.run_id: rollback_status(r) for r in runs}
    out = []
    for r in requests:
        moved = {
            s.host: s.fields.get("version")
            for s in switches
            if s.run_id == r.run_id and s.fields.get("action") == "rollback"
        }
        fields = {**r.fields, "moved": moved, "run_status": status.get(r.run_id, "")}
        out.append(Row(r.seq, r.ts, r.when, r.run_id, r.env, r.host, r.kind, fields))
    return out


# -- words -----------------------------------------------------------------------------


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def describe(row: Row, labels: dict[str, Any]) -> str:
    """One line saying what a ledger row records, in the labels' language."""
    words: dict[str, str] = labels["words"]
    d = row.fields

    def word(value: object) -> str:
        return words.get(str(value), str(value))

    def verdict(ok: object, extra: str = "") -> str:
        text = word("passed" if ok else "failed")
        return f"{text} ({extra})" if extra and not ok else text

    values: dict[str, Any] = _Blank({k: v for k, v in d.items() if isinstance(v, str | int | float)})
    values["action"] = word(d.get("action", ""))
    values["status"] = word(d.get("status", ""))
    values["previous"] = d.get("previous") or "—"
    values["role"] = str(d.get("role", "")).upper()
    if row.kind == "gate.evaluated":
        blocked = [g.get("name", "?") for g in d.get("gates", []) if not g.get("passed")]
        values["verdict"] = word("passed") if d.get("passed") else f"{word('blocked')}: {', '.join(blocked)}"
    elif row.kind in ("smoke.result", "prepare.result"):
        values["verdict"] = verdict(d.get("passed"), ", ".join(d.get("failed") or []))
    elif row.kind == "health.result":
        values["verdict"] = word(d.get("status", "?"))
    elif row.kind == "notify.sent":
        values["verdict"] = word("ok") if d.get("ok") else f"{word('failed')}: {d.get('error', '')}"
    events: dict[str, str] = labels["events"]
    template = events.get(row.kind)
    if template is None:
        simple = [f"{k}={v}" for k, v in d.items() if isinstance(v, str | int | float | bool)]
        return f"{row.kind} {' '.join(simple)}"[:300]
    return template.format_map(values)[:500]


def _closed(entries: Iterable[Entry], zone: tzinfo) -> dict[str, str] | None:
    """When, by whom and on which environment the release was closed (its last ``release.closed``)."""
    closing = [e for e in entries if e.kind == "release.closed"]
    if not closing:
        return None
    last = closing[-1]
    return {"when": _fmt_ts(last.ts, zone), "by": str(last.data.get("by", "")), "env": last.env}
