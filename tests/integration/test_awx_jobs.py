"""awx/relkit.json's job templates run the way an AWX job runs them, on real SSH hosts.

AWX cannot run here (no Kubernetes), so each test does what an AWX job does: the project (a
checkout of relkit's playbooks/ and roles/ with the release project in release/, and no
ansible.cfg at its root) is ansible-runner's project directory (AWX mounts it at
/runner/project), the playbook is the job template's, the inventory the one its inventory source
syncs from the project, the extra vars the job template's, the survey's answers and the awx_*
variables AWX adds, and the environment what AWX gives a job: awx/settings.json's AWX_TASK_ENV
(ANSIBLE_CONFIG, ANSIBLE_ROLES_PATH), ANSIBLE_ROLES_PATH composed as AWX composes it, and what
the credential types inject.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml

from relkit import api
from relkit.project import Project
from tests.sshhosts import SshHost
from tests.sshproject import signing_keys, write_project

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((REPO / "awx" / "relkit.json").read_text())
TASK_ENV: dict[str, str] = json.loads((REPO / "awx" / "settings.json").read_text())["AWX_TASK_ENV"]
AWX_ROOT = "/runner"  # the job's private data directory in the execution environment
AWX_MOUNT = "/runner/project"
ROLES_DEFAULT = "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles"


def awx_checkout(root: Path) -> Path:
    """What an AWX project update leaves in /runner/project: the repository's playbooks/ and
    roles/ (the release project goes into release/); the repository has no root ansible.cfg."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    root.mkdir(parents=True)
    shutil.copytree(REPO / "playbooks", root / "playbooks", ignore=skip)
    shutil.copytree(REPO / "roles", root / "roles", ignore=skip)
    return root


def job_env(task_env: dict[str, str], checkout: Path, private: Path) -> dict[str, str]:
    """The environment AWX's RunJob.build_env gives a job (awx/main/tasks/jobs.py): the
    AWX_TASK_ENV setting's variables, then ANSIBLE_ROLES_PATH rebuilt from Ansible's defaults
    with, ahead of them, AWX_TASK_ENV's ANSIBLE_ROLES_PATH (else the project root's ansible.cfg
    roles_path) and, first, /runner/requirements_roles. /runner/project is the checkout here,
    /runner the job's private data directory."""

    def here(value: str) -> str:
        def one(path: str) -> str:
            for inside, outside in ((AWX_MOUNT, checkout), (AWX_ROOT, private)):
                if path == inside or path.startswith(inside + "/"):
                    return str(outside) + path[len(inside) :]
            return path

        return ":".join(one(path) for path in value.split(":"))

    env = {name: here(str(value)) for name, value in task_env.items()}
    root_cfg = configparser.ConfigParser()
    root_cfg.read(checkout / "ansible.cfg")
    configured = env.get("ANSIBLE_ROLES_PATH") or root_cfg.get("defaults", "roles_path", fallback=None)
    paths = ROLES_DEFAULT.split(":")
    if configured:
        for path in configured.split(":"):
            if path not in paths:
                paths = [configured, *paths]
    env["ANSIBLE_ROLES_PATH"] = os.pathsep.join([here(f"{AWX_ROOT}/requirements_roles"), *paths])
    return env


class Awx:
    """Launches awx/relkit.json's job templates in ``checkout`` as AWX would, with AWX's
    AWX_TASK_ENV setting ``task_env`` (awx/settings.json's)."""

    def __init__(
        self,
        checkout: Path,
        work: Path,
        credentials: dict[str, str] | None = None,
        task_env: dict[str, str] | None = None,
    ) -> None:
        self.checkout, self.work, self.credentials = checkout, work, credentials or {}
        self.task_env = TASK_ENV if task_env is None else task_env
        self.jobs = 0

    def launch(
        self, template: str, answers: dict[str, Any], inventory_env: str, workflow_job: int | None = None
    ) -> Any:
        jt = next(t for t in DOCUMENT["job_templates"] if t["name"] == template)
        source = next(
            s for s in DOCUMENT["inventory_sources"] if s["inventory"]["name"] == f"relkit {inventory_env}"
        )
        self.jobs += 1
        job_id = 100 + self.jobs
        extra = {
            k: v.replace(AWX_MOUNT, str(self.checkout)) if isinstance(v, str) else v
            for k, v in yaml.safe_load(jt["extra_vars"]).items()
        }
        awx_vars: dict[str, Any] = {
            "awx_job_id": job_id,
            "awx_job_template_id": 7,
            "awx_job_template_name": template,
            "awx_job_launch_type": "workflow" if workflow_job else "manual",
            "awx_user_name": "alice",
            "awx_inventory_name": f"relkit {inventory_env}",
            "tower_job_id": job_id,
        }
        if workflow_job:
            awx_vars |= {"awx_workflow_job_id": workflow_job, "awx_workflow_job_name": "relkit release"}
        private = self.work / f"job-{job_id}"
        private.mkdir(parents=True)
        run = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(self.checkout),
            playbook=jt["playbook"],
            inventory=str(self.checkout / source["source_path"]),
            extravars={**extra, **answers, **awx_vars},
            envvars={**job_env(self.task_env, self.checkout, private), **self.credentials},
            quiet=True,
        )
        run.job_id = job_id
        return run


def live(host: SshHost) -> str:
    return host.ssh("readlink /opt/webapp/current || echo none").stdout.strip()


def stdout(run: Any) -> str:
    with run.stdout as out:
        return str(out.read())


@pytest.fixture
def awx(
    ssh_pool_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Awx, Project, SshHost, SshHost]:
    for name in list(os.environ):
        if name.startswith("RELKIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the execution environment's relkit and ansible
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    stage, prod = ssh_pool_factory(2).hosts
    checkout = awx_checkout(tmp_path / "checkout")
    release = write_project(
        checkout / "release",
        {"staging": [stage], "production": [prod]},
        promote={"production": "staging"},
        config={"policy": {"notice_lead_hours": 0}},
    )
    signing_keys(release)
    return Awx(checkout, tmp_path / "runner"), Project.load(release), stage, prod


def run_started(project: Project, job_id: int) -> Any:
    with project:
        started = [
            e
            for e in api.ledger_entries(project, kind="run.started")
            if e.data.get("awx", {}).get("job_id") == job_id
        ]
    assert len(started) == 1, f"no run.started of AWX job {job_id}"
    return started[0]


def relkit_cli(
    project: Project, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relkit", "-C", str(project.root), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_deploy_rollback_and_health_job_templates(awx) -> None:
    runner, project, stage, prod = awx
    first = runner.launch(
        "relkit deploy", {"relkit_env": "staging", "relkit_manifest": "releases/1.0.0.yml"}, "staging"
    )
    assert first.status == "successful", stdout(first)[-3000:]
    assert live(stage) == "releases/1.0.0" and live(prod) == "none"
    second = runner.launch(
        "relkit deploy",
        {"relkit_env": "staging", "relkit_manifest": "releases/2.0.0.yml"},
        "staging",
        workflow_job=900,
    )
    assert second.status == "successful", stdout(second)[-3000:]
    assert live(stage) == "releases/2.0.0"

    started = run_started(project, second.job_id)
    assert started.env == "staging" and started.data["action"] == "deploy" and started.data["direct"] is True
    assert started.data["by"] != "alice"  # the AWX account name is a claim (awx.awx_user), not who acts
    assert started.data["awx"] == {
        "job_id": second.job_id,
        "job_template_id": 7,
        "job_template": "relkit deploy",
        "launch_type": "workflow",
        "workflow_job_id": 900,
        "workflow_job": "relkit release",
        "inventory": "relkit staging",
        "awx_user": "alice",
        "claimed": ["awx_user"],
    }
    with project:
        switched = [
            e for e in api.ledger_entries(project, kind="host.switched") if e.run_id == started.run_id
        ]
        assert [(e.host, e.data["version"]) for e in switched] == [("web1", "2.0.0")]
        gates = [e for e in api.ledger_entries(project, kind="gate.evaluated") if e.run_id == started.run_id]
        assert [e.data["passed"] for e in gates] == [True]

    back = runner.launch("relkit rollback", {"relkit_env": "staging", "relkit_rollback_to": ""}, "staging")
    assert back.status == "successful", stdout(back)[-3000:]
    assert live(stage) == "releases/1.0.0"
    rolled = run_started(project, back.job_id)
    assert rolled.data["action"] == "rollback" and rolled.data["awx"]["job_template"] == "relkit rollback"
    with project:
        switched = [e for e in api.ledger_entries(project, kind="host.switched") if e.run_id == rolled.run_id]
        finished = [e for e in api.ledger_entries(project, kind="run.finished") if e.run_id == rolled.run_id]
    assert [(e.host, e.data["version"]) for e in switched] == [("web1", "1.0.0")]
    assert [e.data["status"] for e in finished] == ["successful"]

    health = runner.launch("relkit health", {"relkit_env": "staging"}, "staging")
    assert health.status == "successful", stdout(health)[-3000:]
    assert run_started(project, health.job_id).data["action"] == "health"

    verified = relkit_cli(project, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_awx_settings_are_what_make_a_job_work(awx) -> None:
    """Without awx/settings.json's AWX_TASK_ENV an AWX job finds neither relkit's ansible.cfg (the
    project root has none) nor its roles; with it, ANSIBLE_CONFIG names playbooks/ansible.cfg and
    AWX puts its ANSIBLE_ROLES_PATH ahead of its own defaults."""
    runner, project, stage, _ = awx
    answers = {"relkit_env": "staging", "relkit_manifest": "releases/1.0.0.yml"}
    assert not (runner.checkout / "ansible.cfg").exists()
    env = job_env(TASK_ENV, runner.checkout, runner.work / "job")
    assert env["ANSIBLE_CONFIG"] == str(runner.checkout / "playbooks" / "ansible.cfg")
    assert env["ANSIBLE_ROLES_PATH"].split(":")[1:3] == [str(runner.checkout / "roles"), "~/.ansible/roles"]

    runner.task_env = {}
    bare = runner.launch("relkit deploy", answers, "staging")
    assert bare.status == "failed" and "the role 'relkit_deploy' was not found" in stdout(bare)
    assert live(stage) == "none"

    runner.task_env = TASK_ENV
    job = runner.launch("relkit deploy", answers, "staging")
    assert job.status == "successful", stdout(job)[-3000:]
    assert live(stage) == "releases/1.0.0"
    assert run_started(project, job.job_id).data["awx"]["job_template"] == "relkit deploy"


def test_bad_survey_answers_are_refused_with_no_host_changed(awx) -> None:
    runner, project, stage, prod = awx
    unknown = runner.launch(
        "relkit deploy", {"relkit_env": "prod", "relkit_manifest": "releases/1.0.0.yml"}, "production"
    )
    assert unknown.status == "failed" and "unknown environment 'prod'" in stdout(unknown)
    outside = runner.launch(
        "relkit deploy", {"relkit_env": "staging", "relkit_manifest": "../../../../etc/passwd"}, "staging"
    )
    assert outside.status == "failed" and "leads outside the project" in stdout(outside)
    # the gates are staging's: the job's inventory must be staging's too
    elsewhere = runner.launch(
        "relkit deploy", {"relkit_env": "staging", "relkit_manifest": "releases/1.0.0.yml"}, "production"
    )
    assert elsewhere.status == "failed" and "does not name: web2" in stdout(elsewhere)
    # production: deploys are signed (promote_from), and the AWX account name signs nothing
    unsigned = runner.launch(
        "relkit deploy", {"relkit_env": "production", "relkit_manifest": "releases/1.0.0.yml"}, "production"
    )
    assert unsigned.status == "failed" and "must be signed by the person doing it" in stdout(unsigned)
    rollback = runner.launch(
        "relkit rollback", {"relkit_env": "production", "relkit_rollback_to": ""}, "production"
    )
    assert rollback.status == "failed" and "must be signed by the person doing it" in stdout(rollback)
    assert (live(stage), live(prod)) == ("none", "none")
    with project:
        assert api.ledger_entries(project, kind="host.switched") == []
        assert api.ledger_verify(project).ok


def test_the_workflow_production_node_is_still_gated_by_relkit(awx) -> None:
    """The workflow's nodes: staging, AWX's approval, production signed with the relkit signing key
    credential. AWX's approval is not relkit's: production stays blocked by relkit's gates (the
    signed QA and PO approvals in the ledger, the notice, the window) and no production host moves."""
    runner, project, stage, prod = awx
    workflow = DOCUMENT["workflow_job_templates"][0]
    nodes = {n["identifier"]: n for n in workflow["related"]["workflow_nodes"]}
    key_type = next(t for t in DOCUMENT["credential_types"] if t["name"] == "relkit signing key")
    key_file = str(project.root / "keys" / "ops")  # the injector writes the key into tower.filename
    key_vars = {
        k: v.replace("{{ tower.filename }}", key_file) for k, v in key_type["injectors"]["extra_vars"].items()
    }
    manifest = {"relkit_manifest": "releases/1.0.0.yml"}  # the workflow survey's answer

    staged = runner.launch(
        "relkit deploy", {**nodes["deploy-staging"]["extra_data"], **manifest}, "staging", 902
    )
    assert staged.status == "successful", stdout(staged)[-3000:]
    assert live(stage) == "releases/1.0.0"
    production = {**nodes["deploy-production"]["extra_data"], **manifest, **key_vars}
    blocked = runner.launch("relkit deploy", production, "production", 902)
    out = stdout(blocked)
    assert blocked.status == "failed" and "blocked by the gates (production)" in out
    why = out[out.index("blocked by the gates (production)") :].split('"')[0]
    assert "approvals:" in why and "promoted_from" not in why  # staging's smoke counts for promotion
    assert live(prod) == "none"
    with project:
        acts = [e for e in api.ledger_entries(project, kind="act.signed") if e.env == "production"]
        gates = api.ledger_entries(project, kind="gate.evaluated", env="production")
        assert [(e.data["act"], e.data["principal"]) for e in acts] == [("deploy", "ops")]
        assert [e.data["passed"] for e in gates] == [False]
        assert run_started(project, blocked.job_id).data["awx"]["workflow_job_id"] == 902
        assert api.ledger_verify(project).ok


def test_the_ledger_credential_type_injects_what_relkit_reads(awx, shared_ledger) -> None:
    runner, project, stage, _ = awx
    ledger_type = next(t for t in DOCUMENT["credential_types"] if t["name"] == "relkit shared ledger")
    inputs = {"ledger_url": shared_ledger.url, "ledger_password": shared_ledger.password}
    injected = {name: template for name, template in ledger_type["injectors"]["env"].items()}
    for field, value in inputs.items():
        injected = {name: t.replace("{{ " + field + " }}", value) for name, t in injected.items()}
    assert relkit_cli(project, "ledger", "init", env=injected).returncode == 0

    runner.credentials = injected
    job = runner.launch(
        "relkit deploy", {"relkit_env": "staging", "relkit_manifest": "releases/1.0.0.yml"}, "staging"
    )
    assert job.status == "successful", stdout(job)[-3000:]
    assert live(stage) == "releases/1.0.0"
    assert not (project.root / "state" / "ledger.db").exists(), "recorded in SQLite, not the shared ledger"

    os.environ.update(injected)  # the test's own reads go to the shared ledger as well
    try:
        shared = Project.load(project.root)
        started = run_started(shared, job.job_id)
        assert started.data["awx"]["awx_user"] == "alice"
    finally:
        for name in injected:
            os.environ.pop(name, None)
    verified = relkit_cli(project, "ledger", "verify", env=injected)
    assert verified.returncode == 0, verified.stdout + verified.stderr
