"""The shared store: the ledger and the environment locks in PostgreSQL (psycopg 3).

Every controller of a team (terminals, CI runners, the health scheduler) appends to one hash
chain: writers serialise on a transaction-scoped advisory lock, read the head and insert
their rows in the same transaction, so concurrent appends neither leave gaps nor fork the
chain (``seq`` is the primary key besides). Rows cannot be updated, deleted or truncated
through relkit's schema (triggers refuse it), and every controller remembers the last row it
wrote (``<state_dir>/ledger-seen.json``): ``verify`` shows a rewritten or truncated tail to any
controller that saw it.

An environment's lock is a row with a lease: the holder renews it every third of
``ledger.lease_seconds`` from a thread of its own; a holder that stops renewing (killed, or cut
off from the database) is STALE once its lease lapses, wherever it ran. The schema is created
and migrated by ``relkit ledger init`` (:data:`MIGRATIONS`).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from relkit import secrets
from relkit.chain import GENESIS, ChainCheck, Entry, verify
from relkit.errors import BadInput, LedgerLost, LedgerUnavailable, RelkitError
from relkit.hostrules import atomic_write
from relkit.secret_channel import served_value
from relkit.store.locks import Holder, locked, refuse_break
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

if TYPE_CHECKING:
    import psycopg

    from relkit.config import Ledger as LedgerConfig

PASSWORD_ENV = "RELKIT_LEDGER_PASSWORD"
"""The shared ledger's password when relkit.yml names no ``ledger.password_env`` (a secret:
redacted everywhere, kept out of plays' environments)."""
SEEN_EVERY = 1.0
"""Seconds between two writes of ``ledger-seen.json`` by one process."""
APPEND_LOCK = 0x72656C6B6974  # "relkit": the advisory lock appends serialise on

MIGRATIONS: tuple[str, ...] = (
    # 1: the chain, the locks, and the guard that keeps the chain append-only
    """
    CREATE TABLE relkit_meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE relkit_entries (
        seq bigint PRIMARY KEY,
        ts text NOT NULL,
        run_id text NOT NULL,
        kind text NOT NULL,
        env text NOT NULL,
        host text NOT NULL,
        data text NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL UNIQUE
    );
    CREATE INDEX relkit_entries_kind ON relkit_entries (kind, env);
    CREATE TABLE relkit_locks (
        env text PRIMARY KEY,
        principal text NOT NULL,
        host text NOT NULL,
        pid integer NOT NULL,
        started text NOT NULL,
        run_id text NOT NULL,
        action text NOT NULL,
        lease_until timestamptz NOT NULL
    );
    CREATE FUNCTION relkit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the relkit ledger is append-only: % refused', TG_OP;
    END $$;
    CREATE TRIGGER relkit_entries_append_only BEFORE UPDATE OR DELETE ON relkit_entries
        FOR EACH ROW EXECUTE FUNCTION relkit_append_only();
    CREATE TRIGGER relkit_entries_no_truncate BEFORE TRUNCATE ON relkit_entries
        FOR EACH STATEMENT EXECUTE FUNCTION relkit_append_only();
    INSERT INTO relkit_meta VALUES ('ledger_id', md5(random()::text || clock_timestamp()::text));
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

COLUMNS = "seq, ts, run_id, kind, env, host, data, prev_hash, hash"
HEAD = "SELECT seq, hash FROM relkit_entries ORDER BY seq DESC LIMIT 1"
ISO = "'YYYY-MM-DD\"T\"HH24:MI:SS+00:00'"
"""PostgreSQL's to_char pattern of an ISO 8601 UTC time (seconds)."""


def redacted_url(url: str) -> str:
    """``url`` as relkit shows it: scheme, user, host, port and database; never a password."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{user}{parts.hostname or ''}{port}{parts.path}"


class PostgresStore(Appending):
    """The ledger and locks of a team, in the PostgreSQL database ``url`` names."""

    shared = True

    def __init__(self, url: str, state_dir: Path, config: LedgerConfig | None = None) -> None:
        self.url, self.state_dir = url, state_dir
        self.password_env = (config.password_env if config else None) or PASSWORD_ENV
        self.lease_seconds = config.lease_seconds if config else 30
        # $RELKIT_LEDGER_URL may carry a password: like the password variable's, never shown
        secrets.register([urlsplit(url).password, os.environ.get(self.password_env)])
        self._conn: psycopg.Connection[Any] | None = None
        self._ledger_id = ""
        self._reached = False
        self._saw_entry: tuple[int, str] = (0, "")
        self._saw_written = float("-inf")
        """This process used the ledger already: losing it now is losing it mid-run."""

    # -- connection and schema -------------------------------------------------------------

    def describe(self) -> str:
        """The database, without any password."""
        return redacted_url(self.url)

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection (autocommit; explicit transactions where it matters)."""
        try:
            import psycopg
        except ImportError:
            raise BadInput(
                "ledger.url: a PostgreSQL ledger needs psycopg 3: pip install 'relkit[postgres]'"
            ) from None
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": 10, "application_name": "relkit"}
        password = os.environ.get(self.password_env) or served_value(self.password_env)
        if password:
            kwargs["password"] = password
        try:
            return psycopg.connect(self.url, **kwargs)
        except psycopg.Error as exc:
            raise self.unavailable(exc) from None

    def unavailable(self, exc: Exception) -> LedgerUnavailable:
        """The error of a shared ledger out of reach (the reason, never a password): before this
        process used it, nothing started; after, the run stops before its next switch."""
        text = str(exc).strip()
        reason = secrets.redact_text(text.splitlines()[0] if text else type(exc).__name__)
        where = self.describe()
        if self._reached:
            return LedgerLost(
                f"ledger: the shared ledger {where} was lost during this run ({reason}): relkit stops "
                "before any switch it cannot record, so every host keeps a complete release (the one it "
                "had, unless its switch was already recorded). Once the database is back, `relkit status` "
                "shows this run as interrupted and `relkit ledger verify` checks the record"
            )
        return LedgerUnavailable(
            f"ledger: the shared ledger {where} cannot be reached ({reason}); nothing can be recorded, so "
            "nothing was started — check the database and RELKIT_LEDGER_URL / ledger.url"
        )

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = self.connect()
            try:
                version = _schema_version(conn)
            except BaseException:
                conn.close()
                raise
            if version != SCHEMA_VERSION:
                conn.close()
                raise BadInput(self._schema_problem(version))
            self._conn, self._reached = conn, True
        return self._conn

    def _schema_problem(self, version: int) -> str:
        where = self.describe()
        if version == 0:
            return f"ledger: {where} has no relkit ledger yet: create it with `relkit ledger init`"
        if version < SCHEMA_VERSION:
            return (
                f"ledger: {where} has schema v{version}, this relkit needs v{SCHEMA_VERSION}: "
                "migrate it with `relkit ledger init` (every controller then needs this relkit)"
            )
        return (
            f"ledger: {where} has schema v{version}, newer than this relkit's (v{SCHEMA_VERSION}): "
            "upgrade relkit"
        )

    def init(self) -> str:
        """Create the schema, or migrate it to :data:`SCHEMA_VERSION`; say what was done."""
        import psycopg

        with contextlib.closing(self.connect()) as conn:
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
                    found = _schema_version(conn)
                    if found > SCHEMA_VERSION:
                        raise BadInput(self._schema_problem(found))
                    for migration in MIGRATIONS[found:]:
                        conn.execute(migration)
                    if found < SCHEMA_VERSION:
                        conn.execute(
                            "INSERT INTO relkit_meta VALUES ('schema_version', %s) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            (str(SCHEMA_VERSION),),
                        )
            except psycopg.Error as exc:
                raise BadInput(f"ledger init: {self.describe()}: {exc}".strip()) from None
        if found == SCHEMA_VERSION:
            return f"{self.describe()}: schema v{SCHEMA_VERSION}, up to date"
        if found == 0:
            return f"{self.describe()}: created (schema v{SCHEMA_VERSION})"
        return f"{self.describe()}: migrated from v{found} to v{SCHEMA_VERSION}"

    def close(self) -> None:
        """Write what this controller saw last, close the connection (it reopens on next use)."""
        if self._conn is not None and not self._conn.closed:
            self._write_seen()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self, work: Any) -> Any:
        """``work(conn)``; a lost connection becomes :class:`LedgerUnavailable` (and is dropped)."""
        import psycopg

        conn = self._connect()
        try:
            return work(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self.close()
            raise self.unavailable(exc) from None

    # -- the chain ---------------------------------------------------------------------------

    def append_many(self, drafts: Sequence[Draft]) -> list[Entry]:
        """Append entries in one transaction, after whatever any controller appended last."""
        if not drafts:
            return []

        def work(conn: psycopg.Connection[Any]) -> list[Entry]:
            # pipelined: BEGIN, the lock and the head in one round trip, the rows and COMMIT in
            # another; the head is read by a statement after the lock's, so it is the newest
            with conn.pipeline(), conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
                row = conn.execute(HEAD).fetchone()
                sealed = seal_drafts(drafts, (row[0], row[1]) if row else (0, GENESIS))
                _insert(conn, sealed)
            return [s.entry for s in sealed]

        sealed: list[Entry] = self._run(work)
        self._saw(sealed[-1])
        return sealed

    def load(self, entries: Iterable[Entry]) -> int:
        """Load an export's sealed entries into this empty ledger (refused when it is not empty, or
        when the chain is broken: nothing is loaded then)."""
        rows = checked_import(entries)

        def work(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
                if conn.execute("SELECT 1 FROM relkit_entries LIMIT 1").fetchone():
                    raise BadInput(
                        f"import refused: {self.describe()} is not empty (import into a new ledger)"
                    )
                _insert(conn, stored(rows))

        self._run(work)
        if rows:
            self._saw(rows[-1])
        return len(rows)

    def entries(self, kind: str | None = None, env: str | None = None) -> Iterator[Entry]:
        """Entries in order, optionally of one kind (``*`` wildcard) and environment."""
        sql, args = select_entries("relkit_entries", "%s", kind, env)
        rows = self._run(lambda conn: conn.execute(sql, args).fetchall())
        yield from (row_entry(row) for row in rows)

    def head(self) -> tuple[int, str]:
        """The last row's seq and hash; ``(0, "")`` for an empty ledger."""
        row = self._run(
            lambda conn: conn.execute(
                "SELECT seq, hash FROM relkit_entries ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        )
        return (int(row[0]), str(row[1])) if row else (0, "")

    def verify(self) -> ChainCheck:
        """Verify the whole chain, then that it still holds the last row this controller wrote."""
        entries = list(self.entries())
        check = verify(entries)
        if not check.ok:
            return check
        seen = self._seen()
        if seen is None:
            return check
        seq, hash_ = seen
        if seq > len(entries):
            return ChainCheck(
                False,
                check.checked,
                len(entries) + 1,
                f"rows from {len(entries) + 1} on were removed (this controller wrote row {seq})",
            )
        if entries[seq - 1].hash != hash_:
            return ChainCheck(
                False,
                check.checked,
                seq,
                f"row {seq} is not the one this controller wrote: the chain was rewritten and re-sealed",
            )
        return check

    @property
    def seen_path(self) -> Path:
        """The last row this controller wrote or loaded, per ledger: a witness of the tail."""
        return self.state_dir / "ledger-seen.json"

    def _id(self) -> str:
        if not self._ledger_id:
            row = self._run(
                lambda conn: conn.execute("SELECT value FROM relkit_meta WHERE key = 'ledger_id'").fetchone()
            )
            self._ledger_id = str(row[0]) if row else "?"
        return self._ledger_id

    def _saw(self, entry: Entry, now: float | None = None) -> None:
        """Remember ``entry`` as the last row this controller wrote: in memory at once, in
        ``ledger-seen.json`` at most every :data:`SEEN_EVERY` seconds and on :meth:`close` (not
        fsynced: a witness that may lag behind the ledger, never lead it)."""
        if entry.seq > self._saw_entry[0]:
            self._saw_entry = (entry.seq, entry.hash)
        moment = time.monotonic() if now is None else now
        if moment - self._saw_written >= SEEN_EVERY:
            self._write_seen()
            self._saw_written = moment

    def _write_seen(self) -> None:
        seq, hash_ = self._saw_entry
        if not seq:
            return
        with contextlib.suppress(OSError, RelkitError):
            seen = self._seen()
            if seen is None or seen[0] <= seq:
                self.state_dir.mkdir(parents=True, exist_ok=True)
                text = json.dumps({"ledger": self._id(), "seq": seq, "hash": hash_})
                atomic_write(self.seen_path, text, sync=False)

    def _seen(self) -> tuple[int, str] | None:
        try:
            seen = json.loads(self.seen_path.read_text())
            if seen.get("ledger") != self._id():
                return None
            return int(seen["seq"]), str(seen["hash"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # -- the environment locks -------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self, env: str, run_id: str, action: str, by: str = "") -> Iterator[Holder]:
        """Hold ``env``'s lock (a row with a lease, renewed while the block runs) or raise
        :class:`~relkit.errors.Locked` naming the holder, STALE when its lease lapsed."""
        me = (by or getpass.getuser(), socket.gethostname(), os.getpid(), run_id, action)

        def take(conn: psycopg.Connection[Any]) -> Any:
            return conn.execute(
                "INSERT INTO relkit_locks (env, principal, host, pid, started, run_id, action, lease_until) "
                f"VALUES (%s, %s, %s, %s, to_char(now() AT TIME ZONE 'UTC', {ISO}),"
                " %s, %s, now() + make_interval(secs => %s)) ON CONFLICT (env) DO NOTHING RETURNING env",
                (env, *me[:3], run_id, action, self.lease_seconds),
            ).fetchone()

        if self._run(take) is None:
            raise locked(env, self.holder(env))
        holder = self.holder(env)
        assert holder is not None
        lease = _Lease(self, env, run_id)
        lease.start()
        try:
            yield holder
        finally:
            lease.stop()
            with contextlib.suppress(RelkitError):
                self._run(
                    lambda conn: conn.execute(
                        "DELETE FROM relkit_locks WHERE env = %s AND run_id = %s", (env, run_id)
                    )
                )

    def holder(self, env: str) -> Holder | None:
        """Who holds ``env``'s lock, if anyone, and whether its lease lapsed."""
        row = self._run(
            lambda conn: conn.execute(
                "SELECT principal, host, pid, started, run_id, action, "
                f"to_char(lease_until AT TIME ZONE 'UTC', {ISO}), lease_until < now() "
                "FROM relkit_locks WHERE env = %s",
                (env,),
            ).fetchone()
        )
        return Holder(*row) if row else None

    def renew(self, env: str, run_id: str, conn: psycopg.Connection[Any]) -> bool:
        """Extend ``run_id``'s lease on ``env``; False when it no longer holds the lock."""
        cursor = conn.execute(
            "UPDATE relkit_locks SET lease_until = now() + make_interval(secs => %s) "
            "WHERE env = %s AND run_id = %s",
            (self.lease_seconds, env, run_id),
        )
        return cursor.rowcount == 1

    def break_lock(self, env: str, force: bool = False) -> Holder:
        """Remove a lock whose lease lapsed (any lock with ``force``) and return who held it."""
        holder = refuse_break(env, self.holder(env), force)
        self._run(
            lambda conn: conn.execute(
                "DELETE FROM relkit_locks WHERE env = %s AND run_id = %s", (env, holder.run_id)
            )
        )
        return holder


class _Lease(threading.Thread):
    """Renews a held lock's lease every third of its length until stopped, on its own connection.
    A renewal that fails is retried at the next tick (the lease lapses if none succeeds in time);
    a lock no longer this run's (broken by ``relkit unlock --force``) is not renewed again."""

    def __init__(self, store: PostgresStore, env: str, run_id: str) -> None:
        super().__init__(name=f"relkit-lease-{env}", daemon=True)
        self.store, self.env, self.run_id = store, env, run_id
        self.halt = threading.Event()

    def run(self) -> None:
        conn = None
        while not self.halt.wait(self.store.lease_seconds / 3):
            try:
                conn = conn if conn is not None and not conn.closed else self.store.connect()
                if not self.store.renew(self.env, self.run_id, conn):
                    break
            except Exception:  # the database is out of reach: try again at the next tick
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=15)


def _schema_version(conn: psycopg.Connection[Any]) -> int:
    """The schema's version (0: no relkit schema in this database)."""
    exists = conn.execute("SELECT to_regclass('relkit_meta') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT value FROM relkit_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def _insert(conn: psycopg.Connection[Any], rows: Sequence[Sealed]) -> None:
    """One INSERT for the whole batch (the columns as arrays, unnested by the server)."""
    columns: list[list[Any]] = [[] for _ in range(9)]
    for e, data in rows:
        for column, value in zip(
            columns, (e.seq, e.ts, e.run_id, e.kind, e.env, e.host, data, e.prev_hash, e.hash), strict=True
        ):
            column.append(value)
    conn.execute(
        f"INSERT INTO relkit_entries ({COLUMNS}) SELECT * FROM unnest("
        "%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
        "%s::text[], %s::text[])",
        columns,
    )
