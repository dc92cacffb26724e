"""``notify``: send and record a release's announcement or rollback notice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relkit.errors import BadInput
from relkit.loading import load_manifest
from relkit.notify import ALWAYS_RECORDED, Message, Notice, announcement_context, dispatch
from relkit.project import Project
from relkit.usecases.playing import register_secrets


def send_notice(
    project: Project, manifest_path: Path, kind: str, env: str | None = None, by: str = ""
) -> Notice:
    """``relkit notify``: render, send and record the announcement or rollback notice of a release."""
    register_secrets(project)
    if kind not in ALWAYS_RECORDED:
        raise BadInput(f"--kind: expected one of {', '.join(ALWAYS_RECORDED)}, got {kind!r}")
    if env is not None:
        project.environment(env)
    manifest = load_manifest(manifest_path)
    if manifest.app != project.config.app:
        raise BadInput(f"app: manifest is for {manifest.app!r}, this project deploys {project.config.app!r}")
    if kind == "announcement":
        context = announcement_context(manifest)
        run_id = ""
    else:
        if env is None:
            raise BadInput("--env: the rollback notice is about one environment; name it")
        context, run_id = _rollback_context(project, env)
        context["manifest"] = manifest
    context["by"] = by
    message, deliveries = dispatch(project, kind, context, run_id, env or "")
    return Notice(kind, manifest.version, env or "", message or Message("", kind), deliveries)


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
