"""Manifests and gates: validate a manifest, evaluate a stage's gates, parse overrides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from relkit import gatekeeper
from relkit.gates import GateReport, Override
from relkit.loading import load_manifest
from relkit.manifest import Manifest
from relkit.project import Project
from relkit.usecases.runs import identity


def validate(manifest_path: Path) -> Manifest:
    """Load and validate a manifest; raise :class:`~relkit.errors.BadInput` naming every bad field."""
    return load_manifest(manifest_path)


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of release manifests."""
    return Manifest.model_json_schema()


def check_gates(
    project: Project,
    manifest_path: Path,
    env: str,
    stage: str = "deploy",
    now: datetime | None = None,
    actor: str | None = None,
    overrides: Sequence[Override] = (),
    retro: str | None = None,
) -> tuple[Manifest, GateReport, Path | None]:
    """Evaluate the gates of ``stage`` for ``env``; return the manifest, report and artifact path."""
    checked = gatekeeper.evaluate(
        project, manifest_path, env, stage, actor=identity(actor), overrides=overrides, retro=retro, now=now
    )
    return checked.manifest, checked.report, checked.artifact.path


def parse_overrides(
    project: Project, names: Sequence[str], by: str | None, reason: str | None
) -> tuple[Override, ...]:
    """``--override GATE`` options with their ``--by`` and ``--reason``, checked against the policy."""
    return gatekeeper.parse_overrides(project, names, by, reason)


def overrides_of_run(project: Project, env: str, run_id: str, version: str, sha256: str) -> list[Override]:
    """The ``gate.override`` records of run ``run_id`` on ``env`` given for the release ``version``
    with artifact ``sha256`` (a play's gate re-check honours them for that release only)."""
    if not run_id:
        return []
    return [
        Override(e.data["gate"], e.data["by"], e.data["reason"])
        for e in project.ledger.entries(kind="gate.override", env=env)
        if e.run_id == run_id and (e.data.get("version"), e.data.get("sha256")) == (version, sha256)
    ]
