"""A health run the configuration keeps from reaching the live release is a configuration error
(exit 2), never a critical health result: nothing is recorded as one and nothing counts toward
``health.on_critical`` (an automatic rollback). The real health play, local connection."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.errors import BadInput
from relkit.project import Project
from tests.support.clirunner import make_cli


def _deployed(project: Project) -> None:
    """1.0.0 then 2.0.0 live on staging: an automatic rollback would have somewhere to go."""
    releases = project.root / "releases"
    for version in ("1.0.0", "2.0.0"):
        assert api.deploy(project, releases / f"{version}.yml", "staging", by="ops").ok


def test_a_deploy_path_that_does_not_exist_is_bad_input_and_never_counts_as_critical(
    local_staging: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = local_staging
    _deployed(project)
    assert project.config.health.critical_threshold == 3
    # The shell that runs health lacks the variable the inventory's deploy path is built from.
    monkeypatch.setenv("RELKIT_DEMO_ROOT", str(tmp_path / "elsewhere"))
    missing = tmp_path / "elsewhere" / "staging" / "stage1"
    for _ in range(4):  # more than critical_threshold runs in a row
        with pytest.raises(BadInput) as refused:
            api.health(project, "staging", by="cron")
        message = str(refused.value)
        assert f"stage1: deploy path {missing} does not exist" in message
        assert "configuration error, not a health result" in message
        assert "relkit_deploy_path" in message
    assert list(project.ledger.entries(kind="health.result")) == []
    assert list(project.ledger.entries(kind="decision.*")) == [], "no automatic rollback, no decision asked"
    assert api.status(project).live["staging"]["stage1"].version == "2.0.0"
    ends = [
        e.data for e in project.ledger.entries(kind="run.finished") if e.data.get("status") == "bad_input"
    ]
    assert len(ends) == 4 and ends[0]["problems"] == {"stage1": f"deploy path {missing} does not exist"}

    monkeypatch.setenv("RELKIT_DEMO_ROOT", str(tmp_path / "hosts"))  # configured again
    healthy = api.health(project, "staging", by="cron")
    assert (healthy.status, healthy.consecutive_critical) == ("ok", 0)
    assert [e.data["status"] for e in project.ledger.entries(kind="health.result")] == ["ok"]


def test_an_undefined_variable_in_the_deploy_path_exits_2_naming_it(
    local_staging: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = local_staging
    _deployed(project)
    inventory = tmp_path / "inventory" / "local" / "staging.yml"
    data = yaml.safe_load(inventory.read_text())
    data["staging"]["vars"]["relkit_deploy_path"] = "{{ demo_hosts_root }}/staging/{{ inventory_hostname }}"
    inventory.write_text(yaml.safe_dump(data))
    cli = make_cli(capsys)
    for _ in range(3):
        result = cli("-C", project.root, "health", "--env", "staging")
        assert result.code == 2, result.out + result.err
        assert "demo_hosts_root" in result.err and "stage1:" in result.err
    assert list(project.ledger.entries(kind="health.result")) == []
    assert list(project.ledger.entries(kind="decision.*")) == []
