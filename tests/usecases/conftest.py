"""Use-case tests run the real plays: the example project's staging "host" is this machine
(Ansible's local connection), its deploy path and app under tmp_path, the app on a free port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from relkit.project import Project
from tests.support.fixtures import _isolated_env, example_project, ssh_keys, state_dir  # noqa: F401
from tests.support.notifysinks import free_port


@pytest.fixture
def local_staging(
    example_project: Path,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Project]:
    """The example project whose staging host (``stage1``) lives under ``tmp_path/hosts``; the
    app it deploys is stopped afterwards."""
    hosts = tmp_path / "hosts"
    monkeypatch.setenv("RELKIT_DEMO_ROOT", str(hosts))
    inventory = tmp_path / "inventory" / "local" / "staging.yml"
    data = yaml.safe_load(inventory.read_text())
    data["staging"]["hosts"]["stage1"]["app_port"] = free_port()
    inventory.write_text(yaml.safe_dump(data))
    config_path = example_project / "relkit.yml"
    config = yaml.safe_load(config_path.read_text())
    config["smoke"]["timeout"] = 3
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    with Project.load(example_project) as project:
        yield project
    host = hosts / "staging" / "stage1"
    if (host / "shared" / "app.pid").exists():
        subprocess.run(
            [
                sys.executable,
                str(host / "current" / "app.py"),
                "stop",
                "--pidfile",
                str(host / "shared" / "app.pid"),
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
