"""The ledger's hash chain: pure functions over entries, no I/O.

Each entry's hash covers its own content and the previous entry's hash, so changing,
inserting or removing any row breaks the chain from that row on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    """One ledger row."""

    seq: int
    ts: str
    run_id: str
    kind: str
    env: str
    host: str
    data: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""


def data_json(data: dict[str, Any]) -> str:
    """An entry's data as its hash covers it (and the stores keep it): compact JSON, keys sorted."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(entry: Entry, data_text: str | None = None) -> bytes:
    """The bytes an entry's hash is computed over: the compact JSON list of its fields, data last
    (``data_text``: its :func:`data_json`, when the caller has it already)."""
    fields = [entry.seq, entry.ts, entry.run_id, entry.kind, entry.env, entry.host]
    head = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return f"{head[:-1]},{data_json(entry.data) if data_text is None else data_text}]".encode()


def entry_hash(entry: Entry, data_text: str | None = None) -> str:
    """sha256(prev_hash || canonical content)."""
    return hashlib.sha256(entry.prev_hash.encode() + canonical(entry, data_text)).hexdigest()


def seal(entry: Entry, prev_hash: str, data_text: str | None = None) -> Entry:
    """Return ``entry`` chained onto ``prev_hash``."""
    e = entry
    chained = Entry(e.seq, e.ts, e.run_id, e.kind, e.env, e.host, e.data, prev_hash, "")
    digest = entry_hash(chained, data_text)
    return Entry(e.seq, e.ts, e.run_id, e.kind, e.env, e.host, e.data, prev_hash, digest)


@dataclass(frozen=True)
class ChainCheck:
    """Outcome of :func:`verify`."""

    ok: bool
    checked: int
    bad_seq: int | None = None
    problem: str = ""
    signed_acts: int = 0
    """Signed acts whose signatures were verified too (``relkit ledger verify``)."""
    signer_pins: int = 0
    """Pins of the allowed signers checked (``relkit ledger verify``)."""


def verify(entries: Iterable[Entry]) -> ChainCheck:
    """Check sequence continuity, each row's hash and each row's link to the previous."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainCheck(False, count, expected_seq, f"row {expected_seq} was removed")
        if entry.prev_hash != prev_hash:
            return ChainCheck(False, count, entry.seq, "link to the previous row is broken")
        if entry_hash(entry) != entry.hash:
            return ChainCheck(False, count, entry.seq, "content was changed after it was written")
        prev_hash, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    return ChainCheck(True, count)
