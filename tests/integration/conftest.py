"""Shared fixtures for integration tests that run against real SSH test hosts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
