"""A deploy in batches (``environments.<env>.rollout``): canary first, pauses, analysis, unwinding.

:func:`check_open` runs before anything is signed or locked: a rollout already open on the
environment is resumed by a deploy of its own release (``--continue``, signed, when it waits
for an approval or a decision) and refuses any other. :class:`Rollout` then plays the batches
within the deploy's run and lock, recording each step (:mod:`relkit.rollout` reads them back).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from relkit import inventories, live_check
from relkit import rollout as rollouts
from relkit import secrets as relkit_secrets
from relkit.config import Rollout as RolloutSpec
from relkit.errors import BadInput, PlayFailed, Unsigned
from relkit.project import Project
from relkit.results import PlayResult
from relkit.rollout import RolloutState
from relkit.usecases import signing
from relkit.usecases.analysis import analyse
from relkit.usecases.recording import OutcomeSink
from relkit.usecases.rollback import rollback_hosts
from relkit.usecases.runs import Run, RunReport, deploy_details, quick_check

BatchPlay = Callable[[list[str]], PlayResult]
"""Plays the deploy on the given hosts (gates checked again before each play)."""


def open_rollout(project: Project, env: str) -> RolloutState | None:
    """The rollout still open on ``env`` (not complete, not unwound), per the ledger."""
    return rollouts.open_rollout(project.ledger.entries(kind="rollout.*", env=env), env)


def continue_command(env: str, manifest: str = "MANIFEST") -> str:
    """The command that moves a waiting rollout on."""
    return f"relkit deploy {manifest} --env {env} --continue --key KEY"


def check_open(
    project: Project, env: str, version: str, sha256: str, manifest: Path, go_on: bool, key: Path | None
) -> RolloutState | None:
    """Refuse (exit 2/3, nothing changed) a deploy the open rollout of ``env`` does not allow; return
    that rollout when this deploy resumes it."""
    state = open_rollout(project, env)
    if state is None:
        if go_on:
            raise BadInput(
                f"--continue: no rollout of {env} is waiting (relkit status shows where each stands)"
            )
        return None
    where = _where(state)
    if (state.version, state.sha256) != (version, sha256):
        raise BadInput(
            f"a rollout of {state.version} is open on {env} ({where}): finish it with relkit deploy "
            f"<its manifest> --env {env}, or unwind it with {signing.rollback_command(project, env)}; "
            f"then deploy {version}. Nothing was changed"
        )
    if state.waiting_for and not go_on:
        awaited = "a signed continue" if state.waiting_for == "approval" else "a decision"
        raise BadInput(
            f"the rollout of {version} on {env} waits for {awaited} "
            f"({where}): go on with {continue_command(env, str(manifest))}, or unwind it with "
            f"{signing.rollback_command(project, env)}. Nothing was changed"
        )
    if go_on and not state.waiting_for:
        raise BadInput(
            f"--continue: the rollout of {version} on {env} is not waiting ({where}); "
            f"relkit deploy {manifest} --env {env} resumes it"
        )
    if go_on and key is None:
        raise Unsigned(
            f"--continue: moving the rollout of {version} on {env} on is an act of yours: sign it with --key "
            "PATH (your SSH key), a key allowed for relkit-ops"
        )
    return state


def _where(state: RolloutState) -> str:
    """Where a rollout stands, in a few words."""
    total = len(state.batches)
    moved = ", ".join(state.switched) or "no host"
    return f"batch {state.done} of {total} done; {moved} on {state.version}"


class Rollout:
    """The batches of one deploy run: plays them, pauses, analyses, and unwinds or stops on failure."""

    def __init__(
        self,
        run: Run,
        spec: RolloutSpec | None,
        state: RolloutState | None,
        version: str,
        sha256: str,
        manifest: Path,
        progress: OutcomeSink,
    ) -> None:
        self.run, self.spec, self.version, self.sha256 = run, spec, version, sha256
        self.manifest, self.progress = manifest, progress
        self.project, self.env = run.project, run.env
        self.state = state if state is not None else self._start()
        self.results: list[PlayResult] = []

    def _start(self) -> RolloutState:
        """Record a new rollout: its batches cut from the inventory's hosts, in inventory order."""
        assert self.spec is not None
        hosts = _inventory_hosts(self.project, self.env)
        batches = rollouts.plan(hosts, self.spec.batches)
        entry = self.run.book.record(
            "rollout.started",
            rollout_id=self.run.run_id,
            version=self.version,
            sha256=self.sha256,
            batches=batches,
            pause=self.spec.pause,
            on_failure=self.spec.on_failure,
            analysis=self.spec.analysis is not None,
            by=self.run.by,
        )
        return rollouts.rollouts([entry])[self.env]

    def record(self, kind: str, **data: Any) -> None:
        """Append one of this rollout's entries and move the rollout by it (as the ledger reads)."""
        entry = self.run.book.record(kind, rollout_id=self.state.rollout_id, **data)
        rollouts.advance({self.env: self.state}, entry)

    def resume_signed(self, key: Path) -> None:
        """A signed continue moving the waiting rollout past its pause (or its kept failure)."""
        after = self.state.done - 1
        signed = signing.sign(
            self.project,
            "continue",
            self.env,
            key,
            None,
            rollout_id=self.state.rollout_id,
            after_batch=after,
            version=self.version,
            sha256=self.sha256,
            run_id=self.run.run_id,
        )
        signing.record(self.project, signed, self.run.run_id, self.env)
        self.record(
            "rollout.continued",
            after_batch=after,
            by=signed.principal,
            was_waiting_for=self.state.waiting_for,
        )

    def play(self, play_batch: BatchPlay) -> RunReport | None:
        """Play every batch left; None when the rollout completed, else the report of a rollout
        now waiting for a signed continue. A failure ends in :class:`PlayFailed` (rolled back or kept)."""
        state = self.state
        if state.rollout_id != self.run.run_id:  # a rollout an earlier run started
            self.record("rollout.resumed", from_batch=state.done)
        for index in range(state.done, len(state.batches)):
            if index > 0 and (index - 1) not in self.state.continued:
                waiting = self._between(index - 1)
                if waiting is not None:
                    return waiting
            hosts = self.state.batches[index]
            result = play_batch(hosts)
            self.results.append(result)
            switched = sorted(
                {
                    **self.run.book.switches(result),
                    **self.run.book.found_live(result, self.version, self.sha256),
                }
            )
            smoke_ok = self.run.smoke(result, self.version, self.sha256)
            ok = result.ok and smoke_ok
            self.record("rollout.batch", index=index, hosts=hosts, switched=switched, ok=ok)
            if not ok:
                failed = ", ".join(result.bad_hosts) or "the play"
                self._failed(
                    index, f"batch {index + 1} of {len(self.state.batches)} failed on {failed}", result
                )
        self.record("rollout.finished", status="complete")
        return None

    def _between(self, after: int) -> RunReport | None:
        """The pause and analysis after batch ``after``: None to go on, or the report of a rollout
        now waiting for a signed continue. A failed analysis ends in :meth:`_failed`."""
        spec = self.spec
        pause: float | str = spec.pause if spec is not None else 0
        if isinstance(pause, int | float) and pause > 0:
            self.record("rollout.paused", after_batch=after, waiting_for="timer", seconds=pause)
            time.sleep(pause)
        if spec is not None and spec.analysis is not None:
            finding = analyse(self.run, spec.analysis, list(self.state.switched), self.progress)
            self.record("rollout.analysis", after_batch=after, **finding.to_dict())
            if not finding.passed:
                self._failed(after, "analysis failed: " + "; ".join(finding.reasons), None)
        if pause == "approval":
            self.record("rollout.paused", after_batch=after, waiting_for="approval")
            return self.report(ok=True)
        return None

    def _failed(self, index: int, reason: str, result: PlayResult | None) -> NoReturn:
        """A batch or an analysis failed: unwind every host switched so far, or stop there."""
        on_failure = self.spec.on_failure if self.spec is not None else self.state.on_failure
        hosts = list(self.state.switched)
        evidence = result.failure_summary() if result is not None else ""
        if on_failure == "keep":
            self.record("rollout.stopped", batch=index, reason=reason)
            self.run.book.record(
                "decision.needed",
                source="rollout",
                reason=f"rollout of {self.version}: {reason}",
                policy="rollout.on_failure: keep",
                switched=dict.fromkeys(hosts, self.version),
                evidence=evidence[:4000],
            )
            self.run.finished("failed_kept", reason=reason, kept=hosts)
            raise PlayFailed(
                f"rollout of {self.version} on {self.env} stopped: {reason}. rollout.on_failure: keep "
                f"kept {', '.join(hosts) or 'no host'} on {self.version}; the other hosts were not touched. "
                "Go on: "
                f"{continue_command(self.env, str(self.manifest))}; unwind: "
                f"{signing.rollback_command(self.project, self.env)}\n{evidence}".rstrip(),
                self.report(ok=False),
            )
        back: dict[str, str] = {}
        if hosts:
            why = f"rollout of {self.version}: {reason}"
            cards = live_check.probe_cards(self.combined())  # this run's batches: their probes
            back = rollback_hosts(
                self.run, hosts, self.progress, reason=why, only_from=self.version, cards=cards
            )
        self.record("rollout.finished", status="rolled_back", reason=reason, rolled_back=back)
        report = self.report(ok=False)
        report.rolled_back = back
        self.run.finished("rolled_back", reason=reason, rolled_back=back)
        untouched = [h for h in self.state.hosts_to_go() if h not in back]
        raise PlayFailed(
            f"rollout of {self.version} on {self.env} stopped: {reason}; "
            + (
                f"rolled back {', '.join(f'{h} to {v}' for h, v in back.items())}"
                if back
                else "no host had switched"
            )
            + (f"; never switched: {', '.join(untouched)}" if untouched else "")
            + (f"\n{evidence}" if evidence else ""),
            report,
        )

    def combined(self) -> PlayResult:
        """The batch plays of this run as one result (the host cards of the quick check)."""
        outcomes = [o for result in self.results for o in result.outcomes]
        last = self.results[-1] if self.results else None
        return PlayResult("successful", 0, outcomes, last.artifacts if last else Path())

    def report(self, ok: bool) -> RunReport:
        """The deploy's report as the rollout stands."""
        hosts: dict[str, str] = {}
        for result in self.results:
            hosts.update(result.host_states())
        return RunReport(
            "deploy",
            self.env,
            self.run.run_id,
            self.version,
            ok,
            hosts,
            details=deploy_details(
                quick_check(used=False, why_not="a rollout plays every batch"),
                rollout=self.state.to_dict(running=False),
            ),
        )


def _inventory_hosts(project: Project, env: str) -> list[str]:
    """The hosts of ``env``'s inventory, in inventory order (read the way Ansible reads it)."""
    inventory = project.inventory(env)
    vault = relkit_secrets.vault_password_file(project.config, project.root)
    names, errors = inventories.host_variables({env: inventory}, vault)
    hosts = list(names.get(env, {}))
    if not hosts:
        why = errors.get(env) or "no hosts in it"
        raise BadInput(f"environments.{env}.inventory: cannot cut the rollout into batches: {why}")
    return hosts
