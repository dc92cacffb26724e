"""The release ledger: an append-only, hash-chained record in SQLite.

Writers serialise on ``BEGIN IMMEDIATE``, so any number of relkit processes may append at
once; every append reads the chain head inside the same transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from relkit.chain import GENESIS, ChainCheck, Entry, verify
from relkit.errors import BadInput
from relkit.store import locks
from relkit.store.sealing import (
    Appending,
    Draft,
    Sealed,
    checked_import,
    row_entry,
    seal_drafts,
    select_entries,
    stored,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    env TEXT NOT NULL,
    host TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_kind ON entries(kind, env);
"""
INSERT = "INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?)"
HEAD_BYTES = 160
"""The head file's size: its JSON, padded with spaces (a seq and a sha256 need under 110)."""


class Ledger(Appending):
    """A ledger file. Cheap to construct; opens one connection on first use and keeps it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                _retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL"))
                conn.execute("PRAGMA synchronous=FULL")
                _retry_busy(lambda: conn.executescript(SCHEMA))
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def append_many(self, drafts: Sequence[Draft]) -> list[Entry]:
        """Append entries in one transaction (one fsync, one head-file write) and return them."""
        if not drafts:
            return []
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
            sealed = seal_drafts(drafts, (row[0], row[1]) if row else (0, GENESIS))
            conn.executemany(INSERT, [_row(s) for s in sealed])
            self._write_head(sealed[-1].entry)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return [s.entry for s in sealed]

    def load(self, entries: Iterable[Entry]) -> int:
        """Load an export's sealed entries into this empty ledger (refused when not empty, or when
        the chain is broken: nothing is loaded then)."""
        rows = checked_import(entries)
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT count(*) FROM entries").fetchone()[0]:
                raise BadInput(f"import refused: {self.describe()} is not empty (import into a new ledger)")
            conn.executemany(INSERT, [_row(s) for s in stored(rows)])
            if rows:
                self._write_head(rows[-1])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(rows)

    def init(self) -> str:
        """Create the ledger file and its table (SQLite needs no migration yet)."""
        existed = self.path.exists()
        self._connect()
        return f"{self.describe()}: {'ready' if existed else 'created'}"

    def describe(self) -> str:
        """The ledger file."""
        return f"sqlite {self.path}"

    def entries(self, kind: str | None = None, env: str | None = None) -> Iterator[Entry]:
        """Entries in order, optionally filtered by kind prefix and environment."""
        if not self.path.exists():
            return
        sql, args = select_entries("entries", "?", kind, env)
        rows = self._connect().execute(sql, args).fetchall()
        yield from (row_entry(row) for row in rows)

    def head(self) -> tuple[int, str]:
        """The last row's seq and hash; ``(0, "")`` for an empty ledger."""
        if not self.path.exists():
            return 0, ""
        row = self._connect().execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else (0, "")

    @property
    def head_path(self) -> Path:
        """Sidecar file holding the last row's seq and hash: removing tail rows shows."""
        return self.path.with_name(self.path.name + ".head")

    def _write_head(self, entry: Entry) -> None:
        """Overwrite the head file in place, inside the append's transaction: one small write of a
        fixed size (padded), not fsynced (the rows are). After a machine crash it may name an
        earlier row, which verify accepts as long as that row is there."""
        text = json.dumps({"seq": entry.seq, "hash": entry.hash}).ljust(HEAD_BYTES - 1) + "\n"
        fd = os.open(self.head_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.pwrite(fd, text.encode(), 0)
            os.ftruncate(fd, HEAD_BYTES)
        finally:
            os.close(fd)

    def verify(self) -> ChainCheck:
        """Verify the whole chain, then that it still ends where the head file says."""
        entries = list(self.entries())
        check = verify(entries)
        if not check.ok:
            return check
        try:
            head = json.loads(self.head_path.read_text())
        except FileNotFoundError:
            return check if not entries else ChainCheck(False, check.checked, None, "head file is missing")
        except ValueError:
            return ChainCheck(False, check.checked, None, "head file is unreadable")
        seq, hash_ = head.get("seq"), head.get("hash")
        if not isinstance(seq, int) or seq < 1 or seq > len(entries):
            first = len(entries) + 1
            problem = f"rows from {first} on were removed (head file says {seq})"
            return ChainCheck(False, check.checked, first, problem)
        if entries[seq - 1].hash != hash_:
            problem = f"row {seq} is not the row the head file names: the chain was rewritten and re-sealed"
            return ChainCheck(False, check.checked, seq, problem)
        return check


def _retry_busy(action: Callable[[], object], seconds: float = 30) -> None:
    """Run ``action``, retrying while another connection holds the lock (switching to WAL
    answers "database is locked" at once instead of waiting for the busy timeout)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _row(sealed: Sealed) -> tuple[Any, ...]:
    e = sealed.entry
    return (e.seq, e.ts, e.run_id, e.kind, e.env, e.host, sealed.data, e.prev_hash, e.hash)


class SqliteStore(Ledger):
    """The embedded store: ``<state_dir>/ledger.db`` and one lock file per environment."""

    shared = False

    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir / "ledger.db")
        self.state_dir = state_dir

    def hold(self, env: str, run_id: str, action: str, by: str = "") -> AbstractContextManager[locks.Holder]:
        """Hold ``env``'s lock file for the block (see :func:`relkit.store.locks.hold`)."""
        return locks.hold(self.state_dir, env, run_id, action, by)

    def holder(self, env: str) -> locks.Holder | None:
        """Who holds ``env``'s lock file, if anyone."""
        return locks.read_holder(locks.lock_path(self.state_dir, env))

    def break_lock(self, env: str, force: bool = False) -> locks.Holder:
        """Remove ``env``'s stale lock file (any with ``force``)."""
        return locks.break_lock(self.state_dir, env, force)
