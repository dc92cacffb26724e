"""A rollback that cannot happen is refused before anything changes (exit 2), saying what is
installed: on the controller where the ledger already shows it (nothing deployed, ``--to`` a
release never deployed), else by the hosts (nothing to go back to, the release asked for not
installed) with every host's installed releases; real plays on the local staging host."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.project import Project
from relkit.store.locks import lock_path
from tests.support.clirunner import Cli, make_cli
from tests.support.fixtures import stop_app

ROLLBACK = ("rollback", "--env", "staging", "--by", "dewi", "--reason", "login broken")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


def host_path() -> Path:
    """The staging host's deploy path (local_staging: $RELKIT_DEMO_ROOT/staging/stage1)."""
    return Path(os.environ["RELKIT_DEMO_ROOT"]) / "staging" / "stage1"


def current() -> str:
    return (host_path() / "current").resolve().name


def flat(text: str) -> str:
    return " ".join(text.split())


def test_nothing_deployed_is_refused_on_the_controller(
    cli: Cli, example_project: Path, state_dir: Path
) -> None:
    result = cli("-C", example_project, *ROLLBACK)
    assert result.code == 2, result.err
    assert "rollback of staging refused: nothing was ever deployed to staging" in flat(result.err)
    assert "need attention" not in result.err
    assert not lock_path(state_dir, "staging").exists()
    with Project.load(example_project) as project:
        assert list(project.ledger.entries()) == []


def test_a_release_never_deployed_is_refused_on_the_controller(local_staging: Project, cli: Cli) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
    rows = len(list(project.ledger.entries()))

    result = cli("-C", project.root, *ROLLBACK, "--to", "9.9.9")
    assert result.code == 2, result.err
    assert "rollback of staging to 9.9.9 refused: release 9.9.9 was never deployed to staging" in flat(
        result.err
    )
    assert "  - stage1: live 2.0.0; before it: 1.0.0" in result.err
    assert len(list(project.ledger.entries())) == rows, "nothing recorded: no run started"
    assert current() == "2.0.0"


def test_nothing_to_go_back_to_is_refused_by_the_host(local_staging: Project, cli: Cli) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")

    result = cli("-C", project.root, "-o", "json", *ROLLBACK)
    assert result.code == 2, result.err
    payload, error = result.payload, result.doc["error"]
    assert (error["kind"], result.doc["exit_code"]) == ("RollbackRefused", 2)
    assert error["message"].startswith(
        "rollback of staging refused by stage1: nothing was changed on any host."
    )
    assert error["problems"] == [
        "stage1: no previous complete release to roll back to (live: 1.0.0); installed: 1.0.0"
    ]
    assert payload["details"]["refused"] == {
        "stage1": {
            "reason": "no previous complete release to roll back to (live: 1.0.0)",
            "live": "1.0.0",
            "installed": ["1.0.0"],
        }
    }
    assert "need attention" not in result.err
    run_id = payload["run_id"]
    [end] = [e for e in project.ledger.entries(kind="run.finished") if e.run_id == run_id]
    assert end.data["status"] == "refused"
    kinds = {e.kind for e in project.ledger.entries() if e.run_id == run_id}
    assert not kinds & {"host.switched", "smoke.result", "notify.sent"}, "a refusal is no failed rollback"
    assert current() == "1.0.0"
    assert api.health(project, "staging", by="ops").status == "ok", "the service was left running"


def test_a_release_retention_removed_is_refused_by_the_host(local_staging: Project, cli: Cli) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
    shutil.rmtree(host_path() / "releases" / "1.0.0")  # as retention (keep_releases) does

    named = cli("-C", project.root, *ROLLBACK, "--to", "1.0.0")
    assert named.code == 2, named.err
    assert "rollback of staging refused by stage1: nothing was changed on any host." in flat(named.err)
    assert "stage1: release 1.0.0 is not installed completely on this host; installed: 2.0.0" in flat(
        named.err
    )
    assert "relkit deploy MANIFEST (older than the live one: --allow-downgrade)" in flat(named.err)

    previous = cli("-C", project.root, *ROLLBACK)
    assert previous.code == 2, previous.err
    assert "stage1: no previous complete release to roll back to (live: 2.0.0); installed: 2.0.0" in flat(
        previous.err
    )
    assert current() == "2.0.0"
    assert api.status(project).live["staging"]["stage1"].version == "2.0.0"
    assert not lock_path(project.state_dir, "staging").exists()


def test_an_automatic_rollback_the_host_refuses_leaves_the_decision_to_the_po(
    local_staging: Project, cli: Cli
) -> None:
    config_path = local_staging.root / "relkit.yml"
    config = yaml.safe_load(config_path.read_text())
    config["health"].update(critical_threshold=1, on_critical="rollback")
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    project = Project.load(local_staging.root)
    api.deploy(project, project.root / "releases" / "1.0.0.yml", "staging", by="ops")
    stop_app(host_path())  # critical: the automatic rollback has nowhere to go

    result = cli("-C", project.root, "-o", "json", "health", "--env", "staging")
    assert result.code == 4, result.err
    decision = result.payload["decision"]
    assert decision["action"] == "ask"
    assert (
        "automatic rollback blocked (rollback of staging refused by stage1: nothing was changed"
        in decision["note"]
    )
    [needed] = project.ledger.entries(kind="decision.needed")
    assert (
        "no previous complete release to roll back to (live: 1.0.0); installed: 1.0.0"
        in needed.data["blocked_by"]
    )
    assert current() == "1.0.0"
    project.close()


def test_a_refusal_names_an_installed_release_to_go_to(local_staging: Project, cli: Cli) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
    with pytest.raises(api.PlayFailed):
        api.deploy(project, releases / "3.0.0.yml", "staging", by="ops")  # smoke fails: back to 2.0.0
    shutil.rmtree(host_path() / "releases" / "3.0.0")

    result = cli("-C", project.root, *ROLLBACK, "--to", "3.0.0")
    assert result.code == 2, result.err
    message = flat(result.err)
    assert (
        "stage1: release 3.0.0 is not installed completely on this host; installed: 1.0.0, 2.0.0" in message
    )
    assert (
        "To go to an installed release: relkit rollback --env staging --to 1.0.0 --by NAME --reason TEXT"
        in message
    )
    assert current() == "2.0.0"
