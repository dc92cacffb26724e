"""The fleet as witness of the ledger (pure, no I/O).

At every switch a host appends to its own ``.relkit/history.jsonl`` the run, the release and
the controller's ledger head (``seq:sha256``) when that run began. The ledger can be deleted,
truncated or rewritten on the controller, but not on every host at once: comparing the two
finds

- a ledger row a host witnessed that is missing (a deleted or truncated ledger) or different
  (a rewritten one);
- a switch a host made that the ledger does not record;
- a switch the ledger records that the host's history does not have;
- a passing ``smoke.result`` for a release that was not live on a host it names, judged by the
  host's last switch witnessed before that row (an appended, forged result).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relkit.chain import Entry
from relkit.hostrules import HISTORY_KEEP

NEVER = 1 << 62
"""A row number past any ledger's end: nothing of a host's history can be checked."""


@dataclass(frozen=True)
class Witnessed:
    """One line of a host's history that names the ledger head it followed."""

    seq: int
    hash: str
    run_id: str
    version: str
    action: str
    at: str


def witnessed(line: Mapping[str, Any]) -> Witnessed | None:
    """The ledger head a history line names (None for a line without one: an older relkit's)."""
    head = str(line.get("ledger_head") or "")
    seq, _, digest = head.partition(":")
    if not seq.isdigit() or not digest:
        return None
    return Witnessed(
        int(seq),
        digest,
        str(line.get("run_id") or ""),
        str(line.get("version") or ""),
        str(line.get("action") or ""),
        str(line.get("at") or ""),
    )


@dataclass
class WitnessCheck:
    """What the hosts of one environment witnessed against what the ledger says."""

    env: str
    hosts: dict[str, int] = field(default_factory=dict)
    """Host → history lines naming a ledger head that were checked."""
    unreachable: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No host contradicts the ledger (unreachable hosts are reported apart)."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.__dict__, "ok": self.ok}


def _run_of(entry: Entry) -> str:
    """The run that made a ``host.switched`` row's switch (a found-live row names another)."""
    return str(entry.data.get("switched_by_run") or entry.run_id)


def check(
    env: str, entries: Sequence[Entry], histories: Mapping[str, Sequence[Mapping[str, Any]]]
) -> WitnessCheck:
    """Compare the ledger ``entries`` with each host's ``histories`` (host → history lines)."""
    result = WitnessCheck(env)
    by_seq = {e.seq: e for e in entries}
    rows = len(entries)
    switched = [e for e in entries if e.kind == "host.switched" and e.env == env]
    for host, lines in sorted(histories.items()):
        seen = [w for line in lines if (w := witnessed(line)) is not None]
        result.hosts[host] = len(seen)
        ledger_runs = {_run_of(e) for e in switched if e.host == host}
        for w in seen:
            row = by_seq.get(w.seq)
            when = f"at {w.at} ({w.action} to {w.version}, run {w.run_id or '?'})"
            if row is None:
                result.problems.append(
                    f"{host} witnessed ledger row {w.seq} {when}, but the ledger has {rows} rows: "
                    "it was deleted or truncated"
                )
            elif row.hash != w.hash:
                result.problems.append(
                    f"{host} witnessed ledger row {w.seq} with hash {w.hash[:12]}… {when}; the ledger's row "
                    f"{w.seq} has {row.hash[:12]}…: the ledger was rewritten"
                )
            if w.run_id and w.run_id not in ledger_runs:
                result.problems.append(f"{host} switched {when}; the ledger records no such switch")
        covered_from = _covered_from(lines, seen)
        host_runs = {str(line.get("run_id") or "") for line in lines}
        for entry in switched:
            if entry.host == host and entry.seq > covered_from and _run_of(entry) not in host_runs:
                result.problems.append(
                    f"ledger row {entry.seq} says run {_run_of(entry)} switched {host} to "
                    f"{entry.data.get('version')}; {host}'s history has no such switch"
                )
        result.problems.extend(_smoke_problems(env, entries, host, seen, covered_from))
    return result


def _covered_from(lines: Sequence[Mapping[str, Any]], seen: Sequence[Witnessed]) -> int:
    """The ledger row after which a host's history is complete: rows before its first witnessed
    line cannot be checked when older lines name no ledger head (an older relkit wrote them) or
    the history was trimmed to its last :data:`HISTORY_KEEP` lines."""
    if lines and (witnessed(lines[0]) is None or len(lines) >= HISTORY_KEEP):
        return seen[0].seq if seen else NEVER
    return 0


def _smoke_problems(
    env: str, entries: Sequence[Entry], host: str, seen: Sequence[Witnessed], covered_from: int
) -> list[str]:
    """Passing smoke results naming ``host`` for a release the host's history says was not live."""
    problems = []
    for entry in entries:
        if entry.kind != "smoke.result" or entry.env != env or not entry.data.get("passed"):
            continue
        if host not in (entry.data.get("hosts") or ()) or entry.seq <= covered_from:
            continue
        if entry.data.get("version") is None:  # a rollback to "the previous release": no claim
            continue
        before = [w for w in seen if w.seq < entry.seq]
        live = before[-1].version if before else None
        if live != entry.data.get("version"):
            problems.append(
                f"ledger row {entry.seq} says {entry.data.get('version')} passed its smoke test on {host}, "
                f"but {host}'s history has {live or 'no release'} live then"
            )
    return problems
