"""Shared fixtures for integration tests that run against real SSH test hosts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sshhosts import SshHostPool


@pytest.fixture
def ssh_pool_factory(tmp_path: Path) -> Iterator[Callable[..., SshHostPool]]:
    """Start SSH test host pools under tmp_path: ``pool = ssh_pool_factory(3)``.

    Arguments are those of SshHostPool after workdir (count, prefix, first_octet,
    private_home); the returned pool is started.  Every pool is stopped at teardown.
    """
    pools: list[SshHostPool] = []

    def make(count: int = 3, prefix: str = "web", **kwargs: Any) -> SshHostPool:
        pool = SshHostPool(tmp_path / f"hosts{len(pools)}", count, prefix, **kwargs)
        pools.append(pool)
        return pool.start()

    yield make
    errors = []
    for pool in reversed(pools):
        try:
            pool.stop()
        except Exception as error:
            errors.append(error)
    if errors:
        raise errors[0]


@dataclass(frozen=True)
class SharedLedger:
    """A fresh database on the session's PostgreSQL server, for one test's shared ledger."""

    server: Any
    url: str
    password: str
    db: str

    def env(self, **extra: str) -> dict[str, str]:
        """A controller's environment: the ledger URL (no password in it) and the password."""
        return {
            **os.environ,
            "RELKIT_LEDGER_URL": self.url,
            "RELKIT_LEDGER_PASSWORD": self.password,
            LEDGER_PASSWORD_ENV: self.password,
            **extra,
        }

    def config(self, lease_seconds: int = 30) -> dict[str, Any]:
        """relkit.yml's ``ledger:`` for this database."""
        ledger = {"url": self.url, "password_env": LEDGER_PASSWORD_ENV, "lease_seconds": lease_seconds}
        return {"ledger": ledger}


LEDGER_PASSWORD_ENV = "RELKIT_TEST_LEDGER_PASSWORD"
LEDGER_PASSWORD = "ledger-Zt4-secret"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One real PostgreSQL server for the session (each xdist worker starts its own)."""
    from tests import pgserver

    why = pgserver.available()
    if why:
        pytest.skip(f"PostgreSQL: {why}")
    with pgserver.PgServer(password=LEDGER_PASSWORD) as server:
        yield server


@pytest.fixture
def shared_ledger(pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> SharedLedger:
    """A new, empty database for this test's shared ledger; its password in the environment."""
    db = f"ledger_{uuid.uuid4().hex[:12]}"
    pg_server.psql(f"CREATE DATABASE {db}")
    monkeypatch.setenv(LEDGER_PASSWORD_ENV, LEDGER_PASSWORD)
    monkeypatch.setenv("RELKIT_LEDGER_PASSWORD", LEDGER_PASSWORD)
    return SharedLedger(pg_server, pg_server.url(db), LEDGER_PASSWORD, db)
