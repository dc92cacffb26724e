"""The SOP's record-keeping steps: signed approvals, PO verification, closing a release."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from relkit import approvals, gatekeeper, signers
from relkit.errors import BadInput, GateBlocked
from relkit.gates import GateReport
from relkit.loading import load_manifest, read_text
from relkit.notify import notify
from relkit.project import Project
from relkit.usecases import signing
from relkit.usecases.playing import register_secrets


@dataclass(frozen=True)
class Signed:
    """A new approval or verification: where it was written and what the ledger holds."""

    path: Path
    role: str
    by: str
    at: str
    kind: str
    env: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.__dict__, "path": str(self.path)}


def _sign(
    project: Project,
    manifest_path: Path,
    kind: str,
    role: str,
    key: Path,
    by: str,
    env: str,
    now: datetime | None,
) -> Signed:
    manifest = load_manifest(manifest_path)
    with signers.verifying(project) as verifier:
        path, sig = approvals.sign(
            manifest_path,
            manifest,
            kind=kind,
            role=role,
            by=by,
            key=key,
            allowed_signers=verifier.file,
            env=env,
            now=now,
            groups=project.config.approvals.groups,
            label=verifier.label,
        )
        signers.commit(project, verifier)
    project.ledger.append(
        f"{kind}.recorded" if kind == "approval" else "release.verified",
        env=env,
        data={
            "role": role,
            "by": by,
            "at": sig.at.isoformat(),
            "version": manifest.version,
            "sha256": manifest.artifact.sha256,
            "digest": approvals.manifest_digest(manifest),
            "file": str(path),
            "verified": sig.valid,
            # the signed record itself: every controller of a shared ledger checks it, file or not
            "record": json.loads(path.read_text()),
        },
    )
    return Signed(path, role, by, sig.at.isoformat(), kind, env)


def approve(
    project: Project, manifest_path: Path, role: str, key: Path, by: str, now: datetime | None = None
) -> Signed:
    """QA or PO approval (SOP 4.2.2-4.2.3), signed with ``key`` as principal ``by``."""
    return _sign(project, manifest_path, "approval", role, key, by, "", now)


def verify(
    project: Project, manifest_path: Path, env: str, key: Path, by: str, now: datetime | None = None
) -> Signed:
    """PO verification of the release in ``env`` (SOP 4.3.4), signed like an approval."""
    project.environment(env)
    return _sign(project, manifest_path, "verification", "po", key, by, env, now)


def close(
    project: Project,
    manifest_path: Path,
    env: str,
    retro_path: Path,
    by: str | None,
    now: datetime | None = None,
    key: Path | None = None,
) -> GateReport:
    """Close the release after monitoring, PO verification and a retrospective note (SOP 4.4).

    Who closes is the principal of ``key`` (required where ``policy.signed_acts`` says; ``by``
    must then name that principal), else ``by``."""
    register_secrets(project)
    retro = read_text(retro_path, "retrospective note")
    if not retro.strip():
        raise BadInput(f"--retro: {retro_path} is empty")
    manifest = load_manifest(manifest_path)
    signed = signing.sign_if_needed(
        project, "close", env, key, by, version=manifest.version, sha256=manifest.artifact.sha256
    )
    by = signed.principal if signed else by
    if not by:
        raise BadInput("--as: name who closes the release (or sign it: --key)")
    checked = gatekeeper.evaluate(project, manifest_path, env, "close", actor=by, retro=retro, now=now)
    gatekeeper.record(project, checked, by, manifest_path)
    if not checked.report.passed:
        raise GateBlocked(f"{checked.manifest.version} cannot be closed yet", checked.report)
    if signed is not None:
        signing.record(project, signed, env=env)
    project.ledger.append(
        "release.closed",
        env=env,
        data={
            "version": checked.manifest.version,
            "sha256": checked.manifest.artifact.sha256,
            "by": by,
            "retro": retro,
        },
    )
    notify(project, "release.closed", {"manifest": checked.manifest, "by": by, "retro": retro}, "", env)
    return checked.report
