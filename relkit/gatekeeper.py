"""Gathering what the gates need (I/O) and evaluating them: the one door every play goes through.

Used by the CLI's API and by the Ansible action plugin that playbooks run first, so the
same gates hold whether a deploy starts from ``relkit`` or from plain ``ansible-playbook``.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from relkit import approvals, gates
from relkit.artifacts import ArtifactFile, locate
from relkit.errors import BadInput
from relkit.gates import GateInput, GateReport, Override
from relkit.loading import load_manifest
from relkit.manifest import Manifest, Requirements
from relkit.project import Project

HISTORY_KINDS = ("smoke.result", "prepare.result", "notify.sent", "host.switched", "health.result")


@dataclass(frozen=True)
class Checked:
    """A gate evaluation with what it was made from."""

    manifest: Manifest
    report: GateReport
    artifact: ArtifactFile
    overrides: tuple[Override, ...]


def requirements_digest(requirements: Requirements) -> str:
    """Digest of host requirements: a prepare counts only for the requirements it checked."""
    canonical = json.dumps(requirements.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_commit(artifact: Path, build_info: str) -> str | None:
    """The commit named in the artifact's build-info JSON (at its root), if any."""
    try:
        with tarfile.open(artifact) as archive:
            for name in (build_info, f"./{build_info}"):
                try:
                    member = archive.extractfile(name)
                except KeyError:
                    continue
                if member is not None:
                    commit = json.load(member).get("commit")
                    return str(commit) if commit else None
    except (OSError, tarfile.TarError, ValueError, AttributeError):
        return None
    return None


def parse_overrides(
    project: Project, specs: Sequence[str], by: str | None, reason: str | None
) -> tuple[Override, ...]:
    """``--override GATE`` (repeatable) with ``--by`` and ``--reason``; refuse what policy forbids."""
    if not specs:
        return ()
    if not by or not reason or not reason.strip():
        raise BadInput("--override needs --by NAME and --reason TEXT")
    policy = project.config.policy
    result = []
    for name in specs:
        if name not in gates.GATES:
            raise BadInput(f"--override: unknown gate {name!r} (known: {', '.join(sorted(gates.GATES))})")
        if name in policy.not_overridable:
            raise BadInput(f"--override: gate {name!r} cannot be overridden (policy.not_overridable)")
        result.append(Override(name, by, reason.strip()))
    return tuple(result)


def evaluate(
    project: Project,
    manifest_path: Path,
    env: str,
    stage: str = "deploy",
    *,
    actor: str = "",
    overrides: Sequence[Override] = (),
    retro: str | None = None,
    now: datetime | None = None,
) -> Checked:
    """Gather the gates' inputs for ``stage`` of ``env`` and evaluate them."""
    if stage not in gates.STAGES:
        raise BadInput(f"--stage: expected one of {', '.join(gates.STAGES)}, got {stage!r}")
    unknown = gates.unknown_gates(project.config.policy)
    if unknown:
        raise BadInput(
            f"policy: unknown gate name(s) {', '.join(unknown)} (known: {', '.join(sorted(gates.GATES))})"
        )
    environment = project.environment(env)
    manifest = load_manifest(manifest_path)
    cfg = project.config
    artifact = locate(manifest, manifest_path.resolve().parent, project.root / cfg.artifacts.cache_dir)
    signatures = approvals.load(manifest_path, manifest, project.root / cfg.approvals.allowed_signers)
    history = [e for e in project.ledger.entries() if e.kind in HISTORY_KINDS]
    inp = GateInput(
        manifest=manifest,
        project_app=cfg.app,
        env=env,
        promote_from=environment.promote_from,
        artifact_sha256=artifact.sha256,
        artifact_problem=artifact.problem,
        history=history,
        now=now or datetime.now(UTC),
        policy=cfg.policy,
        actor=actor,
        artifact_commit=build_commit(artifact.path, cfg.artifacts.build_info) if artifact.path else None,
        signatures=tuple(signatures),
        requirements_digest=requirements_digest(manifest.requirements),
        retro=retro,
    )
    report = gates.evaluate(stage, inp, overrides=overrides)
    return Checked(manifest, report, artifact, tuple(overrides))


def record(project: Project, checked: Checked, actor: str, manifest_path: Path, run_id: str = "") -> None:
    """Ledger the evaluation and every override it used."""
    report = checked.report
    for result in report.results:
        if result.overridden:
            project.ledger.append(
                "gate.override",
                run_id=run_id,
                env=report.env,
                data={
                    "gate": result.name,
                    "by": result.overridden_by,
                    "reason": result.override_reason,
                    "failed_because": result.reason,
                    "version": report.version,
                    "stage": report.stage,
                },
            )
    project.ledger.append(
        "gate.evaluated",
        run_id=run_id,
        env=report.env,
        data={
            **report.to_dict(),
            "by": actor,
            "manifest": str(manifest_path),
            "sha256": checked.manifest.artifact.sha256,
        },
    )
