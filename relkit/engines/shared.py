"""What the ansible-runner engines (``local``, ``worker``) do alike: the extra vars file, the
events redacted and turned into outcomes, the secrets kept out of the play's environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from relkit import secrets
from relkit.engines.request import PlayRequest
from relkit.results import TaskOutcome, outcome_of


class Events:
    """One play's ansible-runner handlers: each event redacted before anything keeps it, its host
    result passed on; the ``starting`` status drops the secrets from the play's environment."""

    def __init__(self, request: PlayRequest, on_outcome: Callable[[TaskOutcome], None]) -> None:
        self.request, self.on_outcome = request, on_outcome
        self.outcomes: list[TaskOutcome] = []
        self.redactor = secrets.known().union(request.secret_values)
        self.statuses: list[str] = []
        """Every status ansible-runner reported, in order (the last one: how the job ended)."""

    def event(self, event: dict[str, Any]) -> bool:
        """ansible-runner's event handler (True: write the event to job_events/)."""
        self.redactor.in_place(event)  # before ansible-runner writes it to job_events/
        outcome = outcome_of(event)
        if outcome is not None:
            self.outcomes.append(outcome)
            self.on_outcome(outcome)
        return True

    def status(self, status: dict[str, Any], runner_config: Any = None) -> None:
        """ansible-runner's status handler."""
        self.statuses.append(str(status.get("status", "")))
        # Called before ansible-runner writes artifacts/<id>/command (which holds the whole
        # environment) and spawns ansible-playbook with that same dict: drop the secrets here.
        if status.get("status") == "starting" and runner_config is not None and runner_config.env:
            drop_secrets(runner_config.env, self.request, self.redactor)


def drop_secrets(env: dict[str, Any], request: PlayRequest, redactor: secrets.Redactor) -> None:
    """Remove from ``env`` the variables ``request`` hides and any other that carries a secret value
    (e.g. a URL with a password), recognised by the very matcher that redacts events and files: by
    meaning, so a password URL-quoted with any safe set, shell-quoted, escaped or trimmed is found."""
    for name in request.hidden_env:
        env.pop(name, None)
    for name, value in list(env.items()):
        keep = name in secrets.KEEP_IN_ENV or name in request.env or name.startswith("ANSIBLE_")
        if not keep and isinstance(value, str) and redactor.found(value):
            env.pop(name)


class _Unsafe(str):
    """A string Ansible must treat as data: written as ``!unsafe``, never templated."""


class _ExtravarsDumper(yaml.SafeDumper):
    """YAML for ``-e @file``: ``_Unsafe`` strings tagged ``!unsafe``."""


_ExtravarsDumper.add_representer(
    _Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value), style="'")
)


def _as_data(value: Any) -> Any:
    """``value`` with every string (keys aside) marked :class:`_Unsafe`."""
    if isinstance(value, str):
        return _Unsafe(value)
    if isinstance(value, dict):
        return {k: _as_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_data(v) for v in value]
    return value


def write_extravars(request: PlayRequest) -> Path:
    """Write the play's extra vars where ansible-runner passes them as ``-e @env/extravars``:
    the strings of every var not in ``request.templated_vars`` tagged ``!unsafe`` (ansible-core
    trusts extra vars as templates; a deployer name or an artifact file name must stay data)."""
    env_dir = request.run_dir / "env"
    env_dir.mkdir(exist_ok=True)
    data = {
        name: value if name in request.templated_vars else _as_data(value)
        for name, value in request.extravars.items()
    }
    path = env_dir / "extravars"
    path.write_text(yaml.dump(data, Dumper=_ExtravarsDumper, sort_keys=True, allow_unicode=True))
    path.chmod(0o600)
    return path


def prepare_run_dir(request: PlayRequest) -> None:
    """The run's private data directory, private to this user, with its extra vars."""
    request.run_dir.mkdir(parents=True, exist_ok=True)
    request.run_dir.chmod(0o700)
    write_extravars(request)


def play_env(request: PlayRequest) -> dict[str, str]:
    """The environment variables every play gets, wherever it runs (paths aside)."""
    return {
        "ANSIBLE_TIMEOUT": str(request.timeout),
        "ANSIBLE_NOCOLOR": "1",
        "RELKIT_CLI": "1",
        **request.env,
    }
