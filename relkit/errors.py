"""The named errors relkit raises, each carrying its stable exit code (see README "Exit codes")."""

from __future__ import annotations


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


class GateBlocked(RelkitError):
    """A gate of the procedure failed; the play did not start."""

    exit_code = 3

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


class PlayFailed(RelkitError):
    """A play failed on at least one host."""

    exit_code = 4

    def __init__(self, message: str, result: object | None = None) -> None:
        super().__init__(message)
        self.result = result


class RollbackFailed(RelkitError):
    """A rollback failed: hosts need attention."""

    exit_code = 5

    def __init__(self, message: str, result: object | None = None) -> None:
        super().__init__(message)
        self.result = result


class Locked(RelkitError):
    """Another run holds the environment's lock."""

    exit_code = 6


class HealthCritical(PlayFailed):
    """``relkit health`` found a critical problem (exit 4); says what was rolled back or decided."""
