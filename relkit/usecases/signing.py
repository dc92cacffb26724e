"""Signing acts for the use cases: when a signature is required, and signing one on record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relkit import acts, signers
from relkit.errors import Unsigned
from relkit.project import Project


def required(project: Project, env: str) -> bool:
    """True when acts on ``env`` must be signed (policy.signed_acts: promoted or all)."""
    environment = project.environment(env)
    return project.config.policy.signed_acts == "all" or environment.promote_from is not None


def rollback_command(
    project: Project, env: str, by: str = "NAME", reason: str = "TEXT", to: str | None = None
) -> str:
    """The rollback command to suggest for ``env`` (to release ``to``): with ``--key`` where it
    must be signed."""
    key = "--key KEY " if required(project, env) else ""
    target = f"--to {to} " if to else ""
    return f"relkit rollback --env {env} {target}{key}--by {by} --reason {reason}"


def sign(
    project: Project,
    act: str,
    env: str,
    key: Path,
    claimed: str | None,
    role: str | None = None,
    **fields: Any,
) -> acts.SignedAct:
    """Sign ``act`` on ``env`` (with ``fields``: version, sha256, run id …) after the ledger's head,
    as a signer of the pinned allowed signers (pinned now on first use), which it names."""
    with signers.verifying(project) as verifier:
        seq, digest = project.ledger.head()
        statement = {
            "act": act,
            "app": project.config.app,
            "env": env,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "ledger_head": {"seq": seq, "hash": digest},
            "signers": verifier.pin.sha256 if verifier.pin else None,
            **fields,
        }
        role = role or acts.ACT_ROLES[act]
        signed = acts.sign(statement, role, key, verifier.file, claimed, verifier.label)
        signers.commit(project, verifier)
        return signed


def sign_if_needed(
    project: Project, act: str, env: str, key: Path | None, claimed: str | None, **fields: Any
) -> acts.SignedAct | None:
    """Sign when a key is given; refuse (exit 3) when the policy requires a signature and none is."""
    if key is not None:
        return sign(project, act, env, key, claimed, **fields)
    refuse_unsigned(project, act, env)
    return None


def refuse_unsigned(project: Project, act: str, env: str) -> None:
    """Refuse (exit 3) ``act`` on ``env`` without a key where the policy requires a signature."""
    if required(project, env):
        role = acts.ACT_ROLES[act]
        raise Unsigned(
            f"{act} on {env} must be signed by the person doing it (policy.signed_acts: "
            f"{project.config.policy.signed_acts}): add --key PATH (your SSH private key, or its .pub with "
            f"the key in ssh-agent; or set RELKIT_KEY), a key allowed for {acts.namespace(role)} in "
            f"{signers.name(project)}"
        )


def record(project: Project, signed: acts.SignedAct, run_id: str = "", env: str = "") -> None:
    """Append the signed act to the ledger (``act.signed``)."""
    project.ledger.append("act.signed", run_id=run_id, env=env, data=signed.record())
