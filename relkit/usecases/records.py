"""The record: what is live where, the ledger, locks and snapshots as the ledger knows them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relkit.chain import ChainCheck, Entry
from relkit.errors import BadInput
from relkit.project import Project
from relkit.snapshots import SnapshotRow, list_snapshots
from relkit.status import InterruptedRun, LiveRelease, interrupted_runs, live_releases
from relkit.store import Holder


@dataclass
class StatusView:
    """What is live where, open runs and locks."""

    live: dict[str, dict[str, LiveRelease]]
    interrupted: list[InterruptedRun]
    locks: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "live": {env: {h: r.__dict__ for h, r in hosts.items()} for env, hosts in self.live.items()},
            "interrupted": [r.__dict__ for r in self.interrupted],
            "locks": self.locks,
        }


def status(project: Project) -> StatusView:
    """Live release per environment and host, interrupted runs and lock holders."""
    entries = list(project.ledger.entries())
    locks = {}
    running = set()
    for env in project.config.environments:
        holder = project.ledger.holder(env)
        if holder:
            locks[env] = holder.describe()
            if holder.alive:
                running.add(holder.run_id)
    open_runs = [r for r in interrupted_runs(entries) if r.run_id not in running]
    return StatusView(live_releases(entries), open_runs, locks)


def ledger_entries(project: Project, kind: str | None = None, env: str | None = None) -> list[Entry]:
    """Ledger entries, optionally filtered."""
    return list(project.ledger.entries(kind=kind, env=env))


def ledger_verify(project: Project) -> ChainCheck:
    """Verify the ledger's hash chain."""
    return project.ledger.verify()


def unlock(project: Project, env: str, by: str | None, force: bool = False) -> Holder:
    """Break a stale lock of ``env`` and record who did it."""
    if not by:
        raise BadInput("--by: name the person breaking the lock")
    project.environment(env)
    store = project.ledger
    holder = store.break_lock(env, force)
    store.append("lock.broken", env=env, data={"by": by, "holder": holder.__dict__, "forced": force})
    if any(r.run_id == holder.run_id for r in interrupted_runs(store.entries(env=env))):
        # the holder's run ends here, on record: status stops listing it, the report shows how
        store.append(
            "run.finished",
            run_id=holder.run_id,
            env=env,
            data={"action": holder.action, "status": "interrupted", "lock_broken_by": by, "forced": force},
        )
    return holder


def snapshots(project: Project, env: str, include_pruned: bool = False) -> list[SnapshotRow]:
    """The data snapshots of ``env`` per host, from the ledger."""
    return list_snapshots(project, env, include_pruned)
