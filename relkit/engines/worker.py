"""The ``worker`` engine: the play runs on an execution node, ansible-runner's own stream carries it.

relkit lays out the job's private data directory (``project/``: the playbooks, ``roles/``,
``inventory/``, ``env/extravars`` and ``relkit/``: the files the play reads on the controller
otherwise), connects to the node with OpenSSH and writes ansible-runner's ``transmit`` stream to
the node's ``ansible-runner worker`` on the connection's stdin; the worker runs the play and
streams its events back on stdout, which ansible-runner's ``process`` reads here: each event is
redacted and turned into an outcome exactly as with ``local`` (:mod:`relkit.engines.shared`). The
same connection forwards a node-side socket to this run's secret channel (``ssh -R``), so the
secret values and the gate pass never enter the stream or the node's disk.

An execution node lost mid-play (connection dropped, worker killed) ends the stream without the
play's end: :class:`~relkit.errors.NodeLost`.
"""

from __future__ import annotations

import secrets as random
import shlex
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePosixPath

import ansible_runner

from relkit.assets import playbooks_dir, roles_dir
from relkit.config import WorkerNode
from relkit.engines.request import PlayRequest
from relkit.engines.shared import Events, play_env, prepare_run_dir
from relkit.errors import BadInput, NodeLost
from relkit.results import PlayResult, TaskOutcome
from relkit.secret_channel import SOCKET_ENV

ENDED = ("successful", "failed", "timeout", "canceled")
"""The statuses a worker reports when its play ended (anything else: the stream broke off)."""

SSH_OPTIONS = ("BatchMode=yes", "ServerAliveInterval=5", "ServerAliveCountMax=3", "ConnectTimeout=10")
"""Always given to ssh: no prompt, and a node that stops answering is given up after ~15 s."""

SSH_GRACE = 10.0
"""Seconds ssh is given to end after the stream did (the worker's exit status comes last)."""

BUNDLE = "relkit"
"""The private data directory's folder holding the controller files the play reads."""


def run_play(request: PlayRequest, on_outcome: Callable[[TaskOutcome], None]) -> PlayResult:
    """Run ``request.playbook`` on ``request.worker``; call ``on_outcome`` for each host result."""
    node = request.worker
    if node is None:
        raise BadInput("engine worker: the environment names no execution node (engine.worker.host)")
    if request.vault_password_file is not None:
        raise BadInput(
            f"engine worker ({node.host}): an inventory with vault data needs its password on the node; "
            "relkit does not send it there (put the vaulted values in relkit.yml secrets: instead)"
        )
    tag = f"relkit-{request.run_id}-{request.playbook.removesuffix('.yml')}-{random.token_hex(4)}"
    node_dir = PurePosixPath(node.work_dir) / tag
    node_socket = PurePosixPath(node.work_dir) / f"{tag}.sock"
    events = Events(request, on_outcome)
    controller_socket = request.env.get(SOCKET_ENV)
    env = dict(request.env)
    if controller_socket:
        env[SOCKET_ENV] = str(node_socket)
    shipped = _lay_out(request, node_dir)
    prepare_run_dir(shipped)  # env/extravars; ansible-runner writes env/envvars afresh
    (request.run_dir / "env" / "envvars").unlink(missing_ok=True)
    inventory = _copy_inventory(request.inventory, request.run_dir / "inventory")
    envvars = {
        **play_env(shipped),
        **env,
        "RELKIT_STATE_DIR": str(node_dir / BUNDLE / "state"),
    }
    log = request.run_dir / "worker-ssh.log"
    argv = ssh_argv(node, _remote_command(node, node_dir, node_socket if controller_socket else None))
    if controller_socket:
        forward = ["-o", "StreamLocalBindUnlink=yes", "-o", "ExitOnForwardFailure=yes"]
        argv[1:1] = [*forward, "-R", f"{node_socket}:{controller_socket}"]
    try:
        with (
            log.open("wb") as stderr,
            subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr) as proc,
        ):
            try:
                status = _stream(proc, request, inventory, envvars, events)
            finally:
                try:
                    proc.wait(timeout=SSH_GRACE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if status not in ENDED:
            raise NodeLost(_lost(node, request, events, status, proc.returncode, log))
    finally:
        # stdout, the node's command artifact, whatever got past the event redaction: scrubbed
        events.redactor.scrub_tree(request.run_dir)
    artifacts = request.run_dir / "artifacts" / request.run_id
    return PlayResult(status=status, rc=_rc(artifacts, status), outcomes=events.outcomes, artifacts=artifacts)


def ssh_argv(node: WorkerNode, command: str) -> list[str]:
    """The ssh command line that runs ``command`` on ``node``."""
    argv = ["ssh", "-T", "-p", str(node.port)]
    if node.identity_file:
        argv += ["-i", node.identity_file, "-o", "IdentitiesOnly=yes"]
    for option in (*SSH_OPTIONS, *node.ssh_options):
        argv += ["-o", option]
    if node.user:
        argv += ["-l", node.user]
    return [*argv, "--", node.host, command]


def _remote_command(node: WorkerNode, node_dir: PurePosixPath, socket: PurePosixPath | None) -> str:
    """The worker's command line on the node: its private data directory (removed at the end), its
    PATH (the command's own directory first), the forwarded socket removed when it is done."""
    words = shlex.split(node.command)
    prefix = ""
    if words and words[0].startswith("/"):
        prefix = f'PATH={shlex.quote(str(PurePosixPath(words[0]).parent))}:"$PATH" '
    run = f"{prefix}{node.command} --private-data-dir {shlex.quote(str(node_dir))} --delete"
    if socket is None:
        return run
    return f"{run}; s=$?; rm -f {shlex.quote(str(socket))}; exit $s"


def _stream(
    proc: subprocess.Popen[bytes],
    request: PlayRequest,
    inventory: str,
    envvars: dict[str, str],
    events: Events,
) -> str:
    """Transmit the job on ``proc``'s stdin, process the events from its stdout: the last status."""
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ansible_runner.run(
            streamer="transmit",
            _output=proc.stdin,
            private_data_dir=str(request.run_dir),
            playbook=request.playbook,
            inventory=inventory,
            envvars=envvars,
            ident=request.run_id,
            forks=request.forks,
            limit=request.limit,
            quiet=True,
        )
        proc.stdin.close()
    except OSError:  # ssh is gone: nothing ran (its stderr says why)
        return "unreachable"
    processor = ansible_runner.run(
        streamer="process",
        _input=proc.stdout,  # a read error ends the stream: status "error"
        private_data_dir=str(request.run_dir),
        ident=request.run_id,
        event_handler=events.event,
        status_handler=events.status,
        quiet=True,
    )
    return str(processor.status)


def _lay_out(request: PlayRequest, node_dir: PurePosixPath) -> PlayRequest:
    """Copy into the private data directory what the play reads on the controller otherwise (the
    playbooks, the roles, the release's artifact and manifest, relkit.yml and, with the embedded
    ledger, a copy of it for the gate check); the request with its paths as the node sees them."""
    run_dir = request.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o700)
    for name in ("project", "roles", "inventory", BUNDLE, "artifacts"):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(playbooks_dir(), run_dir / "project", ignore=ignore)
    shutil.copytree(roles_dir(), run_dir / "roles", ignore=ignore)
    bundle = run_dir / BUNDLE
    (bundle / "state").mkdir(parents=True)
    node_bundle = node_dir / BUNDLE
    extravars = dict(request.extravars)

    def ship(path: str, name: str) -> str:
        source = Path(path)
        shutil.copy2(source, bundle / name)
        return str(node_bundle / name)

    release = extravars.get("relkit_release")
    if isinstance(release, dict) and release.get("artifact"):
        name = Path(str(release["artifact"])).name
        extravars["relkit_release"] = {
            **release,
            "artifact": ship(str(release["artifact"]), f"artifact-{name}"),
        }
    if extravars.get("relkit_manifest"):
        extravars["relkit_manifest_origin"] = str(Path(str(extravars["relkit_manifest"])).resolve())
        extravars["relkit_manifest"] = ship(str(extravars["relkit_manifest"]), "manifest.yml")
    if extravars.get("relkit_project_dir"):
        (bundle / "project").mkdir()
        ship(str(Path(str(extravars["relkit_project_dir"])) / "relkit.yml"), "project/relkit.yml")
        extravars["relkit_project_dir"] = str(node_bundle / "project")
        if request.ledger_state is not None:
            _copy_ledger(request.ledger_state, bundle / "state")
    return replace(request, extravars=extravars)


def _copy_ledger(state_dir: Path, into: Path) -> None:
    """A consistent copy of the embedded ledger and the environments' locks (read by the node's
    gate check: the run's recorded evaluation and its lock)."""
    source = sqlite3.connect(f"file:{state_dir / 'ledger.db'}?mode=ro", uri=True)
    target = sqlite3.connect(into / "ledger.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    if (state_dir / "locks").is_dir():
        shutil.copytree(state_dir / "locks", into / "locks")


def _copy_inventory(inventory: Path, into: Path) -> str:
    """Copy the inventory (a directory, or a file with the group_vars/ and host_vars/ beside it)
    into ``into``; the copy's path (ansible-runner's transmit makes it relative to the private
    data directory, the worker joins it to its own)."""
    if inventory.is_dir():
        shutil.copytree(inventory, into)
        return str(into)
    into.mkdir()
    shutil.copy2(inventory, into / inventory.name)
    for beside in ("group_vars", "host_vars"):
        if (inventory.parent / beside).is_dir():
            shutil.copytree(inventory.parent / beside, into / beside)
    return str(into / inventory.name)


def _rc(artifacts: Path, status: str) -> int:
    """The play's exit code, from the artifacts the worker sent back."""
    try:
        return int((artifacts / "rc").read_text().strip())
    except (OSError, ValueError):
        return 0 if status == "successful" else 2


def _lost(
    node: WorkerNode, request: PlayRequest, events: Events, status: str, rc: int | None, log: Path
) -> str:
    """What to tell when the stream from ``node`` broke off."""
    said = events.redactor.text(log.read_text(errors="replace").strip()[-2000:]) if log.exists() else ""
    why = f"ssh exited {rc}" + (f": {said}" if said else "")
    if not events.outcomes and "running" not in events.statuses:
        return f"execution node {node.host} did not run {request.playbook} ({why}); nothing ran on any host"
    return (
        f"execution node {node.host} lost mid-play ({request.playbook}, {why}); every host is on a "
        "complete release (a switch is atomic) and the run stays open in the ledger: relkit status "
        "shows it interrupted, and the next deploy finds and records what each host runs"
    )
