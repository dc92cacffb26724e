"""One deploy or rollback at a time per environment: a lock file that names its holder.

The file is created with O_EXCL, so exactly one run wins; it is removed on every exit path
of that run. A holder whose process is gone (same machine) is reported as stale and can be
broken with ``relkit unlock``. A shared ledger's locks (:mod:`relkit.store.postgres`) hold a
lease instead: a holder whose lease lapsed is stale wherever it ran.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from relkit.errors import BadInput, Locked


@dataclass(frozen=True)
class Holder:
    """Who holds a lock."""

    user: str
    host: str
    pid: int
    started: str
    run_id: str
    action: str
    lease_until: str = ""
    """When the holder's lease lapses unless renewed (shared ledgers only; UTC, ISO 8601)."""
    lapsed: bool = False
    """The lease lapsed: the holder stopped renewing it (killed, or lost the ledger)."""

    @property
    def alive(self) -> bool:
        """False when the holder's lease lapsed, or it ran on this machine and its process is gone."""
        if self.lease_until:
            return not self.lapsed
        if self.pid <= 0:
            return False
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        """One line naming the holder."""
        if self.alive:
            state = ""
        elif self.lease_until:
            state = f" (STALE: its lease lapsed at {self.lease_until})"
        else:
            state = " (STALE: process is gone)"
        return (
            f"{self.action} run {self.run_id} by {self.user}@{self.host} pid {self.pid} "
            f"since {self.started}{state}"
        )


def lock_path(state_dir: Path, env: str) -> Path:
    """The lock file of an environment."""
    return state_dir / "locks" / f"{env}.lock"


def read_holder(path: Path) -> Holder | None:
    """The current holder, or None when unlocked. An unreadable file is a stale holder."""
    try:
        data = json.loads(path.read_text())
        return Holder(**{**data, "pid": int(data["pid"])})
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError):
        return Holder("?", socket.gethostname(), 0, "?", "?", "unreadable lock file")


@contextlib.contextmanager
def hold(state_dir: Path, env: str, run_id: str, action: str, by: str = "") -> Iterator[Holder]:
    """Take the environment's lock for the duration of the block or raise :class:`Locked`."""
    path = lock_path(state_dir, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = Holder(
        user=by or getpass.getuser(),
        host=socket.gethostname(),
        pid=os.getpid(),
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        run_id=run_id,
        action=action,
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise locked(env, read_holder(path)) from None
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(me), handle)
    try:
        yield me
    finally:
        with contextlib.suppress(FileNotFoundError):
            if (current := read_holder(path)) and current.run_id == run_id:
                path.unlink()


def locked(env: str, holder: Holder | None) -> Locked:
    """The error of a run that found ``env`` locked by ``holder`` (exit 6)."""
    detail = holder.describe() if holder else "a run that just finished; retry"
    unlock = f"relkit unlock --env {env} --by NAME (--key KEY where acts are signed)"
    hint = "" if holder is None or holder.alive else f"; break it: {unlock}"
    return Locked(f"environment {env!r} is locked by {detail}{hint}")


def refuse_break(env: str, holder: Holder | None, force: bool) -> Holder:
    """``holder``, when ``relkit unlock`` may break its lock; else why not."""
    if holder is None:
        raise BadInput(f"environment {env!r} is not locked")
    if holder.alive and not force:
        raise Locked(
            f"environment {env!r} is held by a live run: {holder.describe()}; "
            "use --force only if you know that run is gone"
        )
    return holder


def break_lock(state_dir: Path, env: str, force: bool = False) -> Holder:
    """Remove a stale lock (or any lock with ``force``) and return who held it."""
    path = lock_path(state_dir, env)
    holder = refuse_break(env, read_holder(path), force)
    path.unlink(missing_ok=True)
    return holder
