"""``relkit health`` exit 4 says what to do next, and the commands it gives work: restart the live
release (a deploy of it with --full-play), roll back, or the PO's decision; real plays on the local
staging host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.project import Project
from tests.support.clirunner import Cli, make_cli
from tests.support.fixtures import stop_app


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


def _deploy_path() -> Path:
    """The staging host's deploy path (local_staging: $RELKIT_DEMO_ROOT/staging/stage1)."""
    return Path(os.environ["RELKIT_DEMO_ROOT"]) / "staging" / "stage1"


def _steps(err: str) -> list[str]:
    """The ``next steps:`` of an error message, one per item (lines joined)."""
    tail = " " + " ".join(err.split("next steps:", 1)[1].split())
    return [s.strip() for s in tail.split(" - ") if s.strip()]


def test_a_failing_smoke_check_names_the_deploy_that_restarts_it(local_staging: Project, cli: Cli) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
    stop_app(_deploy_path())  # the service died: its smoke checks (critical) fail

    result = cli("-C", project.root, "health", "--env", "staging")
    assert result.code == 4, result.err
    steps = _steps(result.err)
    restart = f"relkit deploy {releases / '2.0.0.yml'} --env staging --full-play"
    assert steps[0].startswith(f"restart 2.0.0 where its smoke checks fail (stage1): {restart} (")
    assert (
        steps[1]
        == "or roll back to the previous release: relkit rollback --env staging --by NAME --reason TEXT"
    )
    assert steps[2] == "then check again: relkit health --env staging"

    payload = cli("-C", project.root, "-o", "json", "health", "--env", "staging").payload
    assert payload["next_steps"][0].startswith("restart 2.0.0 where its smoke checks fail")

    # the step given works: the deploy restarts the release, and health is ok again
    redeploy = cli("-C", project.root, "deploy", releases / "2.0.0.yml", "--env", "staging", "--full-play")
    assert redeploy.code == 0, redeploy.err
    healthy = cli("-C", project.root, "health", "--env", "staging")
    assert healthy.code == 0, healthy.err
    assert "ok staging: 1 host(s) checked" in healthy.out


def test_a_failing_health_check_says_a_redeploy_would_not_restart(local_staging: Project, cli: Cli) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
    assert cli("-C", project.root, "health", "--env", "staging").code == 0  # the log's baseline
    log = _deploy_path() / "shared" / "log" / "app.log"
    log.write_text(log.read_text() + "Traceback (most recent call last): boom\n")

    result = cli("-C", project.root, "health", "--env", "staging")
    assert result.code == 4, result.err
    steps = _steps(result.err)
    assert steps[0] == (
        "stage1: the smoke checks pass, so a redeploy would leave the service as it is: look into the "
        "failing checks on the host"
    )
    assert not any("relkit deploy" in s for s in steps)
    assert "relkit rollback --env staging --by NAME --reason TEXT" in steps[1]


def test_when_the_po_decides_the_decision_command_comes_first(local_staging: Project, cli: Cli) -> None:
    config_path = local_staging.root / "relkit.yml"
    config = yaml.safe_load(config_path.read_text())
    config["health"].update(critical_threshold=1, on_critical="ask")
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    project = Project.load(local_staging.root)
    releases = project.root / "releases"
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    stop_app(_deploy_path())

    result = cli("-C", project.root, "health", "--env", "staging")
    assert result.code == 4, result.err
    steps = _steps(result.err)
    [needed] = project.ledger.entries(kind="decision.needed")
    assert steps[0] == (
        f"the PO decides whether to roll back (ledger #{needed.seq}): "
        'relkit rollback --env staging --by <PO> --reason "..."'
    )
    assert steps[1].startswith("restart 1.0.0 where its smoke checks fail (stage1): relkit deploy ")
    assert steps[2] == "no release was live on staging before this one: there is nothing to roll back to"
    assert not any(s.startswith("or roll back") for s in steps)
    project.close()
