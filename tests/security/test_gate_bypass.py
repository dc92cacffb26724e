"""Nobody deploys past the gates with a forged gate pass or another release's overrides.

Each attack is carried out for real: a real ``ansible-playbook`` (the one in this venv) runs
playbooks/deploy.yml against the example project's local production "hosts" (prod1, prod2 under
tmp_path; production has ``promote_from: staging``).

A. A Unix socket server of the attacker's answers any token with a gate pass, and the play is
   started with ``RELKIT_CLI=1`` and ``RELKIT_SECRETS_SOCKET`` pointing at it: a release that
   never passed staging must still be refused at the gate task, and the ledger must say so.
B. A run for 1.0.0 blocked by the gates recorded overrides (``relkit deploy --override``); a
   later play for 2.0.0 naming that run id must not get them.

Also: a forged pass under ``RELKIT_CLI`` (where relkit's ledger callback is off) stops the play
even for a release whose gates pass, and ``-e relkit_release`` cannot swap in another release
than the one whose gates were checked.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from relkit import api
from relkit.loading import load_manifest
from relkit.project import Project
from tests.support.clirunner import Cli, make_cli
from tests.support.notifysinks import free_port

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
PROD_HOSTS = ("prod1", "prod2")
GATE_PASS = "relkit:gate-pass"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


@pytest.fixture
def project(local_staging: Project, tmp_path: Path) -> Iterator[Project]:
    """The local example project, production's two hosts on free ports (apps stopped afterwards)."""
    inventory = tmp_path / "inventory" / "local" / "production.yml"
    data = yaml.safe_load(inventory.read_text())
    for host in PROD_HOSTS:
        data["production"]["hosts"][host]["app_port"] = free_port()
    inventory.write_text(yaml.safe_dump(data))
    yield local_staging
    for host in PROD_HOSTS:  # only an attack that got through started these
        root = host_dir(tmp_path, host)
        if (root / "shared" / "app.pid").exists():
            subprocess.run(
                [
                    sys.executable,
                    str(root / "current" / "app.py"),
                    "stop",
                    "--pidfile",
                    str(root / "shared" / "app.pid"),
                ],
                capture_output=True,
                timeout=30,
                check=False,
            )


def host_dir(tmp_path: Path, host: str, env: str = "production") -> Path:
    return tmp_path / "hosts" / env / host


def assert_no_host_switched(
    tmp_path: Path, env: str = "production", hosts: tuple[str, ...] = PROD_HOSTS
) -> None:
    for host in hosts:
        current = host_dir(tmp_path, host, env) / "current"
        assert not current.is_symlink() and not current.exists(), f"{host} switched to {current.readlink()}"


def assert_failed_at_the_gate(
    done: subprocess.CompletedProcess[str], why: str = "blocked by the gates"
) -> None:
    assert done.returncode != 0, done.stdout[-3000:]
    assert why in done.stdout, done.stdout[-3000:]
    assert "relkit_deploy :" not in done.stdout, "the play went past the gate task"


def ansible_playbook(
    project: Project,
    manifest: Path,
    extra: dict[str, Any],
    environ: dict[str, str] | None = None,
    env_name: str = "production",
) -> subprocess.CompletedProcess[str]:
    """deploy.yml on ``env_name``, run directly (``extra``: more extra vars; ``environ``: more env)."""
    argv = [
        str(ANSIBLE_PLAYBOOK),
        "-i",
        str(project.inventory(env_name)),
        "deploy.yml",
        "-e",
        json.dumps(
            {
                "relkit_manifest": str(manifest),
                "relkit_env": env_name,
                "relkit_project_dir": str(project.root),
                **extra,
            }
        ),
    ]
    keep = ("RELKIT_STATE_DIR", "RELKIT_DEMO_ROOT")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELKIT_") or k in keep}
    env.update(environ or {})
    return subprocess.run(
        argv, cwd=PLAYBOOKS, env=env, capture_output=True, text=True, timeout=240, check=False
    )


@contextlib.contextmanager
def forged_channel(path: str, forged: dict[str, str]) -> Iterator[str]:
    """The attacker's secret channel on ``path``: answers any token (any request) with the gate
    pass ``forged``, as often as asked; yields the socket path."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()
    answer_bytes = json.dumps({GATE_PASS: json.dumps(forged, sort_keys=True)}).encode()

    def answer() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    conn.makefile("rb").readline(4096)  # whatever token it is
                    conn.sendall(answer_bytes)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        server.close()
        thread.join(5)


def release_of(manifest: Path) -> dict[str, str]:
    """``relkit_release`` as relkit passes it for ``manifest``."""
    m = load_manifest(manifest)
    return {
        "version": m.version,
        "sha256": m.artifact.sha256,
        "artifact": str((manifest.parent / m.artifact.path).resolve()),
    }


def test_a_forged_gate_pass_does_not_open_the_gate(project: Project, tmp_path: Path) -> None:
    manifest = project.root / "releases" / "2.0.0.yml"  # never deployed to staging
    m = load_manifest(manifest)
    run_id = "fake"
    bare = {"run_id": run_id, "env": "production", "manifest": str(manifest.resolve())}
    # the pass as the plugin used to expect it; one with every field a pass carries; the same
    # while the attacker's own live process holds the production lock in the name of run "fake"
    full = {**bare, "version": m.version, "sha256": m.artifact.sha256, "nonce": secrets.token_urlsafe(24)}
    attempts = [
        (bare, False, "malformed pass"),
        (full, False, "run fake does not hold the production lock"),
        (
            full,
            True,
            "no passing gate evaluation of 2.0.0 on production recorded for run fake with this pass",
        ),
    ]
    for n, (forged, locked, why) in enumerate(attempts):
        with contextlib.ExitStack() as stack:
            if locked:
                stack.enter_context(project.ledger.hold("production", run_id, "deploy"))
            sock = stack.enter_context(forged_channel(str(tmp_path / f"forged-{n}.sock"), forged))
            attack = {"RELKIT_CLI": "1", "RELKIT_SECRETS_SOCKET": sock, "RELKIT_SECRETS_TOKEN": "any-token"}
            extra = {"relkit_run_id": run_id, "relkit_release": release_of(manifest)}
            done = ansible_playbook(project, manifest, extra, attack)
        assert_failed_at_the_gate(done)
        assert "promoted_from" in done.stdout and f"gate pass refused ({why})" in done.stdout
        assert_no_host_switched(tmp_path)
        # the refusal is in the ledger: the gates the play evaluated itself, and why
        rows = list(project.ledger.entries(kind="gate.evaluated", env="production"))
        assert len(rows) == n + 1, "the refused play left no record"
        row = rows[-1]
        assert (row.run_id, row.data["passed"]) == (run_id, False)
        assert (row.data["version"], row.data["sha256"]) == (m.version, m.artifact.sha256)
        assert row.data["gate_pass"] == f"refused: {why}"
        assert "promoted_from" in {g["name"] for g in row.data["gates"] if not g["passed"]}
    assert api.ledger_verify(project).ok


def test_overrides_of_a_blocked_run_do_not_carry_over_to_another_release(
    project: Project, tmp_path: Path, cli: Cli
) -> None:
    releases = project.root / "releases"
    old, new = releases / "1.0.0.yml", releases / "2.0.0.yml"
    staged = api.deploy(project, new, "staging", by="ops-demo")  # 2.0.0 passed staging; 1.0.0 never did
    _, report, _ = api.check_gates(project, new, "production", actor="ops-demo")
    failing = [r.name for r in report.failed]
    assert failing and "promoted_from" not in failing
    overrides = [arg for name in failing for arg in ("--override", name)]

    blocked = cli(
        "-C", project.root, "--as", "ops-demo", "-o", "json", "deploy", old, "--env", "production",
        *overrides, "--by", "dewi", "--reason", "hotfix 1.0.0 tonight",
    )  # fmt: skip
    assert blocked.code == 3, blocked.err  # 1.0.0 is blocked: promoted_from cannot be overridden
    rows = [e for e in project.ledger.entries(kind="gate.override", env="production")]
    assert sorted(e.data["gate"] for e in rows) == sorted(failing)
    run_id = rows[0].run_id
    assert run_id and {e.run_id for e in rows} == {run_id}
    # the same overrides given for 2.0.0 itself would pass it: they are the whole attack
    _, with_them, _ = api.check_gates(
        project, new, "production", actor="ops-demo",
        overrides=api.parse_overrides(project, failing, "dewi", "hotfix 1.0.0 tonight"),
    )  # fmt: skip
    assert with_them.passed

    done = ansible_playbook(project, new, {"relkit_run_id": run_id, "relkit_by": "ops-demo"})
    assert_failed_at_the_gate(done)
    assert_no_host_switched(tmp_path)
    last = list(project.ledger.entries(kind="gate.evaluated", env="production"))[-1]
    assert (last.run_id, last.data["version"], last.data["passed"]) == (run_id, "2.0.0", False)
    assert not [g for g in last.data["gates"] if g["overridden_by"]], "1.0.0's overrides applied to 2.0.0"
    m1 = load_manifest(old)
    rows = [e for e in project.ledger.entries(kind="gate.override", env="production")]
    assert len(rows) == len(failing)
    for row in rows:  # each override names the release it was given for
        assert (row.data["version"], row.data["sha256"]) == (m1.version, m1.artifact.sha256)
    # relkit's own staging play took its pass: one evaluation, recorded by relkit with the pass's digest
    [evaluated] = project.ledger.entries(kind="gate.evaluated", env="staging")
    assert (evaluated.run_id, evaluated.data["passed"]) == (staged.run_id, True)
    assert evaluated.data["pass_digest"] and "gate_pass" not in evaluated.data
    assert api.ledger_verify(project).ok


def test_a_forged_pass_opens_no_gate_even_for_a_release_that_passes(project: Project, tmp_path: Path) -> None:
    """Staging's gates pass for 1.0.0, yet a forged pass under RELKIT_CLI (where relkit's ledger
    callback is off, so nothing the play did would be recorded) stops the play at the gate."""
    manifest = project.root / "releases" / "1.0.0.yml"
    release = release_of(manifest)
    forged = {"run_id": "fake", "env": "staging", "manifest": str(manifest.resolve())}
    with forged_channel(str(tmp_path / "forged.sock"), forged) as sock:
        attack = {"RELKIT_CLI": "1", "RELKIT_SECRETS_SOCKET": sock, "RELKIT_SECRETS_TOKEN": "any-token"}
        done = ansible_playbook(
            project, manifest, {"relkit_run_id": "fake", "relkit_release": release}, attack, "staging"
        )
    assert_failed_at_the_gate(done, "gate pass refused")
    assert_no_host_switched(tmp_path, "staging", ("stage1",))
    [evaluated] = project.ledger.entries(kind="gate.evaluated", env="staging")
    assert (evaluated.run_id, evaluated.data["passed"]) == ("fake", True)
    assert evaluated.data["gate_pass"] == "refused: malformed pass"


def test_the_play_deploys_only_the_release_its_gates_were_checked_for(
    project: Project, tmp_path: Path
) -> None:
    """Plain ansible-playbook: the gates pass for 1.0.0 on staging, ``-e relkit_release`` names 2.0.0."""
    releases = project.root / "releases"
    done = ansible_playbook(
        project,
        releases / "1.0.0.yml",
        {"relkit_release": release_of(releases / "2.0.0.yml")},
        None,
        "staging",
    )
    assert_failed_at_the_gate(done, "the gates were checked for 1.0.0")
    assert_no_host_switched(tmp_path, "staging", ("stage1",))
    [evaluated] = project.ledger.entries(kind="gate.evaluated", env="staging")
    assert (evaluated.data["version"], evaluated.data["passed"]) == ("1.0.0", True)
