"""Recording one run in the ledger: start, task results, switches, smoke results, end.

Task results are written a play step at a time: the results of one task on every host go in
one transaction when the play moves on to the next task (or the play ends, or anything else
is recorded), so a 50-host step costs one write, not fifty, and no write waits on a host.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relkit.chain import Entry
from relkit.errors import RelkitError
from relkit.results import PlayResult, ReleaseResult, TaskOutcome
from relkit.status import live_releases
from relkit.store import Store
from relkit.store.sealing import Draft

OutcomeSink = Callable[[TaskOutcome], None]


def quiet(_: TaskOutcome) -> None:
    """Default progress sink: show nothing."""


@dataclass(frozen=True)
class SmokeVerdict:
    """One ``smoke.result`` as recorded: did every host pass, who failed and with which checks."""

    passed: bool
    failed: list[str]
    checks: dict[str, list[dict[str, Any]]]


BATCH_MAX = 200
"""Most task results held before they are written, whatever the step."""


class RunRecorder:
    """The ledger entries of one run (``run_id``) of ``action`` on ``env`` by ``by``."""

    def __init__(self, store: Store, env: str, action: str, by: str, run_id: str) -> None:
        self.store, self.env, self.action, self.by, self.run_id = store, env, action, by, run_id
        self.pending: list[Draft] = []
        self._step: tuple[str, str] | None = None

    def record(self, kind: str, host: str = "", **data: Any) -> Entry:
        """Append one entry of this run (after the task results still pending)."""
        drafts = [*self.pending, Draft(kind, self.run_id, self.env, host, data)]
        written = self.store.append_many(drafts)
        self.pending = []
        return written[-1]

    def queue(self, kind: str, host: str = "", **data: Any) -> None:
        """Add one entry of this run to the next write (:meth:`flush` or :meth:`record`)."""
        self._step = None
        self.pending.append(Draft(kind, self.run_id, self.env, host, data))

    def flush(self) -> None:
        """Write the pending task results (one transaction); raise if the ledger is out of reach."""
        if self.pending:
            self.store.append_many(self.pending)
            self.pending = []

    def _hold(self, draft: Draft, step: tuple[str, str]) -> None:
        """Queue a task result; write the queue when a new step starts or it is full. A write
        that fails while the play runs stays queued: the next write retries it and raises if the
        ledger is still out of reach (the play's own pre-switch check stops it before any switch)."""
        if (self._step is not None and step != self._step) or len(self.pending) >= BATCH_MAX:
            with contextlib.suppress(RelkitError):
                self.flush()
        self._step = step
        self.pending.append(draft)

    def started(self, **data: Any) -> None:
        """``run.started``: who, which process on which controller."""
        self.record(
            "run.started",
            action=self.action,
            by=self.by,
            pid=os.getpid(),
            controller=socket.gethostname(),
            **data,
        )

    def finished(self, status: str, **data: Any) -> None:
        """``run.finished`` with the run's status."""
        self.record("run.finished", action=self.action, status=status, **data)

    def outcome(self, outcome: TaskOutcome, progress: OutcomeSink = quiet) -> None:
        """Ledger one task's result on one host (with its step's others), then show it."""
        data = {
            "task": outcome.task,
            "action": outcome.action,
            "status": outcome.status,
            "changed": outcome.changed,
            "msg": outcome.msg,
        }
        draft = Draft("task.result", self.run_id, self.env, outcome.host, data)
        self._hold(draft, (outcome.task, outcome.action))
        progress(outcome)

    def switches(self, result: PlayResult) -> dict[str, str]:
        """Ledger ``host.switched`` for every host whose ``current`` moved; return host → version.

        That includes a host a rollback found already moved off the release the ledger said
        was live there (``found_live``: a killed run's rollback, finished on the host)."""
        moved = {}
        for host, release in sorted(result.releases().items()):
            if release.moved and release.version is not None:
                moved[host] = release.version
                self._switch(
                    host,
                    release.version,
                    release.sha256,
                    release.previous,
                    release.action or self.action,
                    release.found_live,
                )
        self.snapshots(result)
        self.flush()
        return moved

    def found_live(self, result: PlayResult, version: str, sha256: str) -> dict[str, str]:
        """Ledger ``host.switched`` for hosts the probe found on this release while the ledger says
        otherwise: a killed run's switch, finished on the host after the controller died (the
        host's history names that run). Return host → version, like :meth:`switches`."""
        probes: dict[str, ReleaseResult] = {
            o.host: o.release for o in result.outcomes if o.release is not None and o.release.probed
        }
        final = result.releases()
        failed = set(result.bad_hosts)
        known = live_releases(self.store.entries(kind="host.switched", env=self.env)).get(self.env, {})
        found = {}
        for host, probe in sorted(probes.items()):
            if host in failed or probe.current != version or (host in final and final[host].switched):
                continue
            was = known.get(host)
            if was is not None and (was.version, was.sha256) == (version, sha256):
                continue
            last = probe.last_switch or {}
            action = last.get("action") or "deploy"
            self._switch(host, version, sha256, was.version if was else None, action, last)
            found[host] = version
        self.flush()
        return found

    def _switch(
        self,
        host: str,
        version: str,
        sha256: str,
        previous: str | None,
        action: str,
        found: dict[str, Any] | None = None,
    ) -> None:
        """Ledger one ``host.switched``. ``found``: the host-history record of a switch another
        run made (killed before it could record it), which this run found done."""
        extra = {}
        if found is not None:
            extra = {
                "found_live": True,
                "switched_by_run": found.get("run_id"),
                "switched_at": found.get("at"),
            }
        by = (found or {}).get("by") or self.by
        self.queue(
            "host.switched",
            host,
            version=version,
            sha256=sha256,
            previous=previous,
            action=action,
            by=by,
            **extra,
        )

    def snapshots(self, result: PlayResult) -> None:
        """Ledger what the hosts report about data snapshots: taken, restored, pruned."""
        for host, release in sorted(result.releases().items()):
            for snap in (release.snapshot, release.at_rollback):
                if snap and snap.get("id"):
                    data = {k: v for k, v in snap.items() if k != "kind"}
                    self.queue("snapshot.taken", host, purpose=snap.get("kind"), **data)
            restored = release.restored
            if restored and restored.get("id"):
                self.queue(
                    "snapshot.restored",
                    host,
                    id=restored["id"],
                    at_rollback=restored.get("at_rollback"),
                    items=restored.get("items", []),
                    version=release.version,
                    replaced=release.previous,
                    after_failed_migrate=release.action == "deploy",
                )
            if release.pruned_snapshots:
                self.queue("snapshot.pruned", host, ids=list(release.pruned_snapshots))

    def smoke(self, result: PlayResult, version: str | None, sha256: str | None) -> SmokeVerdict:
        """Ledger one ``smoke.result`` for the environment."""
        smoke = [o for o in result.outcomes if o.checks is not None]
        failed = sorted({o.host for o in smoke if o.status != "ok"})
        checks = {o.host: list(o.checks or ()) for o in smoke}
        passed = result.ok and bool(smoke)
        self.record(
            "smoke.result",
            version=version,
            sha256=sha256,
            passed=passed,
            hosts=sorted({o.host for o in smoke}),
            failed=failed,
            checks=checks,
        )
        return SmokeVerdict(passed, failed, {h: c for h, c in checks.items() if h in failed})
