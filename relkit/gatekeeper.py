"""Gathering what the gates need (I/O) and evaluating them: the one door every play goes through.

Used by the CLI's API and by the Ansible action plugin that playbooks run first, so the
same gates hold whether a deploy starts from ``relkit`` or from plain ``ansible-playbook``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relkit import approvals, gates, signers
from relkit.artifacts import ArtifactFile, locate
from relkit.errors import BadInput, RelkitError
from relkit.gates import GateInput, GateReport, Override
from relkit.loading import load_manifest
from relkit.manifest import Manifest, Requirements
from relkit.project import Project
from relkit.rollout import KINDS as ROLLOUT_KINDS

HISTORY_KINDS = ("smoke.result", "prepare.result", "notify.sent", "host.switched", "health.result")
PASS_FIELDS = ("run_id", "env", "manifest", "version", "sha256", "nonce")
"""What a gate pass names: the run, the environment, the manifest file, the release (version
and artifact sha256) and a random nonce that only relkit and its play ever see."""


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


def build_info(artifact: Path, build_info: str) -> dict[str, Any]:
    """The artifact's build-info JSON object (at its root), or {} when it has none."""
    try:
        with tarfile.open(artifact) as archive:
            for name in (build_info, f"./{build_info}"):
                try:
                    member = archive.extractfile(name)
                except KeyError:
                    continue
                if member is not None:
                    info = json.load(member)
                    return info if isinstance(info, dict) else {}
    except (OSError, tarfile.TarError, ValueError, AttributeError):
        return {}
    return {}


def build_commit(artifact: Path, build_info_name: str) -> str | None:
    """The commit named in the artifact's build-info JSON (at its root), if any."""
    commit = build_info(artifact, build_info_name).get("commit")
    return str(commit) if commit else None


def origin(checked: Checked, build_info_name: str) -> dict[str, Any]:
    """Where the release comes from, for the deploy's ``run.started`` (lead time, ``relkit
    metrics``): the manifest's code freeze and the build info's commit and commit time."""
    found: dict[str, Any] = {}
    freeze = checked.manifest.code_freeze
    if freeze is not None:
        found["code_freeze"] = {"commit": freeze.commit, "time": freeze.time.isoformat()}
    if checked.artifact.path is not None:
        info = build_info(checked.artifact.path, build_info_name)
        build = {k: str(info[k]) for k in ("commit", "commit_time") if info.get(k)}
        if build:
            found["build"] = build
    return found


RECORDED_APPROVALS = ("approval.recorded", "release.verified")
"""Ledger kinds that carry a signed approval or verification record (``data.record``)."""


def evaluate(
    project: Project,
    manifest_path: Path,
    env: str,
    stage: str = "deploy",
    *,
    actor: str = "",
    actor_key: str = "",
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
    digest = approvals.manifest_digest(manifest)
    recorded_rows = list(project.ledger.entries())  # read once: the history and the approvals
    # a team's approvals reach every controller through the shared ledger, not only beside the
    # manifest of the checkout they were signed in (an embedded ledger: the files are the truth)
    recorded = [
        e.data["record"]
        for e in recorded_rows
        if project.ledger.shared
        and e.kind in RECORDED_APPROVALS
        and e.data.get("digest") == digest
        and isinstance(e.data.get("record"), dict)
    ]
    with signers.verifying(project) as verifier:  # the pinned signers (pinned now on first use)
        signatures = approvals.load(manifest_path, manifest, verifier.file, recorded)
    pin = signers.commit(project, verifier)
    signers_problem = signers.problem(project, pin)
    # a first pin is no history; a rollout tells which smoke passes speak for a whole environment
    history = [e for e in recorded_rows if e.kind in HISTORY_KINDS or e.kind in ROLLOUT_KINDS]
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
        actor_key=actor_key,
        artifact_commit=build_commit(artifact.path, cfg.artifacts.build_info) if artifact.path else None,
        signatures=tuple(signatures),
        requirements_digest=requirements_digest(manifest.requirements),
        retro=retro,
        groups=cfg.approvals.groups,
        signers_problem=signers_problem,
        signers_pin=pin.short if pin else "",
        provenance=environment.provenance or cfg.policy.provenance,
        build_info=cfg.artifacts.build_info,
    )
    report = gates.evaluate(stage, inp, overrides=overrides)
    return Checked(manifest, report, artifact, tuple(overrides))


def issue_pass(checked: Checked, manifest_path: Path, run_id: str) -> dict[str, str]:
    """A gate pass for ``run_id``'s play of exactly this release; :func:`record` the evaluation with
    it (the ledger keeps its digest), then serve it (once) to that play."""
    return {
        "run_id": run_id,
        "env": checked.report.env,
        "manifest": str(manifest_path.resolve()),
        "version": checked.manifest.version,
        "sha256": checked.manifest.artifact.sha256,
        "nonce": secrets.token_urlsafe(32),
    }


def pass_digest(gate_pass: Mapping[str, str]) -> str:
    """What the ledger keeps of a gate pass: the sha256 of its canonical JSON, nonce included."""
    return hashlib.sha256(json.dumps(dict(gate_pass), sort_keys=True).encode()).hexdigest()


def refuse_pass(
    project: Project, served: object, manifest_path: Path, env: str, run_id: str, origin: str = ""
) -> str:
    """Why ``served`` does not spare run ``run_id``'s play of ``manifest_path`` on ``env`` its gate
    check; ``""`` when it does. ``origin``: the path relkit gated the manifest at, when the play
    reads a copy of it (on an execution node); the copy must still name the gated release.

    A pass is only a claim (anyone can answer on a socket): it counts when it names this run,
    environment, manifest file and release (the manifest's version and sha256), the run holds
    the environment's lock, and the ledger has this run's passing deploy evaluation of that
    release recorded with this very pass's digest (which only the process that issued the pass
    could have written, since the nonce never leaves it and its play).
    """
    if not isinstance(served, Mapping) or set(served) != set(PASS_FIELDS):
        return "malformed pass"
    if not all(isinstance(served[k], str) and served[k] for k in PASS_FIELDS):
        return "malformed pass"
    if not run_id or served["run_id"] != run_id:
        return f"the pass is for run {served['run_id']!r}, not {run_id or 'an unnamed run'!r}"
    if served["env"] != env:
        return f"the pass is for {served['env']!r}, not {env!r}"
    gated = origin or str(manifest_path.resolve())
    if served["manifest"] != gated:
        return f"the pass is for manifest {served['manifest']}, not {gated}"
    try:
        manifest = load_manifest(manifest_path)
    except RelkitError as exc:
        return f"manifest: {exc}"
    release = (manifest.version, manifest.artifact.sha256)
    if (served["version"], served["sha256"]) != release:
        named = f"{served['version']} ({served['sha256'][:12]})"
        return f"the pass is for {named}, not {release[0]} ({release[1][:12]})"
    holder = project.ledger.holder(env)
    if holder is None or holder.run_id != run_id or holder.action != "deploy" or not holder.alive:
        return f"run {run_id} does not hold the {env} lock" + (
            f" ({holder.describe()} does)" if holder else ""
        )
    digest = pass_digest(served)
    for entry in project.ledger.entries(kind="gate.evaluated", env=env):
        data = entry.data
        if entry.run_id != run_id or not hmac.compare_digest(str(data.get("pass_digest", "")), digest):
            continue
        recorded = (data.get("stage"), data.get("passed"), data.get("version"), data.get("sha256"))
        if recorded == ("deploy", True, *release):
            return ""
        return f"the evaluation recorded for run {run_id} did not pass for {release[0]}"
    return f"no passing gate evaluation of {release[0]} on {env} recorded for run {run_id} with this pass"


def record(
    project: Project,
    checked: Checked,
    actor: str,
    manifest_path: Path,
    run_id: str = "",
    *,
    gate_pass: Mapping[str, str] | None = None,
    refused_pass: str = "",
) -> None:
    """Ledger the evaluation and every override it used (each naming the release it was given for).

    ``gate_pass``: the pass issued for this evaluation (its digest is recorded, never the pass);
    ``refused_pass``: why the play's gate task refused a pass before evaluating the gates itself.
    """
    report = checked.report
    sha256 = checked.manifest.artifact.sha256
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
                    "sha256": sha256,
                    "stage": report.stage,
                },
            )
    data = {**report.to_dict(), "by": actor, "manifest": str(manifest_path), "sha256": sha256}
    if gate_pass is not None:
        data["pass_digest"] = pass_digest(gate_pass)
    if refused_pass:
        data["gate_pass"] = f"refused: {refused_pass}"
    project.ledger.append("gate.evaluated", run_id=run_id, env=report.env, data=data)
