"""Where the record lives: the ledger and the environment locks, behind one small interface.

A :class:`Store` appends sealed entries to the hash chain, reads and verifies them, and
holds one lock per environment so one deploy or rollback runs at a time. SQLite in the
state directory (:mod:`relkit.store.sqlite`, with lock files beside it) is the one backend
today; a shared backend (e.g. PostgreSQL) is one new module returned by :func:`open_store`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from relkit.chain import ChainCheck, Entry
from relkit.store.locks import Holder


class Store(Protocol):
    """The ledger and the environment locks of one project."""

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

    def entries(self, kind: str | None = None, env: str | None = None) -> Iterator[Entry]:
        """Entries in order, optionally of one kind (``*`` wildcard) and environment."""
        ...

    def head(self) -> tuple[int, str]:
        """The last row's seq and hash (``(0, "")`` when empty): what a signed act follows."""
        ...

    def verify(self) -> ChainCheck:
        """Check the whole hash chain."""
        ...

    def hold(self, env: str, run_id: str, action: str) -> AbstractContextManager[Holder]:
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


def open_store(state_dir: Path) -> Store:
    """The store of a state directory (SQLite ledger and lock files today)."""
    from relkit.store.sqlite import SqliteStore

    return SqliteStore(state_dir)


__all__ = ["Holder", "Store", "open_store"]
