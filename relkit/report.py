"""The release report model: manifest + project config + ledger entries → the report's sections.

Pure: no I/O. :func:`build_report` selects the ledger entries of one release (by the run ids
of its runs, and by version/sha256 for entries outside runs), and arranges them in the
sections of seed 003's release report followed by relkit's own record (approvals, gates,
deployments, checks, rollbacks, notifications, retrospective). Rendering (Markdown, HTML,
English or Bahasa Indonesia) is :func:`relkit.templating.render_report`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from relkit.chain import ChainCheck, Entry
from relkit.config import ProjectConfig, SmokeCheck
from relkit.manifest import Change, Manifest

SECTIONS = (
    "policy",
    "scope",
    "functionality",
    "problems",
    "tests",
    "test_env",
    "criteria",
    "resources",
    "schedule",
    "support",
    "hardware",
    "install",
    "approvals",
    "gates",
    "deployments",
    "checks",
    "rollbacks",
    "notifications",
    "retro",
    "ledger",
)
"""The report's sections, in order: seed 003's, then relkit's record."""

FEATURE_TYPES = ("feature", "performance")
FIX_TYPES = ("fix", "security")
ROLES = ("po", "dev", "qa", "ops", "comms")
TEST_KINDS = ("functional", "regression", "performance", "security")
SKIPPED_IN_TIMELINE = ("task.result",)
QUIET_ACTIONS = ("health",)
"""Scheduled runs shown only by their non-ok results (a 48 h monitoring window is ~600 runs)."""


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
class SmokeItem:
    """One smoke check of relkit.yml, described."""

    name: str
    kind: str
    target: str
    expect: str


@dataclass(frozen=True)
class RunSpan:
    """One run of this release: where, when it started and ended, how it ended."""

    run_id: str
    action: str
    env: str
    by: str
    started: str
    finished: str
    status: str
    in_window: bool | None


@dataclass(frozen=True)
class Step:
    """An installation step: what it does (a label key) and the command."""

    what: str
    command: str
    env: str = ""


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
    sections: tuple[str, ...]
    # seed 003
    os: list[str]
    features: list[Change]
    fixes: list[Change]
    other_changes: list[Change]
    code_freeze: dict[str, str] | None
    tests: list[dict[str, Any]]
    open_critical_bugs: int
    test_envs: list[str]
    environments: list[str]
    smoke_checks: list[SmokeItem]
    smoke_timeout: float
    criteria: dict[str, bool | None]
    owners: dict[str, str]
    window: dict[str, Any] | None
    closed: dict[str, str] | None
    runs: list[RunSpan]
    timeline: list[Row]
    health: dict[str, Any]
    hardware: dict[str, Any]
    install: list[Step]
    configuration: dict[str, Any]
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

    def section(self, name: str) -> int:
        """The number of a section (1-based)."""
        return self.sections.index(name) + 1


# -- which entries belong to the release -----------------------------------------------


def run_owners(entries: Iterable[Entry], version: str, sha256: str) -> dict[str, bool]:
    """Run id → True (a run of this release) or False (of another release).

    Deploy and prepare runs name their version (and sha256) when they start; a rollback run
    belongs to the release it switched hosts away from. Runs that name no release are absent.
    """
    owners: dict[str, bool] = {}
    named: set[str] = set()
    for e in entries:
        if not e.run_id:
            continue
        if e.kind == "run.started":
            sha, ver = e.data.get("sha256"), e.data.get("version")
            if sha:
                owners[e.run_id] = sha == sha256
            elif ver:
                owners[e.run_id] = ver == version
            if sha or ver:
                named.add(e.run_id)
        elif e.run_id in named:
            continue
        elif e.kind == "host.switched" and e.data.get("action") == "rollback" and e.data.get("previous"):
            if e.data["previous"] == version:
                owners[e.run_id] = True
            else:
                owners.setdefault(e.run_id, False)
        elif e.kind == "health.result" and version in _mapping(e.data.get("versions")).values():
            owners[e.run_id] = True
    return owners


def _mapping(value: object) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def release_entries(entries: Sequence[Entry], version: str, sha256: str) -> list[Entry]:
    """The entries of this release, in ledger order (see :func:`run_owners`)."""
    owners = run_owners(entries, version, sha256)

    def belongs(e: Entry) -> bool:
        owned = owners.get(e.run_id) if e.run_id else None
        if owned is not None:
            return owned
        sha = e.data.get("sha256")
        return sha == sha256 if sha else e.data.get("version") == version

    return sorted((e for e in entries if belongs(e)), key=lambda e: e.seq)


# -- building --------------------------------------------------------------------------


def build_report(
    manifest: Manifest,
    config: ProjectConfig,
    entries: Sequence[Entry],
    *,
    manifest_ref: str,
    generated_at: datetime,
    chain: ChainCheck | None = None,
) -> Report:
    """The report of ``manifest``'s release from the project config and the whole ledger."""
    mine = release_entries(entries, manifest.version, manifest.artifact.sha256)
    zone: tzinfo = manifest.schedule.zone if manifest.schedule else UTC
    rows = [_row(e, zone) for e in mine]
    by_kind: dict[str, list[Row]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)

    def kinds(*names: str) -> list[Row]:
        return sorted((r for n in names for r in by_kind.get(n, [])), key=lambda r: r.seq)

    envs = _env_order(config)
    req = manifest.requirements
    window = _window(manifest)
    return Report(
        app=manifest.app,
        version=manifest.version,
        sha256=manifest.artifact.sha256,
        artifact=manifest.artifact.path or manifest.artifact.url or "",
        manifest_ref=manifest_ref,
        generated_at=_fmt(generated_at, zone),
        timezone=manifest.schedule.timezone if manifest.schedule else "UTC",
        sections=SECTIONS,
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
        test_envs=_test_envs(config, envs),
        environments=envs,
        smoke_checks=[_smoke_item(c) for c in config.smoke.checks],
        smoke_timeout=config.smoke.timeout,
        criteria=_criteria(manifest, config, envs, kinds("smoke.result", "health.result")),
        owners={r: getattr(manifest.owners, r) for r in ROLES if getattr(manifest.owners, r)},
        window=window,
        runs=[r for r in _runs(mine, zone, manifest) if r.action not in QUIET_ACTIONS],
        timeline=_timeline(rows),
        health=_health_summary(kinds("health.result")),
        hardware={
            "os": ", ".join(f"{o.distribution} {'/'.join(o.versions)}".strip() for o in req.os),
            "cpu": req.cpu,
            "ram_mb": req.ram_mb,
            "disk_mb": req.disk_mb,
        },
        install=_install(config, envs, manifest_ref),
        configuration={
            "deploy_path": config.deploy_path,
            "shared": list(config.shared),
            "stop": config.service.stop or "",
            "migrate": config.service.migrate or "",
            "start": config.service.start,
            "keep_releases": config.retention.keep_releases,
        },
        rollback_plan=manifest.rollback_plan or "",
        closed=_closed(mine),
        approvals=kinds("approval.recorded", "release.verified"),
        gates=kinds("gate.evaluated"),
        overrides=kinds("gate.override"),
        deployments=kinds("host.switched"),
        checks=[r for r in kinds("smoke.result", "health.result") if not _quiet_health(r)],
        rollbacks=_rollbacks(kinds("rollback.requested", "rollback.started"), kinds("host.switched")),
        notifications=kinds("notify.sent"),
        retro=kinds("release.closed"),
        ledger={
            "entries": len(mine),
            "total": len(entries),
            "first": rows[0].when if rows else "",
            "last": rows[-1].when if rows else "",
            "chain_ok": chain.ok if chain else None,
            "chain_checked": chain.checked if chain else 0,
            "chain_problem": chain.problem if chain else "",
            "chain_bad_seq": chain.bad_seq if chain else None,
            "head": entries[-1].hash if entries else "",
        },
    )


def _timeline(rows: list[Row]) -> list[Row]:
    """Every row in ledger order, less task results and the routine of scheduled health runs."""
    quiet_runs = {
        r.run_id for r in rows if r.kind == "run.started" and r.fields.get("action") in QUIET_ACTIONS
    }
    return [
        r
        for r in rows
        if r.kind not in SKIPPED_IN_TIMELINE
        and not (r.run_id in quiet_runs and r.kind in ("run.started", "run.finished"))
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


def _fmt_ts(ts: str, zone: tzinfo) -> str:
    try:
        return _fmt(datetime.fromisoformat(ts), zone)
    except ValueError:
        return ts


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
    manifest: Manifest, config: ProjectConfig, envs: list[str], checks: list[Row]
) -> dict[str, bool | None]:
    """Each success criterion: met (True), not met (False) or not applicable / not yet known (None)."""
    tests = [getattr(manifest.tests, k) for k in TEST_KINDS]
    test_envs = set(_test_envs(config, envs))
    smoke = [
        r for r in checks if r.kind == "smoke.result" and r.fields.get("sha256") == manifest.artifact.sha256
    ]
    health = [r for r in checks if r.kind == "health.result"]
    passed_upstream = [r.seq for r in smoke if r.env in test_envs and r.fields.get("passed")]
    downstream = [r.seq for r in smoke if r.env not in test_envs]
    return {
        "tests": all(t is not None and t.result == "passed" for t in tests),
        "bugs": manifest.tests.open_critical_bugs == 0,
        "smoke": any(r.fields.get("passed") for r in smoke if r.env in test_envs) if smoke else None,
        "promote": (bool(passed_upstream) and min(passed_upstream) < min(downstream)) if downstream else None,
        "monitor": (not any(r.fields.get("status") == "critical" for r in health)) if health else None,
    }


def _smoke_item(check: SmokeCheck) -> SmokeItem:
    if check.http is not None:
        expect = f"HTTP {check.status}" + (f", contains {check.contains!r}" if check.contains else "")
        return SmokeItem(check.name, "http", check.http, expect)
    if check.port is not None:
        return SmokeItem(check.name, "port", f"{check.host}:{check.port}", "open")
    return SmokeItem(check.name, "command", check.command or "", "exit 0")


def _runs(entries: list[Entry], zone: tzinfo, manifest: Manifest) -> list[RunSpan]:
    started = {e.run_id: e for e in entries if e.kind == "run.started"}
    ended = {e.run_id: e for e in entries if e.kind == "run.finished"}
    spans = []
    for run_id, start in started.items():
        end = ended.get(run_id)
        spans.append(
            RunSpan(
                run_id,
                str(start.data.get("action", "")),
                start.env,
                str(start.data.get("by", "")),
                _fmt_ts(start.ts, zone),
                _fmt_ts(end.ts, zone) if end else "",
                str(end.data.get("status", "")) if end else "interrupted",
                _in_window(manifest, start.ts, end.ts if end else None),
            )
        )
    return spans


def _in_window(manifest: Manifest, start: str, end: str | None) -> bool | None:
    s = manifest.schedule
    if s is None or end is None:
        return None
    low, high = s.aware(s.window_start), s.aware(s.window_end)
    return low <= datetime.fromisoformat(start) and datetime.fromisoformat(end) <= high


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
    steps.append(Step("step_report", f"relkit report {manifest_ref} --format html -o report.html"))
    return steps


def _rollbacks(requests: list[Row], switches: list[Row]) -> list[Row]:
    """Rollback requests with the switches of the same run (host → version) added."""
    out = []
    for r in requests:
        moved = {
            s.host: s.fields.get("version")
            for s in switches
            if s.run_id == r.run_id and s.fields.get("action") == "rollback"
        }
        out.append(Row(r.seq, r.ts, r.when, r.run_id, r.env, r.host, r.kind, {**r.fields, "moved": moved}))
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


def _closed(entries: list[Entry]) -> dict[str, str] | None:
    """When and by whom the release was closed (its last ``release.closed`` entry), if it was."""
    closing = [e for e in entries if e.kind == "release.closed"]
    if not closing:
        return None
    return {"when": closing[-1].ts[:16].replace("T", " ") + " UTC", "by": str(closing[-1].data.get("by", ""))}
