"""Nobody deploys past the gates with a forged gate pass or another release's overrides.

Each attack is carried out for real: a real ``ansible-playbook`` (the one in this venv) runs
playbooks/deploy.yml against the example project's local production "hosts" (prod1, prod2 under
tmp_path; production has ``promote_from: staging``).

A. A Unix socket server of the attacker's answers any token with a gate pass, and the play is
   started with ``RELKIT_CLI=1`` and ``RELKIT_SECRETS_SOCKET`` pointing at it: a release that
   never passed staging must still be refused at the gate task, and the ledger must say so.
B. The PO signed overrides for 1.0.0 (``relkit override``), a signed deploy of 1.0.0 was still
   blocked by the gates and recorded them for its run; a later play for 2.0.0 naming that run id
   must not get them.

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
from tests.support.fixtures import SshKeys, stop_app
from tests.support.notifysinks import free_port

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
PROD_HOSTS = ("prod1", "prod2")
GATE_PASS = "relkit:gate-pass"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


@pytest.fixture
def project(local_staging: Project, tmp_path: Path, ssh_keys: SshKeys) -> Iterator[Project]:
    """The local example project, production's two hosts on free ports (apps stopped afterwards);
    its allowed_signers: sari (QA), dewi (PO), ops-demo (ops)."""
    ssh_keys.allowed_signers(local_staging.root / local_staging.config.approvals.allowed_signers)
    inventory = tmp_path / "inventory" / "local" / "production.yml"
    data = yaml.safe_load(inventory.read_text())
    for host in PROD_HOSTS:
        data["production"]["hosts"][host]["app_port"] = free_port()
    inventory.write_text(yaml.safe_dump(data))
    yield local_staging
    for host in PROD_HOSTS:  # only an attack that got through started these
        stop_app(host_dir(tmp_path, host))


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


def test_a_forged_gate_pass_does_not_open_the_gate(
    project: Project, tmp_path: Path, ssh_keys: SshKeys
) -> None:
    """Even an operator signing the play with her own (allowed) key gets no gate opened by a
    forged pass."""
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
            extra = {
                "relkit_run_id": run_id,
                "relkit_release": release_of(manifest),
                "relkit_key": str(ssh_keys.key("ops-demo")),
            }
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
    project: Project, tmp_path: Path, cli: Cli, ssh_keys: SshKeys
) -> None:
    releases = project.root / "releases"
    old, new = releases / "1.0.0.yml", releases / "2.0.0.yml"
    m1, m2 = load_manifest(old), load_manifest(new)
    staged = api.deploy(project, new, "staging", by="ops-demo")  # 2.0.0 passed staging; 1.0.0 never did
    _, report, _ = api.check_gates(project, new, "production", actor="ops-demo")
    failing = [r.name for r in report.failed]
    assert failing and "promoted_from" not in failing

    for gate in failing:  # the PO passes each of them for 1.0.0 on production: signed acts
        given = cli(
            "-C", project.root, "override", old, "--env", "production", "--gate", gate,
            "--reason", "hotfix 1.0.0 tonight", "--key", ssh_keys.key("dewi"),
        )  # fmt: skip
        assert given.code == 0, given.err
    signed = [e for e in project.ledger.entries(kind="act.signed", env="production")]
    assert sorted(e.data["statement"]["gate"] for e in signed) == sorted(failing)
    for act in signed:  # each names the release it was given for, and the PO's key signed it
        assert (act.data["act"], act.data["principal"]) == ("override", "dewi")
        assert (act.data["statement"]["version"], act.data["statement"]["sha256"]) == (
            m1.version,
            m1.artifact.sha256,
        )

    blocked = cli(
        "-C", project.root, "--as", "ops-demo", "-o", "json", "deploy", old, "--env", "production",
        "--key", ssh_keys.key("ops-demo"),
    )  # fmt: skip
    assert blocked.code == 3, blocked.err  # 1.0.0 is blocked: promoted_from cannot be overridden
    rows = [e for e in project.ledger.entries(kind="gate.override", env="production")]
    assert sorted(e.data["gate"] for e in rows) == sorted(failing)
    assert {(e.data["by"], e.data["reason"]) for e in rows} == {("dewi", "hotfix 1.0.0 tonight")}
    run_id = rows[0].run_id
    assert run_id and {e.run_id for e in rows} == {run_id}
    [deploy_act] = [e for e in project.ledger.entries(kind="act.signed") if e.data["act"] == "deploy"]
    assert (deploy_act.run_id, deploy_act.data["principal"]) == (run_id, "ops-demo")
    # the same overrides given for 2.0.0 itself would pass it: they are the whole attack
    recorded = api.overrides_of_run(project, "production", run_id, m1.version, m1.artifact.sha256)
    assert sorted({o.gate for o in recorded}) == sorted(failing)
    _, with_them, _ = api.check_gates(project, new, "production", actor="ops-demo", overrides=recorded)
    assert with_them.passed
    # ... but for 2.0.0 neither the signed overrides nor the run's records are found
    assert api.overrides_of_run(project, "production", run_id, m2.version, m2.artifact.sha256) == []

    done = ansible_playbook(
        project, new, {"relkit_run_id": run_id, "relkit_key": str(ssh_keys.key("ops-demo"))}
    )
    assert_failed_at_the_gate(done)
    assert_no_host_switched(tmp_path)
    last = list(project.ledger.entries(kind="gate.evaluated", env="production"))[-1]
    assert (last.run_id, last.data["version"], last.data["passed"]) == (run_id, "2.0.0", False)
    assert not [g for g in last.data["gates"] if g["overridden_by"]], "1.0.0's overrides applied to 2.0.0"
    rows = [e for e in project.ledger.entries(kind="gate.override", env="production")]
    assert len(rows) == len(failing)
    for row in rows:  # each override names the release it was given for
        assert (row.data["version"], row.data["sha256"]) == (m1.version, m1.artifact.sha256)
    # relkit's own staging play took its pass: one evaluation, recorded by relkit with the pass's digest
    [evaluated] = project.ledger.entries(kind="gate.evaluated", env="staging")
    assert (evaluated.run_id, evaluated.data["passed"]) == (staged.run_id, True)
    assert evaluated.data["pass_digest"] and "gate_pass" not in evaluated.data
    verified = api.ledger_verify(project)  # the chain, and every signed act (overrides, the deploy)
    # the overrides, the signed 1.0.0 deploy, and the play's signed 2.0.0 deploy
    assert (verified.ok, verified.signed_acts) == (True, len(failing) + 2)


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


def test_a_plain_ansible_playbook_deploy_to_production_is_a_signed_act_too(
    project: Project, tmp_path: Path, ssh_keys: SshKeys
) -> None:
    """Without relkit, a production deploy still needs the deployer's key (-e relkit_key=PATH):
    a typed relkit_by proves nothing."""
    manifest = project.root / "releases" / "2.0.0.yml"
    done = ansible_playbook(project, manifest, {"relkit_by": "bob"})
    assert_failed_at_the_gate(done, "must be signed by the person doing it")
    done = ansible_playbook(project, manifest, {"relkit_by": "bob", "relkit_key": str(ssh_keys.key("sari"))})
    assert_failed_at_the_gate(done, "'bob' is not the signer")
    assert list(project.ledger.entries(kind="act.signed")) == []
    assert list(project.ledger.entries(kind="gate.evaluated", env="production")) == []

    done = ansible_playbook(project, manifest, {"relkit_key": str(ssh_keys.key("ops-demo"))})
    assert_failed_at_the_gate(done)  # signed: now the gates speak (2.0.0 never passed staging)
    assert_no_host_switched(tmp_path)
    [act] = project.ledger.entries(kind="act.signed")
    assert (act.data["act"], act.data["principal"], act.data["statement"]["version"]) == (
        "deploy",
        "ops-demo",
        "2.0.0",
    )
    [evaluated] = project.ledger.entries(kind="gate.evaluated", env="production")
    assert evaluated.run_id == act.run_id and evaluated.data["passed"] is False
