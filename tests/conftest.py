"""Run order: the longest tests first, so that with pytest-xdist (``make test`` runs
``-n N --dist loadgroup``) no worker starts a minute-long test while the others run out of work.

The order is otherwise unchanged (a stable sort): the files below first, each longer than most
folders' whole run; then the integration tests (real SSH hosts); then the tests that run real
plays on this machine (tests/usecases, tests/security) and the generated hostile inputs; then
the rest.
"""

from __future__ import annotations

import pytest

LONGEST_FIRST = (
    "tests/integration/test_killed_controller_ssh.py",
    "tests/integration/test_killed_rollback_ssh.py",
    "tests/integration/test_first_steps.py",
)
REAL_PLAYS = ("tests/usecases/", "tests/security/", "tests/unit/test_hostile_input.py")


def _rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    if path in LONGEST_FIRST:
        return LONGEST_FIRST.index(path)
    if item.get_closest_marker("integration"):
        return len(LONGEST_FIRST)
    return len(LONGEST_FIRST) + (1 if path.startswith(REAL_PLAYS) else 2)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)
