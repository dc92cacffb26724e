"""Telling people about one run: its events to the channels subscribed in relkit.yml."""

from __future__ import annotations

from typing import Any

from relkit.notify import notify
from relkit.project import Project


class RunNotifier:
    """The notifications of one run; ``context`` says what they are about (manifest, version)."""

    def __init__(self, project: Project, env: str, run_id: str, by: str) -> None:
        self.project, self.env, self.run_id, self.by = project, env, run_id, by
        self.context: dict[str, Any] = {}

    def notify(self, event: str, **context: Any) -> None:
        """Tell the channels subscribed to ``event`` (relkit.notify records it and never raises)."""
        notify(self.project, event, {"by": self.by, **self.context, **context}, self.run_id, self.env)
