"""What is live where, derived from ledger entries. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from relkit.chain import Entry


@dataclass(frozen=True)
class LiveRelease:
    """The release live on one host."""

    env: str
    host: str
    version: str
    sha256: str
    since: str
    by: str
    action: str
    run_id: str
    closed: str = ""


@dataclass(frozen=True)
class InterruptedRun:
    """A run that started and never recorded its end (killed, crashed)."""

    run_id: str
    env: str
    action: str
    started: str
    by: str
    pid: int
    controller: str


def live_releases(entries: Iterable[Entry]) -> dict[str, dict[str, LiveRelease]]:
    """Per environment and host, the last release switched in (with when it was closed, if it was)."""
    live: dict[str, dict[str, LiveRelease]] = {}
    for e in entries:
        if e.kind == "host.switched":
            live.setdefault(e.env, {})[e.host] = LiveRelease(
                e.env,
                e.host,
                e.data.get("version", "?"),
                e.data.get("sha256", ""),
                e.ts,
                e.data.get("by", ""),
                e.data.get("action", ""),
                e.run_id,
            )
        elif e.kind == "release.closed":
            for host, release in live.get(e.env, {}).items():
                if release.version == e.data.get("version"):
                    live[e.env][host] = replace(release, closed=e.ts)
    return live


def interrupted_runs(entries: Iterable[Entry]) -> list[InterruptedRun]:
    """Runs with a ``run.started`` entry but no ``run.finished``."""
    open_runs: dict[str, InterruptedRun] = {}
    for e in entries:
        if e.kind == "run.started":
            open_runs[e.run_id] = InterruptedRun(
                e.run_id,
                e.env,
                e.data.get("action", ""),
                e.ts,
                e.data.get("by", ""),
                int(e.data.get("pid", 0)),
                e.data.get("controller", ""),
            )
        elif e.kind == "run.finished":
            open_runs.pop(e.run_id, None)
    return list(open_runs.values())


def as_dict(obj: Any) -> dict[str, Any]:
    """JSON-ready form of a status dataclass."""
    return asdict(obj)
