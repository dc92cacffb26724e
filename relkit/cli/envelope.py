"""The one JSON document every command prints on stdout with ``--output json``: the envelope.

Whatever the command and whatever the outcome (done, blocked, failed, a usage error, an
unexpected error) stdout carries exactly one document of this shape (docs/ci.md; its JSON
Schema is ``relkit schema output``)::

    {"relkit_output": 1, "command": "deploy", "ok": false, "exit_code": 3,
     "result": {...} | null,
     "error": {"kind": "GateBlocked", "message": "...", "problems": [...],
               "gates": {...} | null, "log": "..." | null} | null}

``result`` is the command's own payload, in success and failure alike; ``error`` is null
exactly when ``ok`` is true (exit 0).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

VERSION = 1
"""The envelope's version (``relkit_output``): raised only by a change a reader must know of."""

KINDS = {
    1: "UnexpectedError",
    2: "BadInput",
    3: "GateBlocked",
    4: "PlayFailed",
    5: "RollbackFailed",
    6: "Locked",
}
"""The error kind of an exit code that no named error explains."""


class Failed(Exception):
    """A command that has already told a person what went wrong (in text mode) and ends with
    ``exit_code``; in JSON mode its kind and message become the envelope's ``error``."""

    def __init__(
        self,
        exit_code: int,
        kind: str,
        message: str,
        problems: list[str] | None = None,
        gates: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.exit_code, self.kind, self.message = exit_code, kind, message
        self.problems, self.gates = problems or [], gates


def error(
    kind: str,
    message: str,
    problems: list[str] | None = None,
    gates: dict[str, Any] | None = None,
    log: str | None = None,
) -> dict[str, Any]:
    """The envelope's ``error``: every key present, null (or ``[]``) when it does not apply."""
    return {"kind": kind, "message": message, "problems": list(problems or []), "gates": gates, "log": log}


def envelope(
    command: str | None, exit_code: int, result: dict[str, Any] | None, err: dict[str, Any] | None
) -> dict[str, Any]:
    """The document: a failure without a named error gets the kind of its exit code."""
    if exit_code and err is None:
        err = error(KINDS.get(exit_code, "Failed"), f"exit {exit_code}")
    return {
        "relkit_output": VERSION,
        "command": command,
        "ok": exit_code == 0,
        "exit_code": exit_code,
        "result": result,
        "error": None if exit_code == 0 else err,
    }


def output_schema() -> dict[str, Any]:
    """The published JSON Schema of the envelope and of each command's ``result``."""
    text = resources.files("relkit").joinpath("schemas", "output.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
