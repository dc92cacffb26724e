"""``notify``: send and record a release's announcement or rollback notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from relkit.errors import BadInput
from relkit.loading import load_manifest
from relkit.notify import ALWAYS_RECORDED, Message, Notice, announcement_context, dispatch
from relkit.project import Project
from relkit.usecases.playing import register_secrets


def send_notice(
    project: Project,
    manifest_path: Path,
    kind: str,
    env: str | None = None,
    by: str = "",
    now: datetime | None = None,
) -> Notice:
    """``relkit notify``: render, send and record the announcement or rollback notice of a release.

    An announcement is sent whatever its window; the notice says, in ``warnings``, when that
    window is over or under way, or opens sooner than ``policy.notice_lead_hours``."""
    register_secrets(project)
    if kind not in ALWAYS_RECORDED:
        raise BadInput(f"--kind: expected one of {', '.join(ALWAYS_RECORDED)}, got {kind!r}")
    if env is not None:
        project.environment(env)
    manifest = load_manifest(manifest_path)
    if manifest.app != project.config.app:
        raise BadInput(f"app: manifest is for {manifest.app!r}, this project deploys {project.config.app!r}")
    warnings: list[str] = []
    if kind == "announcement":
        context = announcement_context(manifest)
        run_id = ""
        lead = project.config.policy.notice_lead_hours
        warnings = announcement_warnings(context["window_start"], context["window_end"], lead, now)
    else:
        if env is None:
            raise BadInput("--env: the rollback notice is about one environment; name it")
        context, run_id = _rollback_context(project, env)
        context["manifest"] = manifest
    context["by"] = by
    message, deliveries = dispatch(project, kind, context, run_id, env or "")
    return Notice(kind, manifest.version, env or "", message or Message("", kind), deliveries, warnings)


def announcement_warnings(
    start: datetime, end: datetime, lead_hours: float, now: datetime | None = None
) -> list[str]:
    """Why an announcement of the window ``start`` to ``end`` (aware) comes too late, if it does."""
    clock = now or datetime.now(UTC)
    window = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({start.tzinfo})"
    if clock >= end:
        return [
            f"the release window {window} is over (it ended {_ago(clock - end)} ago): this announces a "
            "window in the past; agree a new window, put it in the manifest's schedule and announce that"
        ]
    if clock >= start:
        return [
            f"the release window {window} is already open (since {_ago(clock - start)}): the announcement "
            f"comes after it began, not {lead_hours:g} h before (policy.notice_lead_hours); the notice_sent "
            "gate blocks deploys in this window"
        ]
    if clock > start - timedelta(hours=lead_hours):
        return [
            f"the release window {window} opens in {_ago(start - clock)}, less than the {lead_hours:g} h "
            "notice policy.notice_lead_hours asks: the notice_sent gate blocks deploys in this window; "
            "move the window later (new manifest) to keep it"
        ]
    return []


def _ago(delta: timedelta) -> str:
    """A duration in words: ``3 d 4 h``, ``5 h 12 min``, ``12 min``."""
    minutes = int(delta.total_seconds() // 60)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def _rollback_context(project: Project, env: str) -> tuple[dict[str, Any], str]:
    """The last rollback recorded for ``env``: who decided it, why, and what went where."""
    last = None
    for entry in project.ledger.entries(kind="rollback.%", env=env):
        if entry.kind in ("rollback.requested", "rollback.started"):
            last = entry
    if last is None:
        raise BadInput(f"--env: no rollback of {env} is recorded; run relkit rollback first")
    switches = [e for e in project.ledger.entries(kind="host.switched", env=env) if e.run_id == last.run_id]
    return (
        {
            "decided_by": last.data.get("by", ""),
            "reason": last.data.get("reason", ""),
            "automatic": bool(last.data.get("automatic")),
            "rolled_back": {e.host: e.data.get("version") for e in switches},
            "previous": {e.host: e.data.get("previous") for e in switches},
            "ok": bool(switches),
            "when": last.ts,
        },
        last.run_id,
    )
