"""The play-driven use cases end to end through the real plays (local connection, no SSH):
prepare, deploy, redeploy, a failed deploy rolled back, rollback and health, each checked in
what it returns and in what it records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.project import Project


def kinds(project: Project, run_id: str) -> list[str]:
    return [e.kind for e in project.ledger.entries() if e.run_id == run_id]


def test_prepare_deploy_rollback_and_health_run_the_real_plays(local_staging: Project) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    prepared = api.prepare(project, "staging", releases / "1.0.0.yml", by="ops")
    assert (prepared.ok, prepared.hosts, prepared.version) == (True, {"stage1": "ok"}, "1.0.0")
    [check] = project.ledger.entries(kind="prepare.result")
    assert check.data["passed"] is True and check.data["shortfalls"] == {}

    first = api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    assert (first.ok, first.hosts, first.rolled_back) == (True, {"stage1": "ok"}, {})
    [switch] = project.ledger.entries(kind="host.switched")
    assert (switch.host, switch.data["version"], switch.data["previous"], switch.data["by"]) == (
        "stage1",
        "1.0.0",
        None,
        "ops",
    )
    [smoke] = project.ledger.entries(kind="smoke.result")
    assert smoke.data["passed"] is True and smoke.data["failed"] == []
    assert [c["name"] for c in smoke.data["checks"]["stage1"]] == ["health", "port"]
    steps = [k for k in kinds(project, first.run_id) if k != "task.result" and not k.startswith("gate.")]
    assert steps == [
        "run.started",
        "host.switched",
        "smoke.result",
        "run.finished",
    ]  # no data yet: no snapshot
    assert "task.result" in kinds(project, first.run_id)

    second = api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
    assert second.ok
    switches = list(project.ledger.entries(kind="host.switched"))
    assert [(e.data["version"], e.data["previous"]) for e in switches] == [
        ("1.0.0", None),
        ("2.0.0", "1.0.0"),
    ]
    taken = [e for e in project.ledger.entries(kind="snapshot.taken") if e.run_id == second.run_id]
    assert [(e.host, e.data["purpose"]) for e in taken] == [("stage1", "deploy")]

    back = api.rollback(project, "staging", by="dewi", reason="login broken")
    assert (back.ok, back.rolled_back) == (True, {"stage1": "1.0.0"})
    assert back.details["targets"] == {"stage1": "1.0.0"} and back.details["already_live"] == []
    data = back.details["data"]["stage1"]
    assert set(data) == {"at_rollback", "restored"} and data["restored"] != data["at_rollback"]
    [restored] = project.ledger.entries(kind="snapshot.restored")
    assert (restored.data["id"], restored.data["version"], restored.data["replaced"]) == (
        data["restored"],
        "1.0.0",
        "2.0.0",
    )
    assert api.status(project).live["staging"]["stage1"].version == "1.0.0"

    health = api.health(project, "staging", by="ops")
    assert (health.status, health.skipped) == ("ok", "")
    assert health.hosts["stage1"].version == "1.0.0"
    names = {c["name"] for c in health.hosts["stage1"].checks}
    assert names == {"health", "port", "latency", "errors", "disk", "memory"}  # disk, memory: defaults
    [recorded] = project.ledger.entries(kind="health.result")
    assert recorded.run_id == health.run_id and recorded.data["status"] == "ok"

    finished = {e.run_id: e.data["status"] for e in project.ledger.entries(kind="run.finished")}
    started = [e.run_id for e in project.ledger.entries(kind="run.started")]
    assert [finished[r] for r in started] == ["successful"] * 4 + ["ok"]  # health ends with its status
    assert project.ledger.verify().ok


def test_a_deploy_whose_smoke_test_fails_is_rolled_back_by_the_real_play(local_staging: Project) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    with pytest.raises(api.PlayFailed) as failed:
        api.deploy(project, releases / "3.0.0.yml", "staging", by="ops")  # 3.0.0's /health fails
    report = failed.value.result
    assert report is not None and (report.ok, report.rolled_back) == (False, {"stage1": "1.0.0"})
    assert "rolled back stage1 to 1.0.0" in str(failed.value)
    smoke = [e.data for e in project.ledger.entries(kind="smoke.result") if e.run_id == report.run_id]
    assert [(s["version"], s["passed"], s["failed"]) for s in smoke] == [
        ("3.0.0", False, ["stage1"]),
        (None, True, []),
    ]
    [end] = [e for e in project.ledger.entries(kind="run.finished") if e.run_id == report.run_id]
    assert end.data["status"] == "rolled_back" and end.data["rolled_back"] == {"stage1": "1.0.0"}
    assert api.status(project).live["staging"]["stage1"].version == "1.0.0"


def test_the_project_store_is_one_connection_closed_with_the_project(local_staging: Project) -> None:
    project = Project.load(local_staging.root)
    store = project.ledger
    assert project.ledger is store
    store.append("test.opened")
    assert store._conn is not None  # type: ignore[attr-defined]
    project.close()
    assert store._conn is None  # type: ignore[attr-defined]
    assert [e.kind for e in Project.load(Path(local_staging.root)).ledger.entries()] == ["test.opened"]


VARS = "{{ relkit_version }} {{ relkit_env }} {{ relkit_app }} {{ relkit_run_id }} {{ relkit_deploy_path }}"


def test_every_play_gives_relkit_yml_strings_the_documented_variables(local_staging: Project) -> None:
    """The start command, a smoke check and a health check write the documented variables as each play
    templates them: deploy, a second deploy, a rollback (the version rolled back TO, found on the host)
    and a health run (the version live on the host) all provide the same ones."""
    project, releases = local_staging, local_staging.root / "releases"
    config_path = project.root / "relkit.yml"
    config = yaml.safe_load(config_path.read_text())
    config["service"]["start"] = f'echo "start {VARS}" >> shared/log/vars.log; ' + config["service"]["start"]
    config["smoke"]["checks"].append(
        {"name": "vars", "command": f'echo "smoke {VARS}" >> shared/log/vars.log'}
    )
    config["health"]["checks"].append(
        {"name": "hvars", "command": f'echo "health {VARS}" >> shared/log/vars.log'}
    )
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    project = Project.load(project.root)
    runs = [
        api.deploy(project, releases / "1.0.0.yml", "staging", by="ops").run_id,
        api.deploy(project, releases / "2.0.0.yml", "staging", by="ops").run_id,
        api.rollback(project, "staging", by="dewi", reason="check the variables").run_id,
        api.health(project, "staging", by="ops").run_id,
    ]
    path = Path(os.environ["RELKIT_DEMO_ROOT"]) / "staging" / "stage1"
    written = set((path / "shared" / "log" / "vars.log").read_text().splitlines())
    first, second, back, health = runs
    assert written == {
        f"start 1.0.0 staging webapp {first} {path}",
        f"smoke 1.0.0 staging webapp {first} {path}",
        f"start 2.0.0 staging webapp {second} {path}",
        f"smoke 2.0.0 staging webapp {second} {path}",
        f"start 1.0.0 staging webapp {back} {path}",
        f"smoke 1.0.0 staging webapp {back} {path}",
        f"smoke 1.0.0 staging webapp {health} {path}",
        f"health 1.0.0 staging webapp {health} {path}",
    }
    # the example's own smoke check asserts the version through relkit_version: it passed each time
    smoke = [e.data for e in project.ledger.entries(kind="smoke.result")]
    assert [s["passed"] for s in smoke] == [True, True, True]
    reads = [
        (e.run_id, e.data["status"])
        for e in project.ledger.entries(kind="task.result")
        if e.data["task"].startswith(("Find the release to roll back to", "Find the live release"))
    ]
    # the ledger names each host's target and live release: no host is asked first, and the read is
    # not even a task (chosen as the play is parsed: a task skipped on every host costs a fork each)
    assert reads == []


def test_plays_read_the_version_on_the_host_only_when_a_string_uses_it(local_staging: Project) -> None:
    """Without relkit_version in relkit.yml, rollback and health skip the extra read on each host."""
    project, releases = local_staging, local_staging.root / "releases"
    config_path = project.root / "relkit.yml"
    config = yaml.safe_load(config_path.read_text())
    for check in config["smoke"]["checks"]:
        check.pop("contains", None)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    project = Project.load(project.root)
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
    api.rollback(project, "staging", by="dewi", reason="no version in the checks")
    api.health(project, "staging", by="ops")
    reads = [
        (e.run_id, e.data["status"])
        for e in project.ledger.entries(kind="task.result")
        if e.data["task"].startswith(("Find the release to roll back to", "Find the live release"))
    ]
    # no string names the version: the read is left out of the play (no task, not a skipped one)
    assert reads == []
