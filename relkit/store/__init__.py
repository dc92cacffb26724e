"""Where the record lives: the ledger and the environment locks, behind one small interface.

A :class:`Store` appends sealed entries to the hash chain, reads and verifies them, and
holds one lock per environment so one deploy or rollback runs at a time. Two backends:
SQLite in the state directory (:mod:`relkit.store.sqlite`, one controller, lock files beside
it) and a shared PostgreSQL (:mod:`relkit.store.postgres`, a team's controllers and CI runners,
locks with leases), chosen by relkit.yml's ``ledger.url`` or ``$RELKIT_LEDGER_URL``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from relkit.chain import ChainCheck, Entry
from relkit.secret_channel import served_value
from relkit.store.locks import Holder
from relkit.store.sealing import Draft

if TYPE_CHECKING:
    from relkit.config import Ledger as LedgerConfig

URL_ENV = "RELKIT_LEDGER_URL"
"""Environment variable naming a shared ledger; it overrides relkit.yml's ``ledger.url``."""


class Store(Protocol):
    """The ledger and the environment locks of one project."""

    shared: bool
    """True when other controllers read and write the same record (PostgreSQL)."""

    def append(
        self,
        kind: str,
        *,
        run_id: str = "",
        env: str = "",
        host: str = "",
        data: dict[str, Any] | None = None,
    ) -> Entry:
        """Append one entry (secrets redacted) and return it sealed."""
        ...

    def append_many(self, drafts: Sequence[Draft]) -> list[Entry]:
        """Append entries in one transaction, in order, and return them sealed."""
        ...

    def entries(self, kind: str | None = None, env: str | None = None) -> Iterator[Entry]:
        """Entries in order, optionally of one kind (``*`` wildcard) and environment."""
        ...

    def head(self) -> tuple[int, str]:
        """The last row's seq and hash (``(0, "")`` when empty): what a signed act follows."""
        ...

    def verify(self) -> ChainCheck:
        """Check the whole hash chain."""
        ...

    def load(self, entries: Iterable[Entry]) -> int:
        """Load sealed entries (an export) into this empty ledger; refuse a broken chain."""
        ...

    def init(self) -> str:
        """Create or migrate the ledger's schema; say what was done."""
        ...

    def describe(self) -> str:
        """Where the record lives, without any password."""
        ...

    def hold(self, env: str, run_id: str, action: str, by: str = "") -> AbstractContextManager[Holder]:
        """Hold ``env``'s lock for the block, or raise :class:`~relkit.errors.Locked` naming the holder."""
        ...

    def holder(self, env: str) -> Holder | None:
        """Who holds ``env``'s lock, if anyone (alive or stale)."""
        ...

    def break_lock(self, env: str, force: bool = False) -> Holder:
        """Remove a stale lock (any lock with ``force``) and return who held it."""
        ...

    def close(self) -> None:
        """Release connections; the store reopens on next use."""
        ...


def ledger_url(config: LedgerConfig | None) -> str | None:
    """The shared ledger's URL: $RELKIT_LEDGER_URL, else relkit.yml's ``ledger.url``. In a play
    relkit runs, $RELKIT_LEDGER_URL comes from relkit's secret channel (it may hold a password,
    so it is kept out of the play's environment)."""
    return os.environ.get(URL_ENV) or served_value(URL_ENV) or (config.url if config is not None else None)


def open_store(state_dir: Path, config: LedgerConfig | None = None) -> Store:
    """The project's store: PostgreSQL when a ledger URL is set, else SQLite in ``state_dir``."""
    url = ledger_url(config)
    if url:
        from relkit.store.postgres import PostgresStore

        return PostgresStore(url, state_dir, config)
    from relkit.store.sqlite import SqliteStore

    return SqliteStore(state_dir)


__all__ = ["URL_ENV", "Draft", "Holder", "Store", "open_store"]
