"""The record: what is live where, the ledger, locks and snapshots as the ledger knows them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from relkit import acts, pins, signers, witness
from relkit.chain import ChainCheck, Entry
from relkit.errors import BadInput, PlayFailed
from relkit.hostrules import new_run_id
from relkit.project import Project
from relkit.rollout import rollouts
from relkit.snapshots import SnapshotRow, list_snapshots
from relkit.status import InterruptedRun, LiveRelease, interrupted_runs, live_releases
from relkit.store import Holder
from relkit.usecases import signing
from relkit.usecases.playing import run_play
from relkit.usecases.recording import OutcomeSink, quiet
from relkit.usecases.runs import identity


@dataclass
class StatusView:
    """What is live where, open runs and locks."""

    live: dict[str, dict[str, LiveRelease]]
    interrupted: list[InterruptedRun]
    locks: dict[str, str]
    rollouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per environment, its rollout still open (:meth:`relkit.rollout.RolloutState.to_dict`)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "live": {env: {h: r.__dict__ for h, r in hosts.items()} for env, hosts in self.live.items()},
            "interrupted": [r.__dict__ for r in self.interrupted],
            "locks": self.locks,
            "rollouts": self.rollouts,
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
    underway = {
        env: state.to_dict(running=bool(running.intersection(state.runs)))
        for env, state in sorted(rollouts(entries).items())
        if state.open
    }
    return StatusView(live_releases(entries), open_runs, locks, underway)


def ledger_entries(project: Project, kind: str | None = None, env: str | None = None) -> list[Entry]:
    """Ledger entries, optionally filtered."""
    return list(project.ledger.entries(kind=kind, env=env))


def ledger_verify(project: Project) -> ChainCheck:
    """Verify the ledger's hash chain, then the signers on record and every signed act: each pin
    of the allowed signers after the first follows a change signed by an admin of the pin before;
    each act's signature holds against the pin in force when it was made, and the row it signed
    as the ledger head was not rewritten. Names the first row that fails."""
    check = project.ledger.verify()
    if not check.ok:
        return check
    entries = list(project.ledger.entries())
    hashes = {e.seq: e.hash for e in entries}
    in_force: pins.Pin | None = None
    changes: list[dict[str, Any]] = []
    signed = pinned = 0
    with signers.pin_files(project) as file_of:
        for entry in entries:
            if entry.kind == pins.PINNED:
                if problem := pins.pin_problem(entry, in_force, changes):
                    return ChainCheck(False, check.checked, entry.seq, f"signers pin: {problem}")
                in_force, changes, pinned = pins.pin_of(entry), [], pinned + 1
            elif entry.kind == "act.signed":
                sha = in_force.sha256 if in_force else None
                if problem := acts.check_recorded(entry, file_of(in_force), hashes, sha):
                    return ChainCheck(False, check.checked, entry.seq, f"signed act: {problem}")
                signed += 1
                if (entry.data.get("act"), entry.data.get("role")) == (pins.CHANGE_ACT, pins.ADMIN_ROLE):
                    changes.append(entry.data["statement"])
    return replace(check, signed_acts=signed, signer_pins=pinned)


def witness_check(project: Project, env: str, progress: OutcomeSink = quiet) -> witness.WitnessCheck:
    """Read every host's history of ``env`` (one read-only module call per host) and compare what
    the hosts witnessed with the ledger (:mod:`relkit.witness`). Nothing is written anywhere."""
    project.environment(env)
    result = run_play(project, env, new_run_id(), identity(), "witness.yml", {}, progress)
    histories = {
        host: list(release.raw.get("history") or [])
        for host, release in result.releases().items()
        if release.state == "history" and host not in result.bad_hosts
    }
    if not histories and not result.bad_hosts:
        raise PlayFailed(f"no host of {env} reported its history:\n{result.failure_summary()}")
    check = witness.check(env, list(project.ledger.entries()), histories)
    check.unreachable = list(result.bad_hosts)
    return check


def unlock(
    project: Project, env: str, by: str | None, force: bool = False, key: Path | None = None
) -> Holder:
    """Break a stale lock of ``env`` and record who did it: the principal of ``key`` (required
    where ``policy.signed_acts`` says; ``by`` must then name that principal), else ``by``."""
    project.environment(env)
    holder_now = project.ledger.holder(env)
    signed = signing.sign_if_needed(
        project, "unlock", env, key, by, held_by_run=holder_now.run_id if holder_now else None, forced=force
    )
    by = signed.principal if signed else by
    if not by:
        raise BadInput("--by: name the person breaking the lock (or sign it: --key)")
    store = project.ledger
    holder = store.break_lock(env, force)
    if signed is not None:
        signing.record(project, signed, holder.run_id, env)
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
