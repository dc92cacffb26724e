"""Rollouts: batches of hosts, and where a rollout stands according to the ledger. Pure: no I/O.

A rollout switches an environment's hosts batch by batch (``environments.<env>.rollout``). Its
record is a handful of ledger entries, all carrying ``rollout_id`` (the id of the run that
started it): ``rollout.started`` (release, batches, pause, on_failure), one ``rollout.batch``
per batch played (its hosts, which switched, ok or not), ``rollout.paused`` (a timer or waiting
for a signed continue), ``rollout.analysis`` (what the checks and the query found),
``rollout.stopped`` (a failure kept, ``on_failure: keep``), ``rollout.continued`` (a signed
continue), ``rollout.finished`` (complete or rolled back). :func:`rollouts` reads them back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relkit.chain import Entry

KINDS = (
    "rollout.started",
    "rollout.batch",
    "rollout.paused",
    "rollout.analysis",
    "rollout.stopped",
    "rollout.continued",
    "rollout.resumed",
    "rollout.finished",
)
"""The ledger entries of a rollout."""


def plan(hosts: Sequence[str], batches: Sequence[int | str]) -> list[list[str]]:
    """``hosts`` (inventory order) cut into batches: each entry of ``batches`` is how many hosts
    run the release once that batch is done, a count or a percentage rounded up (at least one).
    An entry that adds no host is skipped; the last batch always ends with every host."""
    total = len(hosts)
    cuts: list[int] = []
    for size in batches:
        reach = math.ceil(total * int(size.rstrip("%")) / 100) if isinstance(size, str) else size
        reach = min(max(reach, 1), total)
        if not cuts or reach > cuts[-1]:
            cuts.append(reach)
    if total and (not cuts or cuts[-1] < total):
        cuts.append(total)
    starts = [0, *cuts[:-1]]
    return [list(hosts[a:b]) for a, b in zip(starts, cuts, strict=True)]


@dataclass
class RolloutState:
    """One rollout as its ledger entries tell it."""

    rollout_id: str
    env: str
    version: str
    sha256: str
    batches: list[list[str]]
    pause: float | str
    on_failure: str
    started: str
    by: str
    runs: list[str] = field(default_factory=list)
    done: int = 0
    """Batches played successfully, from the first: the next batch's index."""
    switched: list[str] = field(default_factory=list)
    """Hosts this rollout switched to its release (in order), still there as far as it knows."""
    waiting_for: str = ""
    """``approval`` (a pause for a signed continue), ``decision`` (a failure kept): nothing moves
    until a signed continue or a rollback; ``""``: not waiting."""
    continued: set[int] = field(default_factory=set)
    """Indexes of the batches after which a signed continue was given (-1: before the first)."""
    analyses: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    finished: str = ""
    """``complete``, ``rolled_back`` (or another end status); ``""`` while the rollout is open."""

    @property
    def open(self) -> bool:
        """True until the rollout completed or was unwound."""
        return not self.finished

    @property
    def next_batch(self) -> int | None:
        """The index of the batch to play next (None: none left)."""
        return self.done if self.done < len(self.batches) else None

    def hosts_in_play(self) -> list[str]:
        """Hosts that may run the release: those switched, then the batch it was playing (a run
        killed mid-batch may have switched some of them without recording it)."""
        doubt = self.batches[self.done] if self.next_batch is not None else []
        return [*self.switched, *(h for h in doubt if h not in self.switched)]

    def hosts_to_go(self) -> list[str]:
        """Hosts of the batches not played successfully yet."""
        return [h for batch in self.batches[self.done :] for h in batch]

    def status(self, running: bool) -> str:
        """``running`` (a live run holds the lock), ``waiting for approval|decision``,
        ``interrupted`` (its run ended without finishing it), or how it finished."""
        if self.finished:
            return self.finished
        if running:
            return "running"
        if self.waiting_for:
            return f"waiting for {self.waiting_for}"
        return "interrupted"

    def to_dict(self, running: bool = False) -> dict[str, Any]:
        """JSON-ready form (``relkit status``)."""
        return {
            "rollout_id": self.rollout_id,
            "env": self.env,
            "version": self.version,
            "sha256": self.sha256,
            "status": self.status(running),
            "batches": self.batches,
            "done": self.done,
            "next_batch": self.next_batch,
            "switched": self.switched,
            "waiting_for": self.waiting_for,
            "pause": self.pause,
            "on_failure": self.on_failure,
            "started": self.started,
            "by": self.by,
            "runs": self.runs,
            "last_analysis": self.analyses[-1] if self.analyses else None,
            "reason": self.reason,
        }


def rollouts(entries: Iterable[Entry]) -> dict[str, RolloutState]:
    """Per environment, its latest rollout (open or not), read from the ledger's rollout entries."""
    latest: dict[str, RolloutState] = {}
    for e in entries:
        advance(latest, e)
    return latest


def advance(latest: dict[str, RolloutState], e: Entry) -> None:
    """Move ``latest`` (environment → its latest rollout) by one ledger entry: a new rollout
    replaces the environment's, another rollout entry moves the rollout it names."""
    if not e.kind.startswith("rollout."):
        return
    data: Mapping[str, Any] = e.data
    if e.kind == "rollout.started":
        latest[e.env] = RolloutState(
            rollout_id=str(data.get("rollout_id", e.run_id)),
            env=e.env,
            version=str(data.get("version", "")),
            sha256=str(data.get("sha256", "")),
            batches=[[str(h) for h in batch] for batch in data.get("batches") or []],
            pause=data.get("pause", 0),
            on_failure=str(data.get("on_failure", "rollback")),
            started=e.ts,
            by=str(data.get("by", "")),
            runs=[e.run_id],
        )
        return
    state = latest.get(e.env)
    if state is None or data.get("rollout_id") != state.rollout_id:
        return
    if e.run_id not in state.runs:
        state.runs.append(e.run_id)
    _apply(state, e.kind, data)


def _apply(state: RolloutState, kind: str, data: Mapping[str, Any]) -> None:
    """Move ``state`` by one of its entries."""
    if kind == "rollout.batch":
        for host in data.get("switched") or []:
            if host not in state.switched:
                state.switched.append(str(host))
        if data.get("ok"):
            state.done = max(state.done, int(data.get("index", 0)) + 1)
            state.waiting_for = ""
    elif kind == "rollout.paused":
        state.waiting_for = "approval" if data.get("waiting_for") == "approval" else ""
    elif kind == "rollout.analysis":
        state.analyses.append(dict(data))
    elif kind == "rollout.stopped":
        state.waiting_for, state.reason = "decision", str(data.get("reason", ""))
    elif kind == "rollout.continued":
        state.continued.add(int(data.get("after_batch", -1)))
        state.waiting_for = ""
    elif kind == "rollout.finished":
        state.finished = str(data.get("status", "finished"))
        state.reason = str(data.get("reason", state.reason))
        if state.finished == "rolled_back":
            state.switched = [h for h in state.switched if h not in (data.get("rolled_back") or {})]


def open_rollout(entries: Iterable[Entry], env: str) -> RolloutState | None:
    """The rollout of ``env`` still open (not complete, not unwound), if any."""
    state = rollouts(entries).get(env)
    return state if state is not None and state.open else None


def unfinished_runs(entries: Iterable[Entry]) -> dict[str, RolloutState]:
    """Run id → the rollout it played that did not complete (open, stopped, or unwound): what
    such a run recorded (a batch's smoke pass) speaks for part of the environment only."""
    states: dict[str, RolloutState] = {}
    for e in entries:
        if e.kind == "rollout.started":
            latest: dict[str, RolloutState] = {}
            advance(latest, e)
            states[latest[e.env].rollout_id] = latest[e.env]
        elif (state := states.get(str(e.data.get("rollout_id")))) is not None and e.env == state.env:
            advance({state.env: state}, e)
    return {run: s for s in states.values() if s.finished != "complete" for run in s.runs}


@dataclass(frozen=True)
class Bound:
    """The bounds a Prometheus query's samples must keep."""

    max: float | None = None
    min: float | None = None


def prometheus_verdict(answer: Any, bound: Bound) -> tuple[bool, str, list[dict[str, Any]]]:
    """Judge a Prometheus ``/api/v1/query`` answer (parsed JSON): (passed, why, samples).

    Every sample of a vector (or the scalar) must lie within ``bound``; an error answer, a
    result of another type, no sample or a value that is not a number fails."""
    if not isinstance(answer, Mapping) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, Mapping) else None
        return False, f"the query failed: {error or 'not a Prometheus answer'}", []
    data = answer.get("data")
    kind = data.get("resultType") if isinstance(data, Mapping) else None
    result = data.get("result") if isinstance(data, Mapping) else None
    if kind == "scalar" and isinstance(result, list):
        pairs: list[tuple[dict[str, Any], Any]] = [({}, result)]
    elif kind == "vector" and isinstance(result, list):
        pairs = [(dict(s.get("metric") or {}), s.get("value")) for s in result if isinstance(s, Mapping)]
    else:
        return (
            False,
            f"the query returned a {kind or 'malformed'} result, not an instant vector or scalar",
            [],
        )
    if not pairs:
        return False, "the query returned no sample (no data is not a pass)", []
    samples: list[dict[str, Any]] = []
    bad: list[str] = []
    for metric, value in pairs:
        try:
            number = float(value[1])
        except (TypeError, ValueError, IndexError):
            return False, f"a sample is not a number: {value!r}", samples
        samples.append({"metric": metric, "value": number})
        inside = (bound.max is None or number <= bound.max) and (bound.min is None or number >= bound.min)
        if not inside:  # NaN is never inside
            label = ",".join(f"{k}={v}" for k, v in sorted(metric.items())) or "value"
            bad.append(f"{label} = {number:g}, outside {_bounds(bound)}")
    if bad:
        return False, "out of bounds: " + "; ".join(bad), samples
    return True, f"{len(samples)} sample(s) within bounds", samples


def _bounds(bound: Bound) -> str:
    """``[min, max]`` with an open side shown as such."""
    low = "-inf" if bound.min is None else f"{bound.min:g}"
    high = "+inf" if bound.max is None else f"{bound.max:g}"
    return f"[{low}, {high}]"
