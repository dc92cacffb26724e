"""Fixtures for the molecule scenarios' testinfra tests (molecule/<scenario>/tests/).

molecule's testinfra verifier runs these with ``--connection=ansible`` and the scenario's
inventory, so ``host`` is each SSH test host in turn, reached over real ssh.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

DEPLOY_PATH = "/opt/webapp"  # molecule/shared/vars/webapp.yml
APP_PORT = 18080


@pytest.fixture
def hostvars(host: Any) -> dict[str, Any]:
    """The host's inventory variables (its address, the releases prepare.yml described)."""
    return host.ansible.get_variables()


@pytest.fixture
def health(hostvars: dict[str, Any]) -> dict[str, Any]:
    """The app's ``/health`` answer, asked over HTTP from the controller."""
    url = f"http://{hostvars['ansible_host']}:{APP_PORT}/health"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        return json.load(response)


@pytest.fixture
def history(host: Any) -> list[dict[str, Any]]:
    """The host's deploy history, one record per switch of ``current``."""
    file = host.file(f"{DEPLOY_PATH}/.relkit/history.jsonl")
    assert file.is_file
    return [json.loads(line) for line in file.content_string.splitlines() if line.strip()]


@pytest.fixture
def assert_live(host: Any, hostvars: dict[str, Any]) -> Callable[[str], None]:
    """Check that ``current`` is the complete release ``version`` built from its artifact."""

    def check(version: str) -> None:
        current = host.file(f"{DEPLOY_PATH}/current")
        assert current.is_symlink
        assert current.linked_to == f"{DEPLOY_PATH}/releases/{version}"
        marker = json.loads(host.file(f"{DEPLOY_PATH}/current/.relkit-release.json").content_string)
        assert marker["version"] == version
        assert marker["sha256"] == hostvars["relkit_releases"][version]["sha256"]
        assert host.file(f"{DEPLOY_PATH}/current/app.py").is_file
        assert host.file(f"{DEPLOY_PATH}/current/VERSION").content_string.strip() == version
        for shared in ("data", "log"):
            assert host.file(f"{DEPLOY_PATH}/current/{shared}").linked_to == f"{DEPLOY_PATH}/shared/{shared}"
        releases = host.file(f"{DEPLOY_PATH}/releases").listdir()
        assert not [name for name in releases if name.startswith(".partial")]
        assert host.file(f"{DEPLOY_PATH}/.relkit/incoming").listdir() == []  # uploads removed

    return check
