"""The named errors relkit raises, each carrying its stable exit code (docs/operations.md).

This module imports nothing of relkit: what an error carries (a gate report, a run or health
report) is anything with a JSON-ready ``to_dict()``.
"""

from __future__ import annotations

from typing import Any, Protocol


class Reported(Protocol):
    """A result an error carries: the CLI prints its ``to_dict()`` with ``--output json``."""

    def to_dict(self) -> dict[str, Any]: ...


class RelkitError(Exception):
    """Base of every expected relkit failure."""

    exit_code = 1


class BadInput(RelkitError):
    """A manifest, config file or argument is invalid; nothing was touched."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    def __str__(self) -> str:
        head = super().__str__()
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


class RollbackRefused(BadInput):
    """A rollback refused before anything changed on any host (exit 2): nothing to roll back to,
    or the release asked for is not installed; says what is."""

    def __init__(
        self, message: str, problems: list[str] | None = None, result: Reported | None = None
    ) -> None:
        super().__init__(message, problems)
        self.result = result


class FieldError(ValueError):
    """A model validator's error about one field: ``loc`` is the field's path relative to the
    model that raised it; relkit.loading prints the error at the model's path plus ``loc``."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(f"{'.'.join(str(p) for p in loc)}: {message}")
        self.loc, self.message = loc, message


class GateBlocked(RelkitError):
    """A gate of the procedure failed; the play did not start."""

    exit_code = 3

    def __init__(self, message: str, report: Reported) -> None:
        super().__init__(message)
        self.report = report


class Unsigned(RelkitError):
    """An act the procedure attributes to a person came without that person's signature."""

    exit_code = 3


class PlayFailed(RelkitError):
    """A play failed on at least one host."""

    exit_code = 4

    def __init__(self, message: str, result: Reported | None = None) -> None:
        super().__init__(message)
        self.result = result


class NodeLost(PlayFailed):
    """The execution node running a play (``engine: worker``) was lost: the connection dropped or
    the worker died before the play ended (exit 4). The run stays open in the ledger (``relkit
    status`` shows it interrupted); every host is on a complete release, the next run records it."""


class RollbackFailed(RelkitError):
    """A rollback failed: hosts need attention."""

    exit_code = 5

    def __init__(self, message: str, result: Reported | None = None) -> None:
        super().__init__(message)
        self.result = result


class Locked(RelkitError):
    """Another run holds the environment's lock."""

    exit_code = 6


class LedgerUnavailable(RelkitError):
    """The shared ledger cannot be reached: nothing can be recorded, so nothing starts (exit 2)."""

    exit_code = 2


class LedgerLost(LedgerUnavailable):
    """The shared ledger was lost while a run was under way (exit 4): the run stopped before its
    next switch; what the hosts did up to then is on them, and their histories."""

    exit_code = 4


class HealthCritical(PlayFailed):
    """``relkit health`` found a critical problem (exit 4); says what was rolled back or decided."""
