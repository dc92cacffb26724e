"""The one adapter around ansible-runner: run a playbook, stream its events, return a result."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner
import ptyprocess

from relkit import secrets
from relkit.assets import playbooks_dir, roles_dir

# ansible-runner drives ansible-playbook through pexpect; closing the pty sleeps
# delayafterclose (0.1 s) although the play has already ended by then (EOF). relkit waits
# for the exit status anyway, so the pause is pure latency on every run. PtyProcess.__init__
# sets the delay on the instance, so a plain class attribute would be shadowed: a property
# whose setter ignores that assignment keeps it at 0.
ptyprocess.PtyProcess.delayafterclose = property(lambda _self: 0.0, lambda _self, _value: None)

HOST_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


@dataclass(frozen=True)
class PlayRequest:
    """One play to run."""

    playbook: str
    inventory: Path
    run_dir: Path
    run_id: str
    extravars: dict[str, Any]
    forks: int = 20
    timeout: int = 30
    limit: str | None = None
    hidden_env: tuple[str, ...] = ()
    """Controller variables (secrets) kept from the play's environment and its ``command`` artifact."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables for the play (e.g. relkit.secret_channel's socket and token)."""
    secret_values: tuple[str, ...] = field(default=(), repr=False)
    """Values redacted from every event, outcome and file of the run (see relkit.secrets)."""
    vault_password_file: Path | None = None
    """Ansible Vault password file (or script) for the inventory's vault data."""


@dataclass(frozen=True)
class TaskOutcome:
    """One task's result on one host, as the ledger records it."""

    host: str
    task: str
    action: str
    status: str
    changed: bool
    msg: str
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlayResult:
    """What a play did: runner status and rc, and every task outcome per host."""

    status: str
    rc: int
    outcomes: list[TaskOutcome]
    artifacts: Path

    def hosts(self, status: str) -> list[str]:
        """Hosts with at least one task in ``status`` (failed / unreachable)."""
        return sorted({o.host for o in self.outcomes if o.status == status})

    @property
    def all_hosts(self) -> list[str]:
        """Every host that reported a task."""
        return sorted({o.host for o in self.outcomes})

    def module_results(self, key: str) -> dict[str, dict[str, Any]]:
        """Per host, the last result carrying ``key`` (e.g. the switch info under ``relkit``)."""
        found: dict[str, dict[str, Any]] = {}
        for outcome in self.outcomes:
            if isinstance(outcome.result.get(key), dict):
                found[outcome.host] = outcome.result[key]
        return found

    def stdout_tail(self, lines: int = 15) -> str:
        """The end of ansible's output, for failures that reached no host."""
        try:
            text = (self.artifacts / "stdout").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def failure_summary(self) -> str:
        """Failed hosts with their messages, or the play's own output when no host reported."""
        bad = [o for o in self.outcomes if o.status in ("failed", "unreachable")]
        if bad:
            return "\n".join(f"{o.host}: {o.status} in '{o.task}': {o.msg}" for o in bad)
        return f"ansible-runner status {self.status}, rc {self.rc}:\n{self.stdout_tail()}"

    @property
    def ok(self) -> bool:
        """True when the play succeeded on every host."""
        return self.status == "successful" and self.rc == 0


def outcome_of(event: dict[str, Any]) -> TaskOutcome | None:
    """Turn an ansible-runner event into a :class:`TaskOutcome` (None for non-host events)."""
    status = HOST_EVENTS.get(event.get("event", ""))
    if status is None:
        return None
    data = event.get("event_data", {})
    res = data.get("res") or {}
    msg = res.get("msg", "") if isinstance(res, dict) else ""
    if status == "failed" and not msg and isinstance(res, dict):
        msg = str(res.get("stderr") or res.get("module_stderr") or "")[-500:]
    return TaskOutcome(
        host=data.get("host", "?"),
        task=data.get("task", ""),
        action=data.get("task_action", ""),
        status=status,
        changed=bool(res.get("changed")) if isinstance(res, dict) else False,
        msg=str(msg)[:2000],
        result=res if isinstance(res, dict) else {},
    )


def run_play(request: PlayRequest, on_outcome: Callable[[TaskOutcome], None]) -> PlayResult:
    """Run ``request.playbook`` with ansible-runner; call ``on_outcome`` for each host result."""
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
            # ... and any other variable that carries a secret value (e.g. a URL with a password)
            for name, value in list(runner_config.env.items()):
                keep = name in secrets.KEEP_IN_ENV or name in request.env or name.startswith("ANSIBLE_")
                if not keep and isinstance(value, str) and redactor.found(value):
                    runner_config.env.pop(name)

    request.run_dir.mkdir(parents=True, exist_ok=True)
    request.run_dir.chmod(0o700)
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
        extravars=request.extravars,
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
