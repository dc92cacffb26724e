"""Data snapshots on the controller side: what a play did to them, and the per-host listing.

The hosts do the work (``playbooks/module_utils/relkit_snapshots.py``, inside the
``relkit_release`` activate/rollback call); :class:`relkit.usecases.recording.RunRecorder`
ledgers what they report, and this module answers "which snapshots exist where" from the
ledger:

- ``snapshot.taken`` per host: id, purpose (``deploy``: before a release switched in;
  ``at-rollback``: the data as it stood when a rollback replaced it), from, to, and per
  item its kind, file, sha256, size and duration.
- ``snapshot.restored`` per host: the snapshot restored, the at-rollback snapshot saved
  just before, and the items with their durations.
- ``snapshot.pruned`` per host: ids removed by retention.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from relkit.chain import Entry
from relkit.project import Project
from relkit.results import PlayResult


def data_summary(result: PlayResult) -> dict[str, dict[str, str]]:
    """Per host: the snapshot taken, restored and saved at rollback by this play (ids)."""
    out: dict[str, dict[str, str]] = {}
    for host, release in result.releases().items():
        row = {}
        parts = {
            "snapshot": release.snapshot,
            "at_rollback": release.at_rollback,
            "restored": release.restored,
        }
        for key, part in parts.items():
            if part and part.get("id"):
                row[key] = part["id"]
        if row:
            out[host] = row
    return out


@dataclass
class SnapshotRow:
    """One snapshot on one host, as the ledger knows it."""

    env: str
    host: str
    id: str
    kind: str
    from_version: str | None
    to_version: str | None
    taken_at: str
    run_id: str
    size: int
    items: list[dict[str, Any]] = field(default_factory=list)
    restored_at: list[str] = field(default_factory=list)
    pruned: bool = False

    @property
    def state(self) -> str:
        """``present`` or ``pruned`` (by retention on the host)."""
        return "pruned" if self.pruned else "present"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "state": self.state}


def rows(entries: Iterable[Entry], env: str | None = None) -> list[SnapshotRow]:
    """Snapshots per host from ledger entries, oldest first; pure."""
    found: dict[tuple[str, str, str], SnapshotRow] = {}
    for e in entries:
        if env is not None and e.env != env:
            continue
        if e.kind == "snapshot.taken":
            items = list(e.data.get("items") or [])
            found[(e.env, e.host, e.data.get("id", "?"))] = SnapshotRow(
                env=e.env,
                host=e.host,
                id=e.data.get("id", "?"),
                kind=e.data.get("purpose", "?"),
                from_version=e.data.get("from"),
                to_version=e.data.get("to"),
                taken_at=e.data.get("taken_at") or e.ts,
                run_id=e.run_id,
                size=sum(int(i.get("size") or 0) for i in items),
                items=items,
            )
        elif e.kind == "snapshot.restored":
            row = found.get((e.env, e.host, e.data.get("id", "")))
            if row:
                row.restored_at.append(e.ts)
        elif e.kind == "snapshot.pruned":
            for sid in e.data.get("ids") or []:
                if row := found.get((e.env, e.host, sid)):
                    row.pruned = True
    return sorted(found.values(), key=lambda r: (r.env, r.host, r.taken_at, r.id))


def list_snapshots(project: Project, env: str, include_pruned: bool = False) -> list[SnapshotRow]:
    """The snapshots of ``env`` per host, from the ledger (pruned ones only when asked)."""
    project.environment(env)
    found = rows(project.ledger.entries(kind="snapshot.*", env=env), env)
    return found if include_pruned else [r for r in found if not r.pruned]


def human_size(size: int) -> str:
    """Bytes as B / KiB / MiB / GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
