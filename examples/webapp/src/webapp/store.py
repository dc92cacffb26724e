"""SQLite storage: numbered SQL migrations tracked in PRAGMA user_version, and the notes."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_MIGRATION = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True, order=True)
class Migration:
    """One ``NNNN_name.sql`` file; applying it moves the schema to ``number``."""

    number: int
    name: str
    sql: str


def discover(directory: Path) -> list[Migration]:
    """The migrations in ``directory``, numbered 1..N without gaps."""
    found = sorted(
        Migration(int(m.group(1)), p.stem, p.read_text(encoding="utf-8"))
        for p in directory.glob("*.sql")
        if (m := _MIGRATION.fullmatch(p.name))
    )
    numbers = [m.number for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations in {directory} must be numbered 1..N, got {numbers}")
    return found


@contextmanager
def connect(db: Path, *, create: bool = False) -> Iterator[sqlite3.Connection]:
    """Open ``db`` in autocommit mode, closed on exit; without ``create`` it must exist."""
    mode = "rwc" if create else "rw"
    uri = f"{db.resolve().as_uri()}?mode={mode}"
    con = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10)
    try:
        con.row_factory = sqlite3.Row
        yield con
    finally:
        con.close()


def schema_version(con: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new one)."""
    return int(con.execute("PRAGMA user_version").fetchone()[0])


@contextmanager
def _transaction(con: sqlite3.Connection) -> Iterator[None]:
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _statements(sql: str) -> Iterator[str]:
    buf = ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""
    if any(ln.strip() and not ln.strip().startswith("--") for ln in buf.splitlines()):
        raise ValueError(f"incomplete SQL statement: {buf.strip()!r}")


def migrate(con: sqlite3.Connection, migrations: tuple[Migration, ...]) -> list[Migration]:
    """Apply the migrations the database lacks, each in its own transaction; return them."""
    applied = []
    for migration in migrations:
        with _transaction(con):
            if schema_version(con) >= migration.number:
                continue
            for statement in _statements(migration.sql):
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {migration.number:d}")
        applied.append(migration)
    return applied


def list_notes(
    con: sqlite3.Connection, *, with_author: bool, author: str | None = None
) -> list[dict[str, Any]]:
    """All notes, oldest first; optionally only those by ``author``."""
    columns = "id, body, created, author" if with_author else "id, body, created"
    if with_author and author is not None:
        rows = con.execute(f"SELECT {columns} FROM notes WHERE author = ? ORDER BY id", (author,))
    else:
        rows = con.execute(f"SELECT {columns} FROM notes ORDER BY id")
    return [dict(row) for row in rows]


def add_note(con: sqlite3.Connection, body: str, author: str | None = None) -> dict[str, Any]:
    """Insert a note (with ``author`` when given) and return it."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    note: dict[str, Any] = {"body": body, "created": created}
    if author is not None:
        note["author"] = author
    cols = ", ".join(note)
    marks = ", ".join("?" * len(note))
    cur = con.execute(f"INSERT INTO notes ({cols}) VALUES ({marks})", tuple(note.values()))
    return {"id": cur.lastrowid, **note}
