"""Gates: the procedure's checks, each a pure function of (manifest, ledger, environment, time).

A gate never does I/O: everything it needs arrives in :class:`GateInput`. New gates
register with :func:`gate`; which gates guard which stage comes from :func:`policy_for`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from relkit.chain import Entry
from relkit.manifest import Manifest

STAGES = ("prepare", "deploy")


@dataclass(frozen=True)
class GateInput:
    """Everything a gate may look at."""

    manifest: Manifest
    project_app: str
    env: str
    promote_from: str | None
    artifact_sha256: str | None
    artifact_problem: str
    history: Sequence[Entry]
    now: datetime


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict: pass/fail, why, and what to do about it."""

    name: str
    passed: bool
    reason: str
    remedy: str = ""


@dataclass(frozen=True)
class GateReport:
    """All gates evaluated for one stage of one environment."""

    stage: str
    env: str
    version: str
    results: tuple[GateResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """True when every gate passed."""
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[GateResult, ...]:
        """The gates that blocked."""
        return tuple(r for r in self.results if not r.passed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ledger, ``--output json``)."""
        return {
            "stage": self.stage,
            "env": self.env,
            "version": self.version,
            "passed": self.passed,
            "gates": [asdict(r) for r in self.results],
        }


GateFn = Callable[[GateInput], GateResult]
GATES: dict[str, GateFn] = {}


def gate(name: str) -> Callable[[Callable[[GateInput], tuple[bool, str, str]]], GateFn]:
    """Register a gate returning ``(passed, reason, remedy)``."""

    def register(fn: Callable[[GateInput], tuple[bool, str, str]]) -> GateFn:
        def run(inp: GateInput) -> GateResult:
            passed, reason, remedy = fn(inp)
            return GateResult(name, passed, reason, "" if passed else remedy)

        run.__doc__ = fn.__doc__
        GATES[name] = run
        return run

    return register


@gate("manifest_valid")
def manifest_valid(inp: GateInput) -> tuple[bool, str, str]:
    """The manifest validated and belongs to this project's app."""
    app = inp.manifest.app
    if app != inp.project_app:
        return (
            False,
            f"manifest is for app {app!r}, this project deploys {inp.project_app!r}",
            "use the manifest of this project's app",
        )
    return True, f"{app} {inp.manifest.version} validated", ""


@gate("artifact_checksum")
def artifact_checksum(inp: GateInput) -> tuple[bool, str, str]:
    """The artifact file exists and its sha256 is the manifest's."""
    want = inp.manifest.artifact.sha256
    if inp.artifact_sha256 is None:
        return (
            False,
            inp.artifact_problem or "artifact not available",
            "build or fetch the artifact",
        )
    if inp.artifact_sha256 != want:
        return (
            False,
            f"artifact sha256 {inp.artifact_sha256[:12]}… differs from manifest {want[:12]}…",
            "rebuild the artifact from the frozen commit or correct artifact.sha256",
        )
    return True, f"sha256 {want[:12]}… matches", ""


@gate("promoted_from")
def promoted_from(inp: GateInput) -> tuple[bool, str, str]:
    """This very artifact was deployed to the upstream environment and passed smoke there."""
    source, sha = inp.promote_from, inp.manifest.artifact.sha256
    if source is None:
        return True, "environment has no upstream", ""
    for entry in reversed(inp.history):
        if (
            entry.kind == "smoke.result"
            and entry.env == source
            and entry.data.get("sha256") == sha
            and entry.data.get("passed")
        ):
            return True, f"passed smoke on {source} at {entry.ts[:19]}Z (run {entry.run_id})", ""
    return (
        False,
        f"sha256 {sha[:12]}… has not passed smoke on {source}",
        f"deploy this manifest to {source} first: relkit deploy MANIFEST --env {source}",
    )


def policy_for(stage: str, promote_from: str | None) -> list[str]:
    """Default gates for a stage (the SOP's minimal set)."""
    if stage == "prepare":
        return ["manifest_valid"]
    gates = ["manifest_valid", "artifact_checksum"]
    if promote_from:
        gates.append("promoted_from")
    return gates


def evaluate(stage: str, inp: GateInput, names: Sequence[str] | None = None) -> GateReport:
    """Run the gates of ``stage`` (or ``names``) and collect a report."""
    chosen = list(names) if names is not None else policy_for(stage, inp.promote_from)
    results = tuple(GATES[name](inp) for name in chosen)
    return GateReport(stage, inp.env, inp.manifest.version, results)
