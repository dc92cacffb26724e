"""Manifests and gates: validate a manifest, evaluate a stage's gates, signed overrides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from relkit import acts, gatekeeper, signers
from relkit.config import ProjectConfig
from relkit.errors import BadInput
from relkit.gates import ALWAYS, GATES, GateReport, Override
from relkit.loading import load_manifest
from relkit.manifest import Manifest
from relkit.project import Project
from relkit.usecases import signing
from relkit.usecases.runs import identity

SELF_OVERRIDE_FORBIDDEN = frozenset({"four_eyes", "approvals"})
"""Gates a deployer may never pass by an override of their own."""


def validate(manifest_path: Path) -> Manifest:
    """Load and validate a manifest; raise :class:`~relkit.errors.BadInput` naming every bad field."""
    return load_manifest(manifest_path)


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of release manifests."""
    return Manifest.model_json_schema()


def config_schema() -> dict[str, Any]:
    """The JSON Schema of relkit.yml."""
    return ProjectConfig.model_json_schema()


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


def override(
    project: Project,
    manifest_path: Path,
    env: str,
    gate: str,
    reason: str,
    key: Path,
    claimed: str | None = None,
) -> acts.SignedAct:
    """Pass ``gate`` for this release on ``env``: an act signed by a principal of one of
    ``policy.override_roles``, bound to the environment, the version, the artifact's sha256 and
    the gate; deploys of that very release honour it (:func:`standing_overrides`)."""
    project.environment(env)
    manifest = load_manifest(manifest_path)
    policy = project.config.policy
    if gate not in GATES:
        raise BadInput(f"--gate: unknown gate {gate!r} (known: {', '.join(sorted(GATES))})")
    if gate in policy.not_overridable or gate in ALWAYS:
        why = "policy.not_overridable" if gate in policy.not_overridable else "no override passes it"
        raise BadInput(f"--gate: gate {gate!r} cannot be overridden ({why})")
    if not reason.strip():
        raise BadInput("--reason: say why the gate is overridden")
    refusals = []
    for role in policy.override_roles:
        try:
            signed = signing.sign(
                project,
                "override",
                env,
                key,
                claimed,
                role=role,
                gate=gate,
                version=manifest.version,
                sha256=manifest.artifact.sha256,
                reason=reason.strip(),
            )
        except BadInput as exc:
            refusals.append(str(exc))
            continue
        signing.record(project, signed, env=env)
        return signed
    raise BadInput(
        f"--key: only {', '.join(acts.namespace(r) for r in policy.override_roles)} signers may override "
        f"(policy.override_roles): {'; '.join(refusals)}"
    )


def standing_overrides(
    project: Project, env: str, version: str, sha256: str, deployer: str = ""
) -> list[Override]:
    """The signed overrides recorded for this release on ``env`` whose signatures verify, less
    any a deployer gave for their own four-eyes or approvals gate."""
    roles: set[str] = set(project.config.policy.override_roles)
    with signers.verifying(project, first_use=False) as verifier:
        return _verified_overrides(project, env, (version, sha256), deployer, roles, verifier.file)


def _verified_overrides(
    project: Project, env: str, release: tuple[str, str], deployer: str, roles: set[str], allowed: Path
) -> list[Override]:
    found = []
    for entry in project.ledger.entries(kind="act.signed", env=env):
        data, statement = entry.data, entry.data.get("statement") or {}
        if data.get("act") != "override" or data.get("role") not in roles:
            continue
        if (statement.get("env"), statement.get("version"), statement.get("sha256")) != (env, *release):
            continue
        principal = str(data.get("principal"))
        if statement.get("gate") in SELF_OVERRIDE_FORBIDDEN and principal == deployer:
            continue
        signature, role = str(data.get("signature")), str(data.get("role"))
        if acts.verify_signature(statement, signature, principal, role, allowed) is None:
            continue
        found.append(Override(str(statement["gate"]), principal, str(statement.get("reason", ""))))
    return found


def overrides_of_run(
    project: Project, env: str, run_id: str, version: str, sha256: str, deployer: str = ""
) -> list[Override]:
    """The ``gate.override`` records of run ``run_id`` on ``env`` given for the release ``version``
    with artifact ``sha256`` (a play's gate re-check honours them for that release only)."""
    standing = standing_overrides(project, env, version, sha256, deployer)
    if not run_id:
        return standing
    return standing + [
        Override(e.data["gate"], e.data["by"], e.data["reason"])
        for e in project.ledger.entries(kind="gate.override", env=env)
        if e.run_id == run_id and (e.data.get("version"), e.data.get("sha256")) == (version, sha256)
    ]
