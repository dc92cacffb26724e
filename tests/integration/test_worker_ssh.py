"""``engine: worker``: plays run on an execution node (another SSH host running ``ansible-runner
worker``), relkit transmits the job and records the events streamed back.

The node is a loopback SSH host like the targets: it shares /usr, /tmp and the controller's
virtualenv, so its ``ansible-runner worker`` is the controller's (with relkit importable), but its
processes are its own; killing its sshd kills the worker and the play it runs.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.project import Project
from tests.hostcheck import leftovers, live_release
from tests.integration.killing import host_busy, wait_host_quiet
from tests.sshhosts import SshHost
from tests.sshproject import EXAMPLE, REPO, write_project

pytestmark = pytest.mark.integration

SECRET_VAR = "RELKIT_WORKER_TEST_KEY"
VENV_BIN = Path(sys.executable).parent


def worker_script(folder: Path) -> Path:
    """The node's worker command: ansible-runner worker, with a copy of the stream it was sent."""
    script = folder / "worker.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'export PATH="{VENV_BIN}:$PATH" PYTHONPATH="{REPO}"\n'  # this relkit, as installed on a node
        f'tee -a "{folder}/stream.bin" | exec "{VENV_BIN}/ansible-runner" worker "$@"\n'
    )
    script.chmod(0o755)
    return script


def worker_config(node: SshHost, folder: Path, migrate_delay: float = 0) -> dict:
    """relkit.yml overrides: a secret the app must get, the execution node for ``staging``."""
    base = yaml.safe_load((EXAMPLE / "relkit.yml").read_text())
    service = dict(base["service"])
    service["start"] = f"API_KEY='{{{{ relkit_secrets.{SECRET_VAR} }}}}' " + service["start"]
    if migrate_delay:
        service["migrate"] = f"sleep {migrate_delay:g} && " + service["migrate"]
    reach = (
        "tr '\\0' '\\n' < /proc/$(cat shared/app.pid)/environ | "
        f"grep -qxF 'API_KEY={{{{ relkit_secrets.{SECRET_VAR} }}}}' || {{ echo 'no API_KEY'; exit 1; }}"
    )
    smoke = dict(base["smoke"])
    smoke["checks"] = [*base["smoke"]["checks"], {"name": "secret-reaches-app", "command": reach}]
    return {"secrets": [SECRET_VAR], "service": service, "smoke": smoke}


def use_worker(root: Path, env: str, node: SshHost, command: Path) -> None:
    """Make ``env`` run its plays on ``node``."""
    config = yaml.safe_load((root / "relkit.yml").read_text())
    config["environments"][env]["engine"] = {
        "worker": {
            "host": node.address,
            "user": "root",
            "identity_file": str(node.client_key),
            "ssh_options": ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"],
            "command": str(command),
        }
    }
    (root / "relkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def relkit(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relkit", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def task_results(project: Project, run_id: str) -> list[tuple[str, str, str]]:
    """(host, task, status) of each task result the ledger holds for ``run_id``."""
    return [
        (e.host, e.data["task"], e.data["status"])
        for e in project.ledger.entries(kind="task.result")
        if e.run_id == run_id
    ]


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"worker-canary-{secrets.token_hex(12)}"
    monkeypatch.setenv(SECRET_VAR, value)
    return value


def test_deploy_and_rollback_through_a_worker_node(ssh_pool_factory, tmp_path: Path, secret: str) -> None:
    webs = ssh_pool_factory(2).hosts
    (node,) = ssh_pool_factory(1, prefix="node", private_home=False).hosts  # the venv's python is under /root
    folder = tmp_path / "node-side"
    folder.mkdir()
    root = write_project(
        tmp_path / "project", {"staging": [webs[0]], "direct": [webs[1]]}, config=worker_config(node, folder)
    )
    use_worker(root, "staging", node, worker_script(folder))
    project = Project.load(root)
    releases = root / "releases"

    timings = {}
    for env in ("direct", "staging"):
        started = time.monotonic()
        first = api.deploy(project, releases / "1.0.0.yml", env, by="ops", full_play=True)
        timings[env] = time.monotonic() - started
        assert first.ok, first
    print(f"1-host deploy of 1.0.0: local {timings['direct']:.2f} s, worker {timings['staging']:.2f} s")

    second = api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
    assert second.ok and second.hosts == {webs[0].name: "ok"}, second
    assert live_release(webs[0]) == ("2.0.0", [])
    back = api.rollback(project, "staging", by="ops", reason="test")
    assert back.ok, back
    assert live_release(webs[0]) == ("1.0.0", [])
    assert leftovers(webs[0]) == []

    # the ledger has the task results a local run records: the same tasks, each ok
    direct = next(e.run_id for e in project.ledger.entries(kind="run.started", env="direct"))
    local_tasks = [(task, status) for _, task, status in task_results(project, direct)]
    worker_first = next(e.run_id for e in project.ledger.entries(kind="run.started", env="staging"))
    worker_tasks = [(task, status) for _, task, status in task_results(project, worker_first)]
    assert worker_tasks == local_tasks and local_tasks, (worker_tasks, local_tasks)
    assert {host for host, _, _ in task_results(project, second.run_id)} == {webs[0].name}
    assert any("Switch" in task for _, task, _ in task_results(project, second.run_id))
    assert any(status == "ok" for _, _, status in task_results(project, back.run_id))
    switched = [e for e in project.ledger.entries(kind="host.switched", env="staging")]
    assert [(e.host, e.data["version"]) for e in switched] == [
        (webs[0].name, "1.0.0"),
        (webs[0].name, "2.0.0"),
        (webs[0].name, "1.0.0"),
    ]
    verified = relkit(root, "ledger", "verify")
    assert verified.returncode == 0 and verified.stdout.startswith("ledger ok"), verified

    # the stream the node was sent carried the job (playbooks, the artifact, the ledger copy)
    # but never the secret, which reached the app through the forwarded channel only
    stream = (folder / "stream.bin").read_bytes()
    assert b"deploy.yml" in stream and b"rollback.yml" in stream
    assert secret.encode() not in stream
    runs = project.state_dir / "runs"
    assert not [p for p in runs.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    # the node removed each job's private data directory and socket
    assert not list(Path("/tmp").glob(f"relkit-{second.run_id}-*"))
    assert not list(Path("/tmp").glob(f"relkit-{back.run_id}-*"))


def test_a_worker_node_killed_mid_play(ssh_pool_factory, tmp_path: Path, secret: str) -> None:
    """The node dies while the switch step runs on the host (a slow migrate): relkit says the node
    was lost, the host is on a complete release, status shows the run interrupted, and the next
    deploy through the node (up again) completes."""
    (web,) = ssh_pool_factory(1).hosts
    (node,) = ssh_pool_factory(1, prefix="node", private_home=False).hosts
    folder = tmp_path / "node-side"
    folder.mkdir()
    config = worker_config(node, folder, migrate_delay=3)
    root = write_project(tmp_path / "project", {"staging": [web]}, config=config)
    use_worker(root, "staging", node, worker_script(folder))
    project = Project.load(root)
    assert api.deploy(project, root / "releases" / "1.0.0.yml", "staging", by="ops").ok

    argv = [
        sys.executable,
        "-m",
        "relkit",
        "-C",
        str(root),
        "deploy",
        str(root / "releases" / "2.0.0.yml"),
        "--env",
        "staging",
    ]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        deadline = time.monotonic() + 120
        while not any("sleep 3" in line for line in host_busy(web)):  # the switch step's migrate
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the switch step did not begin"
            time.sleep(0.02)
        node.stop_sshd()
        output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 4, output
    assert f"execution node {node.address} lost mid-play" in output, output
    assert "every host is on a complete release" in output

    wait_host_quiet([web])
    version, problems = live_release(web)
    assert problems == [] and version in ("1.0.0", "2.0.0"), (version, problems)
    status = relkit(root, "status", "--output", "json")
    assert '"interrupted"' in status.stdout and '"action": "deploy"' in status.stdout, status

    node.start_sshd()
    again = relkit(root, "deploy", str(root / "releases" / "2.0.0.yml"), "--env", "staging")
    assert again.returncode == 0, again.stdout + again.stderr
    assert live_release(web) == ("2.0.0", [])
    assert leftovers(web) == []
    verified = relkit(root, "ledger", "verify")
    assert verified.returncode == 0, verified
