"""One run of a play-driven use case: who acts, its id, its record, its notices, its plays."""

from __future__ import annotations

import contextlib
import getpass
import os
from dataclasses import dataclass, field
from typing import Any

from relkit.errors import LedgerLost, RelkitError
from relkit.hostrules import new_run_id
from relkit.project import Project
from relkit.results import PlayResult
from relkit.usecases.notifying import RunNotifier
from relkit.usecases.playing import register_secrets, run_play
from relkit.usecases.recording import OutcomeSink, RunRecorder, SmokeVerdict


def identity(explicit: str | None = None) -> str:
    """Who is acting: ``--as``, else $RELKIT_USER, else the login name."""
    return explicit or os.environ.get("RELKIT_USER") or getpass.getuser()


@dataclass
class RunReport:
    """What a deploy, prepare or rollback did, for the terminal and ``--output json``."""

    action: str
    env: str
    run_id: str
    version: str | None
    ok: bool
    hosts: dict[str, str] = field(default_factory=dict)
    rolled_back: dict[str, str] = field(default_factory=dict)
    gate_report: dict[str, Any] | None = None
    artifacts: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


class Run:
    """A run of ``action`` on ``env`` by ``by``: its ledger record, its notices and its plays.

    Starting a run registers relkit.yml's secret values with the redactor: nothing the run
    records, prints or sends shows them."""

    def __init__(self, project: Project, env: str, action: str, by: str, run_id: str | None = None) -> None:
        register_secrets(project)
        self.project, self.env, self.action, self.by = project, env, action, by
        self.run_id = run_id or new_run_id()
        self.book = RunRecorder(project.ledger, env, action, by, self.run_id)
        self.notices = RunNotifier(project, env, self.run_id, by)

    def play(
        self,
        playbook: str,
        extravars: dict[str, Any],
        progress: OutcomeSink,
        limit: str | None = None,
        gate_pass: dict[str, str] | None = None,
    ) -> PlayResult:
        """Run ``playbook``, recording each step's task results and showing each as it arrives.
        A ledger lost meanwhile ends the run (:class:`LedgerLost`) saying what the play did."""
        try:
            result = run_play(
                self.project,
                self.env,
                self.run_id,
                self.by,
                playbook,
                extravars,
                lambda o: self.book.outcome(o, progress),
                limit=limit,
                gate_pass=gate_pass,
            )
        except BaseException:
            with contextlib.suppress(RelkitError):
                self.book.flush()
            raise
        try:
            self.book.flush()
        except LedgerLost as lost:
            done = (
                "the play ended on every host: a switch it made is on the host, and the next run records it"
                if result.ok
                else "the play stopped:\n" + result.failure_summary()
            )
            raise LedgerLost(f"{lost}\n{done}") from None
        return result

    def smoke(self, result: PlayResult, version: str | None, sha256: str | None) -> bool:
        """Record the play's smoke results; tell ``smoke.failed`` subscribers of failures."""
        verdict: SmokeVerdict = self.book.smoke(result, version, sha256)
        if verdict.failed:
            self.notices.notify(
                "smoke.failed", version=version, sha256=sha256, failed=verdict.failed, checks=verdict.checks
            )
        return verdict.passed

    def finished(self, status: str, **data: Any) -> None:
        """Record the run's end; a deploy's end is also a ``deploy.finished`` notice."""
        self.book.finished(status, **data)
        if self.action == "deploy":
            self.notices.notify("deploy.finished", status=status, **data)


def quick_check(
    used: bool, found: str | None = None, why_not: str | None = None, host_cards: str | None = None
) -> dict[str, Any]:
    """``details.quick_check`` of a deploy: the same keys whatever happened (null when not so)."""
    return {"used": used, "found": found, "why_not": why_not, "host_cards": host_cards}


def deploy_details(
    check: dict[str, Any], downgrade: dict[str, Any] | None = None, rollout: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A deploy's ``details``: its quick check, its downgrade and its rollout (null: none), always
    the three keys."""
    return {"quick_check": check, "downgrade": downgrade, "rollout": rollout}
