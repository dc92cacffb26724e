"""Nothing a user types or a manifest holds is evaluated as a template by Ansible.

ansible-core 2.19 trusts extra vars as templates: a deployer name ``--as "{{ lookup('pipe',
...) }}"`` or an artifact file name holding ``{{ ... }}`` ran commands on the controller as the
user running relkit. Each attack is carried out for real through a real deploy / rollback play
on the local staging host; the payload would create a file in $HOME.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.project import Project
from tests.support.clirunner import Cli, make_cli

PAYLOAD = "{{ lookup('pipe', 'cd; touch relkit-pwned') }}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty $HOME: the payload's file would land here."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return folder


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


def test_a_deployer_name_is_never_a_template(local_staging: Project, home: Path, cli: Cli) -> None:
    manifest = local_staging.root / "releases" / "1.0.0.yml"
    done = cli("-C", local_staging.root, "--as", PAYLOAD, "deploy", manifest, "--env", "staging")
    assert done.code == 0, done.err
    assert not (home / "relkit-pwned").exists(), "the deployer name ran as a template"
    [switch] = local_staging.ledger.entries(kind="host.switched")
    assert switch.data["by"] == PAYLOAD  # recorded as typed, never rendered


def test_rollback_by_and_reason_are_never_templates(local_staging: Project, home: Path) -> None:
    releases = local_staging.root / "releases"
    api.deploy(local_staging, releases / "1.0.0.yml", "staging", by="ops")
    api.deploy(local_staging, releases / "2.0.0.yml", "staging", by="ops")
    report = api.rollback(local_staging, "staging", by=PAYLOAD, reason=PAYLOAD)
    assert report.rolled_back == {"stage1": "1.0.0"}
    assert not (home / "relkit-pwned").exists(), "--by/--reason ran as a template"
    back = [e for e in local_staging.ledger.entries(kind="host.switched") if e.run_id == report.run_id]
    assert [e.data["by"] for e in back] == [PAYLOAD]


def test_an_artifact_file_name_is_never_a_template(local_staging: Project, home: Path) -> None:
    releases = local_staging.root / "releases"
    data = yaml.safe_load((releases / "1.0.0.yml").read_text())
    built = (releases / data["artifact"]["path"]).resolve()
    crafted = built.with_name(f"webapp-{PAYLOAD}.tar.gz")
    shutil.copy(built, crafted)
    data["artifact"]["path"] = str(crafted)
    manifest = releases / "1.0.0-crafted.yml"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    assert api.validate(manifest).artifact.path == str(crafted)  # a valid manifest, as the issue says

    report = api.deploy(local_staging, manifest, "staging", by="ops")
    assert report.ok and report.hosts == {"stage1": "ok"}
    assert not (home / "relkit-pwned").exists(), "the artifact's file name ran as a template"
