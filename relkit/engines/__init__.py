"""Execution engines: where a play runs and how its events come back.

An engine is one function, ``run_play(request, on_outcome) -> PlayResult``: it runs
``request.playbook``, calls ``on_outcome`` with each host's :class:`~relkit.results.TaskOutcome`
as it arrives and returns the :class:`~relkit.results.PlayResult`. ``local``: ansible-runner on
this controller; ``worker``: ansible-runner's transmit/worker/process stream to an execution
node over SSH (relkit.yml ``environments.<name>.engine``). What both do alike (extra vars,
redaction, the secrets kept out of the environment): :mod:`relkit.engines.shared`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol

from relkit.engines.request import PlayRequest
from relkit.errors import BadInput
from relkit.results import PlayResult, TaskOutcome

ENGINES = ("local", "worker")


class Engine(Protocol):
    """What every engine module provides."""

    def run_play(self, request: PlayRequest, on_outcome: Callable[[TaskOutcome], None]) -> PlayResult: ...


def engine(name: str = "local") -> Engine:
    """The engine module called ``name`` (imported on first use: ansible-runner is heavy)."""
    if name not in ENGINES:
        raise BadInput(f"engine: unknown engine {name!r} (known: {', '.join(ENGINES)})")
    module: Engine = importlib.import_module(f"relkit.engines.{name}")
    return module


__all__ = ["ENGINES", "Engine", "PlayRequest", "engine"]
