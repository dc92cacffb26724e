"""Run the relkit CLI in-process and capture its exit code, stdout and stderr."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from relkit.cli import main

ENVELOPE_KEYS = {"relkit_output", "command", "ok", "exit_code", "result", "error"}


def document(stdout: str) -> dict[str, Any]:
    """The one JSON document ``--output json`` printed: the whole of stdout, an envelope."""
    doc: dict[str, Any] = json.loads(stdout)  # raises on anything but exactly one document
    assert set(doc) == ENVELOPE_KEYS, f"not an envelope: {sorted(doc)}"
    return doc


def payload(stdout: str) -> Any:
    """The command's payload (the envelope's ``result``) in ``--output json``'s stdout."""
    return document(stdout)["result"]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def doc(self) -> dict[str, Any]:
        """stdout as the envelope of ``--output json``; its exit_code is the process's."""
        doc = document(self.out)
        assert doc["exit_code"] == self.code and doc["ok"] is (self.code == 0)
        return doc

    @property
    def payload(self) -> Any:
        """The envelope's ``result``: the command's payload."""
        return self.doc["result"]


Cli = Callable[..., Result]


def make_cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("validate", path)`` runs relkit in-process and returns code, stdout, stderr."""

    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
