"""Post-release health (SOP 4.4.1): scheduled checks, their record, metrics and the rollback policy.

:func:`check_health` runs the smoke checks (as critical) plus ``relkit.yml``'s health checks
on every host of an environment in one play (``playbooks/health.yml``, one module call per
host), records a ``health.result`` in the ledger, optionally writes a Prometheus textfile
and applies ``health.on_critical`` once ``health.critical_threshold`` consecutive critical
results have piled up since the last switch. It never takes or breaks the deploy lock: a
health run that meets a running deploy waits briefly, then skips.

Everything but :func:`check_health` and :func:`write_prom_file` is pure.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from relkit import lock
from relkit.chain import Entry
from relkit.config import Health, ProjectConfig
from relkit.errors import BadInput, Locked, PlayFailed, RelkitError
from relkit.project import Project
from relkit.runner import PlayResult, TaskOutcome
from relkit.status import live_releases

RANK = {"ok": 0, "warning": 1, "critical": 2}
AUTO_BY = "relkit-health"
MAX_WAIT = 600.0
KEEP_RUN_DIRS = 100
"""Health runs whose ansible-runner artifacts stay in <state_dir>/runs (the ledger keeps every result)."""


OutcomeSink = Callable[[TaskOutcome], None]


def _quiet(_: TaskOutcome) -> None:
    """Default progress sink: show nothing."""


@dataclass
class HostHealth:
    """One host's health: its status, live version and one result per check."""

    host: str
    status: str
    version: str | None
    checks: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""


@dataclass
class HealthReport:
    """What a ``relkit health`` run found and did, for the terminal and ``--output json``."""

    env: str
    status: str
    run_id: str = ""
    skipped: str = ""
    hosts: dict[str, HostHealth] = field(default_factory=dict)
    window_end: str = ""
    consecutive_critical: int = 0
    threshold: int = 0
    decision: dict[str, Any] = field(default_factory=dict)
    rolled_back: dict[str, str] = field(default_factory=dict)
    prom_file: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def critical(self) -> bool:
        """True when a critical check failed on some host."""
        return self.status == "critical"

    def summary(self) -> str:
        """One line (or a few) saying what was found and what was done."""
        if self.skipped:
            return f"health {self.env}: skipped: {self.skipped}"
        bad = [
            f"{h.host} {c['name']}: {c['detail']}"
            for h in self.hosts.values()
            for c in h.checks
            if c["status"] == "critical"
        ] + [f"{h.host}: {h.problem}" for h in self.hosts.values() if h.problem]
        head = f"health {self.env}: {self.status}"
        if self.status == "critical":
            head += f" ({self.consecutive_critical} of {self.threshold} in a row since the last switch)"
        lines = [head, *(f"  {b}" for b in bad)]
        if self.rolled_back:
            lines.append(
                "  rolled back automatically: " + ", ".join(f"{h} → {v}" for h, v in self.rolled_back.items())
            )
        elif self.decision:
            lines.append(f"  {self.decision['note']}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["critical"] = self.critical
        return data


# -- pure logic --------------------------------------------------------------------------


def monitoring_hours(config: ProjectConfig) -> float:
    """Hours a release is monitored after its switch (``policy.monitoring_hours``, SOP 4.4.1: 24-48)."""
    return config.policy.monitoring_hours


def last_switch(entries: Iterable[Entry], env: str) -> Entry | None:
    """The last ``host.switched`` entry of ``env``."""
    found = None
    for e in entries:
        if e.kind == "host.switched" and e.env == env:
            found = e
    return found


def window_end(switch: Entry, hours: float) -> datetime:
    """When the monitoring window that opened with ``switch`` closes."""
    return datetime.fromisoformat(switch.ts) + timedelta(hours=hours)


def health_checks(config: ProjectConfig) -> list[dict[str, Any]]:
    """What the host module runs: the smoke checks as critical, then the health checks."""
    smoke = [
        {**c.model_dump(exclude_none=True), "severity": "critical", "source": "smoke"}
        for c in config.smoke.checks
    ]
    return smoke + [{**c.model_dump(exclude_none=True), "source": "health"} for c in config.health.checks]


def host_health(result: PlayResult, hosts: Iterable[str] = ()) -> dict[str, HostHealth]:
    """Per host, the module's health result; a host without one (unreachable, failed) is critical."""
    found: dict[str, HostHealth] = {}
    for o in result.outcomes:
        info = o.result.get("health")
        if isinstance(info, dict) and info.get("checks") is not None:
            found[o.host] = HostHealth(
                o.host, str(info.get("status", "critical")), info.get("version"), list(info["checks"])
            )
            if not info["checks"] and o.status != "ok":
                found[o.host].problem = o.msg
        elif o.status in ("failed", "unreachable") and o.host not in found:
            found[o.host] = HostHealth(o.host, "critical", None, [], f"{o.status}: {o.msg}")
    for host in hosts:
        found.setdefault(host, HostHealth(host, "critical", None, [], "no health result (host not reached)"))
    return dict(sorted(found.items()))


def overall(hosts: Iterable[HostHealth]) -> str:
    """The worst host status (ok when there is no host)."""
    return max((h.status for h in hosts), key=RANK.__getitem__, default="ok")


def critical_streak(entries: Iterable[Entry], env: str, since_seq: int) -> list[Entry]:
    """The trailing run of critical ``health.result`` entries of ``env`` after entry ``since_seq``."""
    streak: list[Entry] = []
    for e in entries:
        if e.kind != "health.result" or e.env != env or e.seq <= since_seq:
            continue
        streak = [*streak, e] if e.data.get("status") == "critical" else []
    return streak


def evidence(streak: Iterable[Entry]) -> list[dict[str, Any]]:
    """The failing results behind a decision: per health run, each host's critical checks."""
    return [
        {
            "seq": e.seq,
            "ts": e.ts,
            "run_id": e.run_id,
            "failing": {
                host: [
                    f"{c['name']}: {c['detail']}"
                    for c in info.get("checks", [])
                    if c.get("status") == "critical"
                ]
                or [info.get("problem") or "critical"]
                for host, info in e.data.get("hosts", {}).items()
                if info.get("status") == "critical"
            },
        }
        for e in streak
    ]


def decide(policy: Health, streak_len: int, in_window: bool, already_decided: bool) -> str | None:
    """What the policy asks for now: ``rollback``, ``ask`` or nothing."""
    if streak_len < policy.critical_threshold or not in_window or already_decided:
        return None
    return policy.on_critical


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(str(v))}"' for k, v in labels.items()) + "}"


PROM_HELP = {
    "relkit_health_check_status": "Health check result per host: 0 ok, 1 warning, 2 critical.",
    "relkit_health_check_latency_seconds": "Time the health check took on the host.",
    "relkit_health_host_status": "Worst check result per host: 0 ok, 1 warning, 2 critical.",
    "relkit_health_status": "Worst result of the environment: 0 ok, 1 warning, 2 critical.",
    "relkit_health_consecutive_critical": "Critical health results in a row since the last switch.",
    "relkit_health_monitoring_active": "1 while the live release is inside its monitoring window.",
    "relkit_health_last_run_timestamp_seconds": "When this health run finished (Unix time).",
    "relkit_health_run_duration_seconds": "How long this health run took.",
    "relkit_release_info": "The release live on each host.",
    "relkit_release_deployed_seconds": "Seconds since the live release was switched in (ledger).",
}


def prometheus_text(
    report: HealthReport, live: dict[str, tuple[str, str]], now: datetime, active: bool
) -> str:
    """The textfile-collector document: ``live`` is host → (version, switched-at ISO time)."""
    samples: dict[str, list[str]] = {name: [] for name in PROM_HELP}
    env = report.env
    for h in report.hosts.values():
        for c in h.checks:
            labels = _labels(env=env, host=h.host, check=c["name"], kind=c["kind"], severity=c["severity"])
            samples["relkit_health_check_status"].append(f"{labels} {RANK[c['status']]}")
            samples["relkit_health_check_latency_seconds"].append(
                f"{labels} {float(c.get('latency_ms') or 0) / 1000:.6f}"
            )
        samples["relkit_health_host_status"].append(f"{_labels(env=env, host=h.host)} {RANK[h.status]}")
    if report.hosts:
        samples["relkit_health_status"].append(f"{_labels(env=env)} {RANK[report.status]}")
        samples["relkit_health_consecutive_critical"].append(
            f"{_labels(env=env)} {report.consecutive_critical}"
        )
    samples["relkit_health_monitoring_active"].append(f"{_labels(env=env)} {int(active)}")
    samples["relkit_health_last_run_timestamp_seconds"].append(f"{_labels(env=env)} {now.timestamp():.3f}")
    samples["relkit_health_run_duration_seconds"].append(f"{_labels(env=env)} {report.seconds:.3f}")
    for host, (version, since) in sorted(live.items()):
        samples["relkit_release_info"].append(f"{_labels(env=env, host=host, version=version)} 1")
        age = max(0.0, (now - datetime.fromisoformat(since)).total_seconds())
        samples["relkit_release_deployed_seconds"].append(f"{_labels(env=env, host=host)} {age:.0f}")
    lines = []
    for name, rows in samples.items():
        if rows:
            lines += [f"# HELP {name} {PROM_HELP[name]}", f"# TYPE {name} gauge"]
            lines += [name + row for row in rows]
    return "\n".join(lines) + "\n"


# -- I/O ---------------------------------------------------------------------------------


def write_prom_file(path: Path, text: str) -> None:
    """Write ``text`` atomically (temporary file in the same directory, fsync, rename(2))."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def prune_run_dirs(runs: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` health run directories (a run every few minutes adds up)."""
    old = sorted(runs.glob("*-health"))[:-keep] if keep > 0 else []
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return old


def _check_args(project: Project, env: str, prom_file: Path | None, wait: float) -> None:
    project.inventory(env)
    if not 0 <= wait <= MAX_WAIT:
        raise BadInput(f"--wait: expected seconds between 0 and {MAX_WAIT:.0f}, got {wait}")
    if prom_file is not None:
        if prom_file.is_dir():
            raise BadInput(f"--prom-file: {prom_file} is a directory; expected a file path, e.g. relkit.prom")
        if not prom_file.parent.is_dir():
            raise BadInput(f"--prom-file: directory {prom_file.parent} does not exist")


def _running_deploy(project: Project, env: str, wait: float) -> lock.Holder | None:
    """A live holder of the environment's lock still there after ``wait`` seconds (read only)."""
    path = lock.lock_path(project.state_dir, env)
    deadline = time.monotonic() + wait
    while True:
        holder = lock.read_holder(path)
        if holder is None or not holder.alive or time.monotonic() >= deadline:
            return holder if holder is not None and holder.alive else None
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def _live(entries: list[Entry], env: str) -> dict[str, tuple[str, str]]:
    return {h: (r.version, r.since) for h, r in live_releases(entries).get(env, {}).items()}


def _prom_live(switches: list[Entry], report: HealthReport) -> dict[str, tuple[str, str]]:
    """Host → (live version, switched-in at): what the host reported, unless it was just rolled back."""
    live = _live(switches, report.env)
    for host, h in report.hosts.items():
        if host in live and h.version and host not in report.rolled_back:
            live[host] = (h.version, live[host][1])
    return live


def check_health(
    project: Project,
    env: str,
    *,
    by: str | None = None,
    always: bool = False,
    prom_file: Path | None = None,
    wait: float = 10.0,
    progress: OutcomeSink = _quiet,
    now: datetime | None = None,
) -> HealthReport:
    """Check the live release of ``env``; record, export and apply the critical policy.

    Skips (status ``skipped``, nothing touched) outside the monitoring window unless
    ``always``, and when a deploy or rollback still holds the lock after ``wait`` seconds.
    """
    from relkit import api  # the run book-keeping and rollback live there; api re-exports us

    started = time.monotonic()
    _check_args(project, env, prom_file, wait)
    config, ledger = project.config, project.ledger
    clock = now or datetime.now(UTC)
    hours = monitoring_hours(config)
    switches = list(ledger.entries(kind="host.switched", env=env))
    switch = switches[-1] if switches else None
    end = window_end(switch, hours) if switch else None
    report = HealthReport(env, "skipped", window_end=end.isoformat(timespec="seconds") if end else "")
    active = end is not None and clock <= end
    if not active and not always:
        if switch is None:
            report.skipped = (
                f"nothing switched in on {env} yet: no monitoring window (--always checks anyway)"
            )
        else:
            report.skipped = (
                f"monitoring window of {env} ended {end:%Y-%m-%d %H:%M}Z ({hours:g} h after the switch "
                f"to {switch.data.get('version')} at {switch.ts[:16]}Z): nothing to check "
                "(--always checks anyway)"
            )
            if prom_file is not None:
                report.prom_file = str(prom_file)
                write_prom_file(prom_file, prometheus_text(report, _live(switches, env), clock, False))
        report.seconds = round(time.monotonic() - started, 3)
        return report
    holder = _running_deploy(project, env, wait)
    if holder is not None:
        report.skipped = f"deploy in progress, skipped ({holder.describe()})"
        report.seconds = round(time.monotonic() - started, 3)
        return report
    stale = lock.read_holder(lock.lock_path(project.state_dir, env))
    if stale is not None:
        report.notes.append(f"stale lock: {stale.describe()}")

    run = api.RunBook(project, env, "health", api.identity(by))
    report.run_id, report.threshold = run.run_id, config.health.critical_threshold
    run.started(window_end=report.window_end, always=always)
    checks = {"checks": health_checks(config), "timeout": config.health.timeout}
    result = run.play("health.yml", {"relkit_health": checks}, progress)
    if not result.outcomes:
        run.finished("failed", rc=result.rc)
        raise PlayFailed(f"health play on {env} reached no host:\n{result.failure_summary()}", report)
    report.hosts = host_health(result)
    report.status = overall(report.hosts.values())
    # A deploy that began (or came and went) while we checked makes these results meaningless.
    after = list(ledger.entries(kind="host.switched", env=env))
    moving = _running_deploy(project, env, 0)
    if moving is not None or len(after) != len(switches):
        report.skipped = "deploy in progress, skipped (it started during the health run; results discarded)"
        report.status = "skipped"
        run.finished("skipped", rc=result.rc)
        report.seconds = round(time.monotonic() - started, 3)
        return report

    since = switch.seq if switch else 0
    entry = run.record(
        "health.result",
        status=report.status,
        by=run.by,
        versions={h.host: h.version for h in report.hosts.values()},
        hosts={
            h.host: {"status": h.status, "checks": h.checks, "problem": h.problem}
            for h in report.hosts.values()
        },
    )
    everything = list(ledger.entries(kind="health.result", env=env))
    streak = critical_streak(everything, env, since) if report.critical else []
    report.consecutive_critical = len(streak)
    decided = [
        e
        for e in ledger.entries(kind="decision.*", env=env)
        if e.seq > since and e.data.get("source") == "health"
    ]
    action = decide(config.health, len(streak), active, bool(decided))
    if report.critical and decided and not action:
        report.decision = {
            "action": decided[-1].data.get("decision"),
            "seq": decided[-1].seq,
            "note": f"decision already recorded for this release: ledger #{decided[-1].seq} "
            f"({decided[-1].kind})",
        }
    if report.critical and (len(streak) == 1 or action is not None):
        _notify_critical(run, report, action, config.health, active)
    if action is not None:
        try:
            _apply(project, run, report, action, streak, progress)
        except RelkitError as exc:
            run.finished("rollback_failed", rc=result.rc, health_seq=entry.seq, error=str(exc)[:500])
            raise
    run.finished(report.status, rc=result.rc, health_seq=entry.seq, decision=report.decision.get("action"))
    prune_run_dirs(project.state_dir / "runs", KEEP_RUN_DIRS)
    if prom_file is not None:
        live = _prom_live(list(ledger.entries(kind="host.switched", env=env)), report)
        report.prom_file = str(prom_file)
        report.seconds = round(time.monotonic() - started, 3)
        write_prom_file(prom_file, prometheus_text(report, live, datetime.now(UTC), active))
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _notify_critical(
    run: Any, report: HealthReport, action: str | None, policy: Health, active: bool
) -> None:
    """Tell the ``health.critical`` channels: on the first critical result of a streak and on a decision."""
    env = report.env
    if action == "rollback":
        step = f"automatic rollback of {env} to the previous release (health.on_critical: rollback)"
    elif action == "ask":
        step = f'the PO decides: relkit rollback --env {env} --by <PO> --reason "..."'
    elif active:
        left = policy.critical_threshold - report.consecutive_critical
        step = f"{left} more critical result(s) in a row trigger health.on_critical: {policy.on_critical}"
    else:
        step = "outside the monitoring window: no automatic action"
    versions = sorted({h.version for h in report.hosts.values() if h.version})
    run.notify(
        "health.critical",
        version=", ".join(versions),
        failed=[h.host for h in report.hosts.values() if h.status == "critical"],
        checks={h.host: h.checks for h in report.hosts.values() if h.status == "critical"},
        next_step=step,
    )


def _apply(
    project: Project, run: Any, report: HealthReport, action: str, streak: list[Entry], progress: OutcomeSink
) -> None:
    """Record the policy's decision with its evidence; roll back (``rollback``) or ask the PO."""
    from relkit import api

    env, policy = report.env, project.config.health
    proof = evidence(streak)
    reason = (
        f"health critical {len(streak)} times in a row (threshold {policy.critical_threshold}): "
        + "; ".join(f"{h}: {', '.join(c)}" for h, c in proof[-1]["failing"].items())
    )[:1000]
    common = {
        "source": "health",
        "policy": {"on_critical": policy.on_critical, "critical_threshold": policy.critical_threshold},
        "evidence": proof,
        "reason": reason,
    }
    if action == "ask":
        entry = run.record(
            "decision.needed",
            decision="rollback?",
            who="po",
            what_to_do=f'relkit rollback --env {env} --by <PO> --reason "..."',
            **common,
        )
        report.decision = {
            "action": "ask",
            "seq": entry.seq,
            "note": f"rollback decision needed from the PO (ledger #{entry.seq}): "
            f'relkit rollback --env {env} --by <PO> --reason "..."',
        }
        return
    entry = run.record("decision.made", decision="rollback", by=AUTO_BY, automatic=True, **common)
    report.decision = {
        "action": "rollback",
        "seq": entry.seq,
        "note": f"automatic rollback (ledger #{entry.seq})",
    }
    try:
        back = api.rollback(project, env, by=AUTO_BY, reason=reason, progress=progress)
    except Locked as exc:
        needed = run.record(
            "decision.needed",
            decision="rollback?",
            who="po",
            what_to_do=f'relkit rollback --env {env} --by <PO> --reason "..."',
            blocked_by=str(exc),
            **common,
        )
        report.decision = {
            "action": "ask",
            "seq": needed.seq,
            "note": f"automatic rollback blocked ({exc}); PO decides (ledger #{needed.seq})",
        }
        return
    report.rolled_back = back.rolled_back
    report.notes.append(f"rollback run {back.run_id}")
