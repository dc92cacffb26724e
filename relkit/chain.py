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


def canonical(entry: Entry) -> bytes:
    """The bytes an entry's hash is computed over."""
    body = [entry.seq, entry.ts, entry.run_id, entry.kind, entry.env, entry.host, entry.data]
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Entry) -> str:
    """sha256(prev_hash || canonical content)."""
    return hashlib.sha256(entry.prev_hash.encode() + canonical(entry)).hexdigest()


def seal(entry: Entry, prev_hash: str) -> Entry:
    """Return ``entry`` chained onto ``prev_hash``."""
    chained = Entry(**{**entry.__dict__, "prev_hash": prev_hash, "hash": ""})
    return Entry(**{**chained.__dict__, "hash": entry_hash(chained)})


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
