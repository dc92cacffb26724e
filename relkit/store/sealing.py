"""Turning drafts into sealed rows, the same way in every backend; checking an import's chain."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from relkit import secrets
from relkit.chain import Entry, data_json, seal, verify
from relkit.errors import BadInput


class Draft(NamedTuple):
    """An entry to append, before the store gives it its place in the chain."""

    kind: str
    run_id: str = ""
    env: str = ""
    host: str = ""
    data: dict[str, Any] | None = None


def utcnow() -> str:
    """Current UTC time, ISO 8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Sealed(NamedTuple):
    """A sealed entry and its data as stored (:func:`relkit.chain.data_json`)."""

    entry: Entry
    data: str


def seal_drafts(drafts: Sequence[Draft], head: tuple[int, str], ts: str | None = None) -> list[Sealed]:
    """``drafts`` chained after ``head`` (seq, hash), secrets redacted before sealing."""
    seq, prev = head
    sealed = []
    stamp = ts or utcnow()
    for draft in drafts:
        # no entry may hold a secret value: redacted before it is sealed (relkit.secrets)
        payload = secrets.redact(json.loads(json.dumps(draft.data or {}, default=str)))
        text = data_json(payload)
        seq += 1
        entry = seal(Entry(seq, stamp, draft.run_id, draft.kind, draft.env, draft.host, payload), prev, text)
        sealed.append(Sealed(entry, text))
        prev = entry.hash
    return sealed


def stored(entries: Iterable[Entry]) -> list[Sealed]:
    """Entries (e.g. an import's) with their data as stored."""
    return [Sealed(e, data_json(e.data)) for e in entries]


def checked_import(entries: Iterable[Entry]) -> list[Entry]:
    """``entries`` when they form an intact chain from row 1; else :class:`BadInput` naming the row."""
    rows = list(entries)
    check = verify(rows)
    if not check.ok:
        raise BadInput(f"import refused: row {check.bad_seq}: {check.problem}; nothing was loaded")
    return rows


def select_entries(table: str, mark: str, kind: str | None, env: str | None) -> tuple[str, list[str]]:
    """The query of :meth:`Store.entries` on ``table`` (``mark``: the driver's placeholder):
    oldest first, optionally of one kind (``*`` wildcard) and environment."""
    clauses, args = [], []
    if kind:
        clauses.append(f"kind LIKE {mark}")
        args.append(kind.replace("*", "%"))
    if env:
        clauses.append(f"env = {mark}")
        args.append(env)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return (
        f"SELECT seq, ts, run_id, kind, env, host, data, prev_hash, hash FROM {table}{where} ORDER BY seq",
        args,
    )


def row_entry(row: Sequence[Any]) -> Entry:
    """An entry from a stored row (seq … hash); unparseable data is kept, and fails verify."""
    seq, ts, run_id, kind, env, host, data, prev_hash, hash_ = row
    try:
        payload = json.loads(data)
    except json.JSONDecodeError:
        payload = {"_unreadable": data}
    return Entry(int(seq), ts, run_id, kind, env, host, payload, prev_hash, hash_)


class Appending(ABC):
    """``append`` of a store, as a batch of one (:meth:`append_many` is the store's own)."""

    @abstractmethod
    def append_many(self, drafts: Sequence[Draft]) -> list[Entry]:
        """Append entries in one transaction, in order, and return them sealed."""

    def append(
        self,
        kind: str,
        *,
        run_id: str = "",
        env: str = "",
        host: str = "",
        data: dict[str, Any] | None = None,
    ) -> Entry:
        """Append one entry and return it sealed."""
        return self.append_many([Draft(kind, run_id, env, host, data)])[0]
