"""``health``: post-release checks of the live release, their record, metrics and the policy.

:func:`check_health` runs the smoke checks (as critical) plus ``relkit.yml``'s health checks
on every host of an environment in one play (``playbooks/health.yml``, one module call per
host), records a ``health.result`` in the ledger, optionally writes a Prometheus textfile
and applies ``health.on_critical`` once ``health.critical_threshold`` consecutive critical
results have piled up since the last switch. It never takes or breaks the deploy lock: a
health run that meets a running deploy waits briefly, then skips.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relkit import live_check, playvars
from relkit.chain import Entry
from relkit.config import Health
from relkit.errors import BadInput, Locked, PlayFailed, RelkitError, RollbackRefused
from relkit.health import (
    HealthReport,
    HostHealth,
    config_problems,
    critical_streak,
    decide,
    evidence,
    health_vars,
    host_health,
    monitoring_hours,
    overall,
    prometheus_text,
    window_end,
)
from relkit.hostrules import atomic_write
from relkit.project import Project
from relkit.results import PlayResult
from relkit.status import live_releases
from relkit.store import Holder
from relkit.usecases import signing
from relkit.usecases.recording import OutcomeSink, quiet
from relkit.usecases.rollback import rollback
from relkit.usecases.runs import Run, identity

AUTO_BY = "relkit-health"
MAX_WAIT = 600.0
KEEP_RUN_DIRS = 100
"""Health runs whose ansible-runner artifacts stay in <state_dir>/runs (the ledger keeps every result)."""


def write_prom_file(path: Path, text: str) -> None:
    """Write ``text`` atomically (temporary file in the same directory, fsync, rename(2)), mode 0644."""
    atomic_write(path, text, 0o644)


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
        if prom_file.exists() and not prom_file.is_file():
            raise BadInput(
                f"--prom-file: {prom_file} exists and is not a regular file (a device, FIFO or socket); "
                "name a file, e.g. relkit.prom"
            )


def _running_deploy(project: Project, env: str, wait: float) -> Holder | None:
    """A live holder of the environment's lock still there after ``wait`` seconds (read only)."""
    deadline = time.monotonic() + wait
    while True:
        holder = project.ledger.holder(env)
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
    progress: OutcomeSink = quiet,
    now: datetime | None = None,
    full_play: bool = False,
) -> HealthReport:
    """Check the live release of ``env``; record, export and apply the critical policy.

    Skips (status ``skipped``, nothing touched) outside the monitoring window unless
    ``always``, and when a deploy or rollback still holds the lock after ``wait`` seconds.
    The hosts are checked over their host cards without a play when the last deploy kept
    usable ones (:func:`relkit.live_check.health`), else (and with ``full_play``) by the play.
    """
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
    stale = project.ledger.holder(env)
    if stale is not None:
        report.notes.append(f"stale lock: {stale.describe()}")

    run = Run(project, env, "health", identity(by))
    report.run_id, report.threshold = run.run_id, config.health.critical_threshold
    run.book.started(window_end=report.window_end, always=always)
    result = _check_hosts(project, run, report, switches, full_play, progress)
    if not result.outcomes:
        run.finished("failed", rc=result.rc)
        raise PlayFailed(f"health play on {env} reached no host:\n{result.failure_summary()}", report)
    misconfigured = config_problems(result)
    if misconfigured:
        run.finished("bad_input", rc=result.rc, problems=misconfigured)
        raise BadInput(_misconfigured(env, misconfigured))
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
    entry = run.book.record(
        "health.result",
        status=report.status,
        by=run.by,
        checked_by=report.checked_by["how"],
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
    if report.critical:
        report.next_steps = next_steps(project, report, active)
    run.finished(
        report.status,
        rc=result.rc,
        health_seq=entry.seq,
        decision=report.decision.get("action"),
        checked_by=report.checked_by["how"],
    )
    prune_run_dirs(project.state_dir / "runs", KEEP_RUN_DIRS)
    if prom_file is not None:
        live = _prom_live(list(ledger.entries(kind="host.switched", env=env)), report)
        report.prom_file = str(prom_file)
        report.seconds = round(time.monotonic() - started, 3)
        write_prom_file(prom_file, prometheus_text(report, live, datetime.now(UTC), active))
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _check_hosts(
    project: Project,
    run: Run,
    report: HealthReport,
    switches: list[Entry],
    full_play: bool,
    progress: OutcomeSink,
) -> PlayResult:
    """Every host's health: directly over the host cards when they can be used (the same checks,
    rendered as the play renders them, run by the same host code), else by the health play."""
    direct = live_check.Verdict(None, "not tried (--full-play)")
    if not full_play:
        known = live_releases(switches).get(report.env, {})
        direct = live_check.health(project, report.env, known)
    if direct.result is not None:
        report.checked_by = {"how": "direct", "why_play": None}
        for outcome in direct.result.outcomes:
            run.book.outcome(outcome, progress)
        run.book.flush()
        return direct.result
    report.checked_by = {"how": "play", "why_play": direct.reason}
    if "no answer" in direct.reason or "no health result" in direct.reason:
        report.notes.append(
            f"the direct check found a host it could not check ({direct.reason}): the play ran"
        )
    variables: dict[str, Any] = {"relkit_health": health_vars(project.config)}
    if playvars.uses(project.config, "relkit_version", "health.yml"):
        # the checks name the live release: the ledger names it, saving each host a round trip
        variables["relkit_ledger_versions"] = {h: v for h, (v, _) in _live(switches, report.env).items()}
    result = run.play("health.yml", variables, progress)
    if again := sorted({o.host for o in result.outcomes if "version_mismatch" in o.result}):
        # another release is live there than the ledger says: those hosts read it first
        retry = run.play(
            "health.yml", {**variables, "relkit_ledger_versions": {}}, progress, limit=",".join(again)
        )
        result = result.redone(again, retry)
    return result


def _misconfigured(env: str, problems: dict[str, str]) -> str:
    """The exit-2 message of a health run the configuration kept from checking anything."""
    lines = [f"health {env}: the checks could not run (a configuration error, not a health result):"]
    lines += [f"  {host}: {problem}" for host, problem in problems.items()]
    lines.append(
        "Nothing was recorded as a health result and nothing counts toward health.on_critical. Check "
        f"the inventory of {env} (relkit_deploy_path, else relkit.yml deploy_path) and the variables "
        "and environment it reads; a host nothing was deployed to yet has no deploy path."
    )
    return "\n".join(lines)


def next_steps(project: Project, report: HealthReport, active: bool) -> list[str]:
    """What to do about a critical result, as commands: reach the hosts that did not answer,
    restart the live release where its smoke checks fail (a deploy of it with --full-play),
    roll back (or the PO's decision, when health.on_critical asked for it), check again."""
    env = report.env
    again = f"relkit health --env {env}" + ("" if active else " --always")
    if report.rolled_back:
        return [
            "find out why the release failed: the failing checks above, the ledger (relkit ledger show "
            f"--env {env} --kind 'health.*'); the release rolled back to is checked by: {again}"
        ]
    critical = [h for h in report.hosts.values() if h.status == "critical"]
    unreached = sorted(h.host for h in critical if not h.checks)

    def failing(h: HostHealth, source: str) -> bool:
        return any(c.get("status") == "critical" and c.get("source") == source for c in h.checks)

    smoke = [h for h in critical if failing(h, "smoke")]
    health_only = sorted(h.host for h in critical if h.checks and h not in smoke)
    steps = []
    if report.decision.get("action") == "ask":
        steps.append(
            f"the PO decides whether to roll back (ledger #{report.decision.get('seq')}): "
            + signing.rollback_command(project, env, "<PO>", '"..."')
        )
    if unreached:
        steps.append(f"{', '.join(unreached)} did not answer: check the host and its SSH connection")
    key = " --key KEY" if signing.required(project, env) else ""
    for version in sorted({h.version or "" for h in smoke}):
        hosts = ", ".join(sorted(h.host for h in smoke if (h.version or "") == version))
        steps.append(
            f"restart {version or 'the live release'} where its smoke checks fail ({hosts}): relkit deploy "
            f"{_manifest_of(project, version)} --env {env} --full-play{key} (the deploy's gates apply; "
            "a host that passes its smoke checks is left running)"
        )
    if health_only:
        steps.append(
            f"{', '.join(health_only)}: the smoke checks pass, so a redeploy would leave the service as it "
            "is: look into the failing checks on the host"
        )
    last = {e.host: e for e in project.ledger.entries(kind="host.switched", env=env)}
    if not any(e.data.get("previous") for e in last.values()):
        steps.append(f"no release was live on {env} before this one: there is nothing to roll back to")
    elif report.decision.get("action") != "ask":
        steps.append(f"or roll back to the previous release: {signing.rollback_command(project, env)}")
    steps.append(f"then check again: {again}")
    return steps


def _manifest_of(project: Project, version: str) -> str:
    """The manifest of ``version`` where a project keeps it (releases/VERSION.yml), else MANIFEST."""
    path = project.root / "releases" / f"{version}.yml"
    if not version or not path.is_file():
        return "MANIFEST"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _notify_critical(
    run: Run, report: HealthReport, action: str | None, policy: Health, active: bool
) -> None:
    """Tell the ``health.critical`` channels: on the first critical result of a streak and on a decision."""
    env = report.env
    if action == "rollback":
        step = f"automatic rollback of {env} to the previous release (health.on_critical: rollback)"
    elif action == "ask":
        command = signing.rollback_command(run.project, env, "<PO>", '"..."')
        step = f"the PO decides: {command}"
    elif active:
        left = policy.critical_threshold - report.consecutive_critical
        step = f"{left} more critical result(s) in a row trigger health.on_critical: {policy.on_critical}"
    else:
        step = "outside the monitoring window: no automatic action"
    versions = sorted({h.version for h in report.hosts.values() if h.version})
    run.notices.notify(
        "health.critical",
        version=", ".join(versions),
        failed=[h.host for h in report.hosts.values() if h.status == "critical"],
        checks={h.host: h.checks for h in report.hosts.values() if h.status == "critical"},
        next_step=step,
    )


def _apply(
    project: Project, run: Run, report: HealthReport, action: str, streak: list[Entry], progress: OutcomeSink
) -> None:
    """Record the policy's decision with its evidence; roll back (``rollback``) or ask the PO."""
    env, policy = report.env, project.config.health
    proof = evidence(streak)
    reason = (
        f"health critical {len(streak)} times in a row (threshold {policy.critical_threshold}): "
        + "; ".join(f"{h}: {', '.join(c)}" for h, c in proof[-1]["failing"].items())
    )[:1000]
    common: dict[str, Any] = {
        "source": "health",
        "policy": {"on_critical": policy.on_critical, "critical_threshold": policy.critical_threshold},
        "evidence": proof,
        "reason": reason,
    }
    if action == "ask":
        entry = run.book.record(
            "decision.needed",
            decision="rollback?",
            who="po",
            what_to_do=signing.rollback_command(project, env, "<PO>", '"..."'),
            **common,
        )
        report.decision = {
            "action": "ask",
            "seq": entry.seq,
            "note": f"rollback decision needed from the PO (ledger #{entry.seq}): "
            + signing.rollback_command(project, env, "<PO>", '"..."'),
        }
        return
    entry = run.book.record("decision.made", decision="rollback", by=AUTO_BY, automatic=True, **common)
    report.decision = {
        "action": "rollback",
        "seq": entry.seq,
        "note": f"automatic rollback (ledger #{entry.seq})",
    }
    try:
        back = rollback(project, env, by=AUTO_BY, reason=reason, progress=progress, automatic=True)
    except (Locked, RollbackRefused) as exc:  # another run holds the lock; nothing to go back to
        needed = run.book.record(
            "decision.needed",
            decision="rollback?",
            who="po",
            what_to_do=signing.rollback_command(project, env, "<PO>", '"..."'),
            blocked_by=str(exc),
            **common,
        )
        report.decision = {
            "action": "ask",
            "seq": needed.seq,
            "note": f"automatic rollback blocked ({' '.join(str(exc).split())}); PO decides "
            f"(ledger #{needed.seq})",
        }
        return
    report.rolled_back = back.rolled_back
    report.notes.append(f"rollback run {back.run_id}")
