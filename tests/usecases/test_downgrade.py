"""Deploying an older release over a newer live one is refused (exit 2) with a pointer to
``relkit rollback --to``, unless asked for with --allow-downgrade, which the ledger records;
real plays on the local staging host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.project import Project
from tests.support.clirunner import Cli, make_cli
from tests.support.fixtures import SshKeys


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


def current() -> str:
    """The release ``current`` points at on the staging host."""
    return (Path(os.environ["RELKIT_DEMO_ROOT"]) / "staging" / "stage1" / "current").resolve().name


def test_a_downgrade_is_refused_then_allowed_and_recorded(local_staging: Project, cli: Cli) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
    rows = len(list(project.ledger.entries()))

    refused = cli("-C", project.root, "deploy", releases / "1.0.0.yml", "--env", "staging")
    assert refused.code == 2, refused.err
    message = " ".join(refused.err.split())
    assert "deploy of 1.0.0 to staging would downgrade stage1 (2.0.0)" in message
    assert "relkit rollback --env staging --to 1.0.0 --by NAME --reason TEXT" in message
    assert "add --allow-downgrade (recorded in the ledger)" in message
    assert len(list(project.ledger.entries())) == rows, "a refusal records nothing"
    assert current() == "2.0.0"

    allowed = cli(
        "-C", project.root, "deploy", releases / "1.0.0.yml", "--env", "staging", "--allow-downgrade"
    )
    assert allowed.code == 0, allowed.err
    assert "downgraded stage1 from 2.0.0 (--allow-downgrade, recorded in the ledger)" in allowed.out
    assert current() == "1.0.0"
    started = [e for e in project.ledger.entries(kind="run.started") if e.seq > rows]
    assert [e.data["downgrade"] for e in started] == [
        {"from": {"stage1": "2.0.0"}, "allowed_by": started[0].data["by"]}
    ]
    assert api.status(project).live["staging"]["stage1"].version == "1.0.0"


def test_a_newer_release_and_the_same_one_are_no_downgrade(local_staging: Project, cli: Cli) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    again = cli("-C", project.root, "deploy", releases / "1.0.0.yml", "--env", "staging")
    assert again.code == 0, again.err
    newer = cli("-C", project.root, "-o", "json", "deploy", releases / "2.0.0.yml", "--env", "staging")
    assert newer.code == 0, newer.err
    assert newer.payload["details"]["downgrade"] is None  # the key is there in every outcome
    assert all("downgrade" not in e.data for e in project.ledger.entries(kind="run.started"))


def test_a_signed_downgrade_is_signed_as_one(local_staging: Project, cli: Cli, ssh_keys: SshKeys) -> None:
    config_path = local_staging.root / "relkit.yml"
    config = yaml.safe_load(config_path.read_text())
    config["policy"]["signed_acts"] = "all"  # staging's deploys signed too
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    project = Project.load(local_staging.root)
    ssh_keys.allowed_signers(project.root / project.config.approvals.allowed_signers)
    releases, key = project.root / "releases", ssh_keys.key("ops-demo")
    api.deploy(project, releases / "1.0.0.yml", "staging", key=key)
    api.deploy(project, releases / "2.0.0.yml", "staging", key=key)

    refused = cli("-C", project.root, "deploy", releases / "1.0.0.yml", "--env", "staging", "--key", key)
    assert refused.code == 2, refused.err
    assert "relkit rollback --env staging --to 1.0.0 --key KEY --by NAME --reason TEXT" in " ".join(
        refused.err.split()
    )

    allowed = cli(
        "-C",
        project.root,
        "deploy",
        releases / "1.0.0.yml",
        "--env",
        "staging",
        "--key",
        key,
        "--allow-downgrade",
    )
    assert allowed.code == 0, allowed.err
    signed = [e.data["statement"] for e in project.ledger.entries(kind="act.signed")]
    assert [(s["version"], s.get("allow_downgrade")) for s in signed] == [
        ("1.0.0", None),
        ("2.0.0", None),
        ("1.0.0", True),
    ]
    assert api.ledger_verify(project).ok
    project.close()
