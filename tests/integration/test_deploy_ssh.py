"""End to end over real SSH: deploy 1.0.0 then 2.0.0 to two hosts, roll back, check hosts and ledger."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import testinfra

from relkit import api
from relkit.errors import GateBlocked, Locked, PlayFailed
from relkit.project import Project
from relkit.store.locks import hold
from tests.sshhosts import SshHost
from tests.sshproject import APP_PORT, signing_keys, write_project

pytestmark = pytest.mark.integration


def infra_for(host: SshHost):
    """A testinfra host over real ssh."""
    args = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
    return testinfra.get_host(
        f"ssh://root@{host.address}", ssh_identity_file=str(host.client_key), ssh_extra_args=args
    )


def app_version(host: SshHost) -> str:
    """Ask the app on ``host`` over HTTP which version it runs."""
    with urllib.request.urlopen(f"http://{host.address}:{APP_PORT}/health", timeout=5) as resp:
        return json.load(resp)["version"]


def assert_live(host: SshHost, version: str) -> None:
    """current resolves to a complete release of ``version`` and the app answers with it."""
    infra = infra_for(host)
    current = infra.file("/opt/webapp/current")
    assert current.is_symlink
    assert current.linked_to == f"/opt/webapp/releases/{version}"
    marker = json.loads(infra.file(f"/opt/webapp/releases/{version}/.relkit-release.json").content_string)
    assert marker["version"] == version
    assert infra.file("/opt/webapp/current/data").linked_to == "/opt/webapp/shared/data"
    assert not [p for p in infra.file("/opt/webapp/releases").listdir() if p.startswith(".partial")]
    assert app_version(host) == version


@pytest.fixture
def project(ssh_pool_factory, tmp_path: Path) -> tuple[Project, list[SshHost]]:
    pool = ssh_pool_factory(2)
    root = write_project(tmp_path / "project", {"staging": pool.hosts})
    return Project.load(root), pool.hosts


def test_deploy_upgrade_rollback_over_ssh(project: tuple[Project, list[SshHost]]) -> None:
    proj, hosts = project
    releases = proj.root / "releases"
    api.prepare(proj, "staging", releases / "1.0.0.yml", by="ops")

    first = api.deploy(proj, releases / "1.0.0.yml", "staging", by="ops")
    assert first.ok and first.hosts == {"web1": "ok", "web2": "ok"}
    for host in hosts:
        assert_live(host, "1.0.0")

    api.deploy(proj, releases / "2.0.0.yml", "staging", by="ops")
    for host in hosts:
        assert_live(host, "2.0.0")
        history = infra_for(host).file("/opt/webapp/.relkit/history.jsonl").content_string
        assert [json.loads(line)["version"] for line in history.splitlines()] == ["1.0.0", "2.0.0"]

    back = api.rollback(proj, "staging", by="alice", reason="login broken")
    assert back.rolled_back == {"web1": "1.0.0", "web2": "1.0.0"}
    for host in hosts:
        assert_live(host, "1.0.0")

    live = api.status(proj).live["staging"]
    assert {h: r.version for h, r in live.items()} == {"web1": "1.0.0", "web2": "1.0.0"}
    assert {r.by for r in live.values()} == {"alice"}
    kinds = [e.kind for e in api.ledger_entries(proj)]
    assert kinds.count("run.started") == kinds.count("run.finished") == 4
    assert kinds.count("host.switched") == 6
    requested = api.ledger_entries(proj, kind="rollback.requested")
    assert [(e.data["by"], e.data["reason"]) for e in requested] == [("alice", "login broken")]
    results = api.ledger_entries(proj, kind="task.result")
    assert {e.host for e in results} == {"web1", "web2"}
    assert {e.data["status"] for e in results} <= {"ok", "skipped"}
    assert api.ledger_verify(proj).ok


def test_redeploy_skips_upload_and_switch(project: tuple[Project, list[SshHost]]) -> None:
    proj, hosts = project
    manifest = proj.root / "releases" / "1.0.0.yml"
    api.deploy(proj, manifest, "staging", by="ops")
    api.deploy(proj, manifest, "staging", by="ops", full_play=True)
    last_run = api.ledger_entries(proj, kind="run.finished")[-1].run_id
    tasks = [e for e in api.ledger_entries(proj, kind="task.result") if e.run_id == last_run]
    # the install task transfers the artifact itself: skipped, nothing is uploaded
    install = [e for e in tasks if e.data["task"].startswith("Install (upload")]
    assert {e.data["status"] for e in install} == {"skipped"} and len(install) == len(hosts)
    switch = [e for e in tasks if e.data["task"].startswith("Switch")]
    assert {e.data["changed"] for e in switch} == {False}
    for host in hosts:
        assert_live(host, "1.0.0")


def _run_tasks(proj: Project, run_id: str) -> list[tuple[str, str, str]]:
    return [
        (e.host, e.data["task"], e.data["status"])
        for e in api.ledger_entries(proj, kind="task.result")
        if e.run_id == run_id
    ]


def _gate_task_result(report: api.RunReport) -> dict:
    """What the play's relkit_gate task returned (from ansible-runner's event files)."""
    for path in Path(report.artifacts).glob("job_events/*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        if event["event"] == "runner_on_ok" and data.get("task") == "Check the release gates":
            return data["res"]
    raise AssertionError("no gate task result")


def test_redeploy_of_a_live_release_is_a_quick_check(project: tuple[Project, list[SshHost]]) -> None:
    proj, hosts = project
    manifest = proj.root / "releases" / "1.0.0.yml"
    first = api.deploy(proj, manifest, "staging", by="ops")
    assert first.details["quick_check"]["used"] is False
    assert first.details["quick_check"]["host_cards"] == "kept"
    # the play trusted this run's gate pass instead of evaluating the gates again
    assert _gate_task_result(first)["gates"] == {"checked_by_run": first.run_id}

    again = api.deploy(proj, manifest, "staging", by="ops")
    assert again.ok and again.hosts == {"web1": "ok", "web2": "ok"}
    assert again.details["quick_check"]["used"] is True
    assert not list((proj.state_dir / "runs").glob(f"{again.run_id}-*"))  # no play ran
    assert _run_tasks(proj, again.run_id) == [
        (h, "Verify 1.0.0 is live (quick check, no play)", "ok") for h in ("web1", "web2")
    ]
    smoke = [e for e in api.ledger_entries(proj, kind="smoke.result") if e.run_id == again.run_id]
    assert [e.data["passed"] for e in smoke] == [True]
    assert {h: [c["name"] for c in cs] for h, cs in smoke[0].data["checks"].items()} == {
        "web1": ["health", "port"],
        "web2": ["health", "port"],
    }

    # the app on web2 died: the quick check says so, and the full play restarts it
    hosts[1].ssh("kill $(cat /opt/webapp/shared/app.pid); sleep 0.3")
    third = api.deploy(proj, manifest, "staging", by="ops")
    assert third.details["quick_check"]["used"] is False
    assert third.details["quick_check"]["why_not"].startswith("web2: smoke: health: no answer")
    assert [t for t in _run_tasks(proj, third.run_id) if t[1].startswith("Switch") and t[2] == "ok"] == [
        ("web2", "Switch (after data snapshot and migrate), restart and smoke-test 1.0.0", "ok")
    ]
    assert_live(hosts[1], "1.0.0")

    # a changed inventory voids the host cards until a play has run with it
    inventory = proj.inventory("staging")
    inventory.write_text(inventory.read_text() + "# edited\n")
    fourth = api.deploy(proj, manifest, "staging", by="ops")
    assert fourth.details["quick_check"]["why_not"].startswith("relkit.yml, the inventory or the environment")
    assert api.deploy(proj, manifest, "staging", by="ops").details["quick_check"]["used"] is True

    forced = api.deploy(proj, manifest, "staging", by="ops", full_play=True)
    assert forced.details["quick_check"] == {  # the same keys in every outcome (--output json)
        "used": False,
        "found": None,
        "why_not": "not tried (--full-play)",
        "host_cards": "kept",
    }
    for host in hosts:
        assert_live(host, "1.0.0")
    assert api.ledger_verify(proj).ok


def test_failed_smoke_rolls_back_and_exit_4(project: tuple[Project, list[SshHost]]) -> None:
    proj, hosts = project
    releases = proj.root / "releases"
    api.deploy(proj, releases / "2.0.0.yml", "staging", by="ops")
    with pytest.raises(PlayFailed) as failure:
        api.deploy(proj, releases / "3.0.0.yml", "staging", by="ops")
    assert failure.value.exit_code == 4
    assert failure.value.result.rolled_back == {"web1": "2.0.0", "web2": "2.0.0"}
    for host in hosts:
        assert_live(host, "2.0.0")
    smoke = api.ledger_entries(proj, kind="smoke.result")
    assert [e.data["passed"] for e in smoke] == [True, False, True]


def test_production_needs_staging_smoke_and_lock_blocks(ssh_pool_factory, tmp_path: Path) -> None:
    pool = ssh_pool_factory(2)
    stage, prod = pool.hosts
    root = write_project(
        tmp_path / "p",
        {"staging": [stage], "production": [prod]},
        promote={"production": "staging"},
        # this test is about promotion and the lock: the rest of the SOP is test_sop_gates.py's
        config={"policy": {"gates": {"deploy:production": ["manifest_valid", "promoted_from"]}}},
    )
    keys = signing_keys(root)  # production deploys are signed: ops's key (relkit-ops)
    proj = Project.load(root)
    manifest = root / "releases" / "1.0.0.yml"
    with pytest.raises(GateBlocked) as blocked:
        api.deploy(proj, manifest, "production", by="ops", key=keys["ops"])
    assert blocked.value.exit_code == 3
    assert [g.name for g in blocked.value.report.failed] == ["promoted_from"]
    assert not infra_for(prod).file("/opt/webapp/current").exists

    with hold(proj.state_dir, "staging", "other-run", "deploy"), pytest.raises(Locked) as locked:
        api.deploy(proj, manifest, "staging", by="ops")
    assert "other-run" in str(locked.value) and locked.value.exit_code == 6
    assert not infra_for(stage).file("/opt/webapp/current").exists

    api.deploy(proj, manifest, "staging", by="ops")
    done = api.deploy(proj, manifest, "production", by="ops", key=keys["ops"])
    assert_live(prod, "1.0.0")
    signed = [e for e in api.ledger_entries(proj, kind="act.signed", env="production")]
    assert [(e.data["act"], e.data["principal"]) for e in signed] == [("deploy", "ops")] * 2
    assert signed[-1].run_id == done.run_id
    assert api.ledger_verify(proj).ok


def test_prepare_reports_each_hosts_shortfall(project: tuple[Project, list[SshHost]]) -> None:
    proj, hosts = project
    manifest = proj.root / "releases" / "1.0.0.yml"
    text = manifest.read_text().replace("disk_mb: 100", "disk_mb: 900000000").replace("cpu: 1", "cpu: 4096")
    greedy = proj.root / "releases" / "greedy.yml"
    greedy.write_text(text)
    with pytest.raises(PlayFailed) as failure:
        api.prepare(proj, "staging", greedy, by="ops")
    message = str(failure.value)
    for host in hosts:
        assert f"{host.name}: cpu: needs 4096" in message
    assert "disk_mb: needs 900000000 MiB" in message
    shortfalls = api.ledger_entries(proj, kind="prepare.result")[-1].data["shortfalls"]
    assert sorted(shortfalls) == ["web1", "web2"]
    api.prepare(proj, "staging", manifest, by="ops")
    assert infra_for(hosts[0]).file("/opt/webapp/releases").is_directory


def test_rollback_to_named_version(project: tuple[Project, list[SshHost]]) -> None:
    proj, hosts = project
    releases = proj.root / "releases"
    for version in ("1.0.0", "2.0.0"):
        api.deploy(proj, releases / f"{version}.yml", "staging", by="ops")
    api.rollback(proj, "staging", by="alice", reason="back to 1", to="1.0.0")
    for host in hosts:
        assert_live(host, "1.0.0")
    report = api.rollback(proj, "staging", by="alice", reason="forward again", to="2.0.0")
    assert report.rolled_back == {"web1": "2.0.0", "web2": "2.0.0"}
    for host in hosts:
        assert_live(host, "2.0.0")
    # retried: both hosts are on 2.0.0 and healthy, so nothing is switched or restarted
    pids = [h.ssh("cat /opt/webapp/shared/app.pid").stdout for h in hosts]
    again = api.rollback(proj, "staging", by="alice", reason="retry", to="2.0.0")
    assert again.ok and again.rolled_back == {} and again.details["already_live"] == ["web1", "web2"]
    assert [h.ssh("cat /opt/webapp/shared/app.pid").stdout for h in hosts] == pids
    smoke = api.ledger_entries(proj, kind="smoke.result")[-1]
    assert smoke.run_id == again.run_id and smoke.data["passed"] is True
