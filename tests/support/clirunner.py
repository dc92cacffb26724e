"""Run the relkit CLI in-process and capture its exit code, stdout and stderr."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from relkit.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


def make_cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("validate", path)`` runs relkit in-process and returns code, stdout, stderr."""

    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
