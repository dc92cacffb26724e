"""The ``local`` engine: ansible-runner on this controller, events streamed back as they come."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ansible_runner
import ptyprocess

from relkit.assets import playbooks_dir, roles_dir
from relkit.engines.request import PlayRequest
from relkit.engines.shared import Events, play_env, prepare_run_dir, write_extravars
from relkit.results import PlayResult, TaskOutcome

__all__ = ["run_play", "write_extravars"]


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
    events = Events(request, on_outcome)
    prepare_run_dir(request)
    play_dir = playbooks_dir()
    vault_file = request.vault_password_file
    vault = {"ANSIBLE_VAULT_PASSWORD_FILE": str(vault_file)} if vault_file else {}
    try:
        runner = _run(request, play_dir, vault, events.event, events.status)
    finally:
        # Whatever got past the modules' no_log masking and the event redaction (stdout, the
        # command artifact, fact caches): scrubbed in place, even when the run failed.
        events.redactor.scrub_tree(request.run_dir)
    return PlayResult(
        status=runner.status,
        rc=runner.rc if runner.rc is not None else 1,
        outcomes=events.outcomes,
        artifacts=Path(runner.config.artifact_dir),
    )


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
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            **vault,
            **play_env(request),
        },
        ident=request.run_id,
        forks=request.forks,
        limit=request.limit,
        event_handler=handle,
        status_handler=starting,
        quiet=True,
    )
