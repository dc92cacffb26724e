"""``prepare``: create the host layout and check hosts against the manifest's requirements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relkit import gatekeeper
from relkit.errors import PlayFailed
from relkit.loading import load_manifest
from relkit.project import Project
from relkit.usecases.recording import OutcomeSink, quiet
from relkit.usecases.runs import Run, RunReport, identity


def prepare(
    project: Project,
    env: str,
    manifest_path: Path | None = None,
    by: str | None = None,
    progress: OutcomeSink = quiet,
) -> RunReport:
    """Create the host layout and check hosts against the manifest's requirements."""
    project.inventory(env)
    release: dict[str, Any] = {}
    requirements_digest = ""
    if manifest_path is not None:
        manifest = load_manifest(manifest_path)
        release = {"version": manifest.version, "requirements": manifest.requirements.model_dump()}
        requirements_digest = gatekeeper.requirements_digest(manifest.requirements)
    run = Run(project, env, "prepare", identity(by))
    run.book.started(version=release.get("version"))
    result = run.play("prepare.yml", {"relkit_release": release}, progress)
    failed = [o for o in result.outcomes if o.status in ("failed", "unreachable")]
    shortfalls = {o.host: list(o.shortfalls) or [o.msg] for o in failed}
    run.book.record(
        "prepare.result",
        passed=result.ok,
        version=release.get("version"),
        shortfalls=shortfalls,
        requirements_digest=requirements_digest,
    )
    run.finished("successful" if result.ok else "failed", rc=result.rc)
    report = RunReport(
        "prepare",
        env,
        run.run_id,
        release.get("version"),
        result.ok,
        result.host_states(),
        artifacts=str(result.artifacts),
        details={"shortfalls": shortfalls},
    )
    if not result.ok:
        lines = [f"{h}: {'; '.join(s)}" for h, s in sorted(shortfalls.items())]
        raise PlayFailed("prepare failed:\n  " + ("\n  ".join(lines) or result.failure_summary()), report)
    return report
