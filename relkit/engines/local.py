"""The ``local`` engine: ansible-runner on this controller, events streamed back as they come."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ansible_runner
import ptyprocess
import yaml

from relkit import secrets
from relkit.assets import playbooks_dir, roles_dir
from relkit.engines.request import PlayRequest
from relkit.results import PlayResult, TaskOutcome, outcome_of


def _no_pty_close_delay() -> None:
    """ansible-runner drives ansible-playbook through pexpect; closing the pty sleeps
    delayafterclose (0.1 s) although the play has already ended by then (EOF). relkit waits for
    the exit status anyway, so the pause is pure latency on every run. PtyProcess.__init__ sets
    the delay on the instance, so a plain class attribute would be shadowed: a property whose
    setter ignores that assignment keeps it at 0. Applied when a play starts, not at import."""
    if not isinstance(ptyprocess.PtyProcess.__dict__.get("delayafterclose"), property):
        ptyprocess.PtyProcess.delayafterclose = property(lambda _self: 0.0, lambda _self, _value: None)


def run_play(request: PlayRequest, on_outcome: Callable[[TaskOutcome], None]) -> PlayResult:
    """Run ``request.playbook`` with ansible-runner; call ``on_outcome`` for each host result."""
    _no_pty_close_delay()
    outcomes: list[TaskOutcome] = []
    redactor = secrets.known().union(request.secret_values)

    def handle(event: dict[str, Any]) -> bool:
        redactor.in_place(event)  # before ansible-runner writes it to job_events/
        outcome = outcome_of(event)
        if outcome is not None:
            outcomes.append(outcome)
            on_outcome(outcome)
        return True

    def starting(status: dict[str, Any], runner_config: Any = None) -> None:
        # Called before ansible-runner writes artifacts/<id>/command (which holds the whole
        # environment) and spawns ansible-playbook with that same dict: drop the secrets here.
        if status.get("status") == "starting" and runner_config is not None:
            for name in request.hidden_env:
                runner_config.env.pop(name, None)
            # ... and any other variable that carries a secret value (e.g. a URL with a password),
            # recognised by the very matcher that redacts events and files: by meaning, so a
            # password URL-quoted with any safe set, shell-quoted, escaped or trimmed is found
            for name, value in list(runner_config.env.items()):
                keep = name in secrets.KEEP_IN_ENV or name in request.env or name.startswith("ANSIBLE_")
                if not keep and isinstance(value, str) and redactor.found(value):
                    runner_config.env.pop(name)

    request.run_dir.mkdir(parents=True, exist_ok=True)
    request.run_dir.chmod(0o700)
    write_extravars(request)
    play_dir = playbooks_dir()
    vault_file = request.vault_password_file
    vault = {"ANSIBLE_VAULT_PASSWORD_FILE": str(vault_file)} if vault_file else {}
    try:
        runner = _run(request, play_dir, vault, handle, starting)
    finally:
        # Whatever got past the modules' no_log masking and the event redaction (stdout, the
        # command artifact, fact caches): scrubbed in place, even when the run failed.
        redactor.scrub_tree(request.run_dir)
    return PlayResult(
        status=runner.status,
        rc=runner.rc if runner.rc is not None else 1,
        outcomes=outcomes,
        artifacts=Path(runner.config.artifact_dir),
    )


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


def _run(
    request: PlayRequest,
    play_dir: Path,
    vault: dict[str, str],
    handle: Callable[[dict[str, Any]], bool],
    starting: Callable[..., None],
) -> Any:
    return ansible_runner.run(
        private_data_dir=str(request.run_dir),
        project_dir=str(play_dir),
        playbook=request.playbook,
        inventory=str(request.inventory),
        envvars={
            "ANSIBLE_CONFIG": str(play_dir / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(roles_dir()),
            "ANSIBLE_LIBRARY": str(play_dir / "library"),
            "ANSIBLE_TIMEOUT": str(request.timeout),
            "ANSIBLE_NOCOLOR": "1",
            "RELKIT_CLI": "1",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            **vault,
            **request.env,
        },
        ident=request.run_id,
        forks=request.forks,
        limit=request.limit,
        event_handler=handle,
        status_handler=starting,
        quiet=True,
    )
