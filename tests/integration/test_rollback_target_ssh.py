"""Rollback targets and retention under repeated deploys, on 3 real SSH hosts.

A rollback without ``--to`` goes to the release live before the current one, skipping only
releases rolled back from (or whose smoke test failed) since they were last good; retention
never removes that release, the live one, nor the one it replaced (docs/reliability.md).
3.0.0 is the example's broken release (its smoke test fails: the deploy rolls back at once);
4.0.0 is a healthy build on top of 2.0.0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.errors import PlayFailed
from relkit.project import Project
from tests.hostcheck import app_version, deploy_dir, leftovers, live_release
from tests.sshhosts import SshHost
from tests.sshproject import add_release, write_project

pytestmark = pytest.mark.integration


def on_release(hosts: list[SshHost], version: str) -> None:
    """Every host: ``current`` is a complete ``version`` and the app answers with it."""
    for host in hosts:
        found, problems = live_release(host)
        assert (found, problems, leftovers(host)) == (version, [], []), host.name
        assert app_version(host) == version, host.name


def installed(host: SshHost) -> list[str]:
    return sorted(p.name for p in (deploy_dir(host) / "releases").iterdir() if not p.name.startswith("."))


def project(ssh_pool_factory, tmp_path: Path, keep: int) -> tuple[Project, list[SshHost]]:
    pool = ssh_pool_factory(3)
    root = write_project(tmp_path / "project", {"staging": pool.hosts})
    config = yaml.safe_load((root / "relkit.yml").read_text())
    config["retention"] = {"keep_releases": keep}
    config["smoke"]["timeout"] = 3
    (root / "relkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    add_release(root, "4.0.0")
    return Project.load(root), pool.hosts


@pytest.mark.parametrize("keep", [2, 3])
def test_a_release_redeployed_after_a_rollback_is_a_rollback_target_again(
    ssh_pool_factory, tmp_path: Path, keep: int
) -> None:
    proj, hosts = project(ssh_pool_factory, tmp_path, keep)
    releases = proj.root / "releases"

    def deploy(version: str) -> None:
        api.deploy(proj, releases / f"{version}.yml", "staging", by="ops")

    def rollback() -> dict[str, str]:
        return api.rollback(proj, "staging", by="alice", reason="test").rolled_back

    deploy("1.0.0")
    deploy("2.0.0")
    assert rollback() == dict.fromkeys(("web1", "web2", "web3"), "1.0.0")
    with pytest.raises(PlayFailed) as failed:  # 3.0.0 fails its smoke test: rolled back at once
        deploy("3.0.0")
    assert failed.value.result.rolled_back == dict.fromkeys(("web1", "web2", "web3"), "1.0.0")
    on_release(hosts, "1.0.0")
    deploy("2.0.0")  # rolled back once, earlier: redeployed, and its smoke test passes
    on_release(hosts, "2.0.0")
    deploy("4.0.0")
    on_release(hosts, "4.0.0")
    for host in hosts:
        assert "2.0.0" in installed(host), host.name
    # before: exit 5 on every host, "no previous complete release to roll back to (live: 4.0.0)"
    assert rollback() == dict.fromkeys(("web1", "web2", "web3"), "2.0.0")
    on_release(hosts, "2.0.0")
    for host in hosts:
        assert {"2.0.0", "4.0.0"} <= set(installed(host)), host.name
        lines = (deploy_dir(host) / ".relkit" / "history.jsonl").read_text().splitlines()
        history = [json.loads(line) for line in lines]
        assert [(h["action"], h["version"], h.get("smoke")) for h in history] == [
            ("deploy", "1.0.0", "passed"),
            ("deploy", "2.0.0", "passed"),
            ("rollback", "1.0.0", "passed"),
            ("deploy", "3.0.0", "failed"),
            ("rollback", "1.0.0", "passed"),
            ("deploy", "2.0.0", "passed"),
            ("deploy", "4.0.0", "passed"),
            ("rollback", "2.0.0", "passed"),
        ]
    assert api.ledger_verify(proj).ok
    witnessed = api.witness_check(proj, "staging")
    assert witnessed.ok and witnessed.hosts == dict.fromkeys(("web1", "web2", "web3"), 8), witnessed.problems


def test_retention_keeps_the_live_release_after_a_rollback_to_an_older_one(
    ssh_pool_factory, tmp_path: Path
) -> None:
    proj, hosts = project(ssh_pool_factory, tmp_path, keep=2)
    releases = proj.root / "releases"
    for version in ("1.0.0", "2.0.0"):
        api.deploy(proj, releases / f"{version}.yml", "staging", by="ops")
    with pytest.raises(PlayFailed):
        api.deploy(proj, releases / "3.0.0.yml", "staging", by="ops")  # rolled back to 2.0.0
    on_release(hosts, "2.0.0")
    for host in hosts:  # 1.0.0 is where a rollback from 2.0.0 goes: kept although keep is 2
        assert installed(host) == ["1.0.0", "2.0.0", "3.0.0"], host.name
    back = api.rollback(proj, "staging", by="alice", reason="back to 1", to="1.0.0")
    assert back.rolled_back == dict.fromkeys(("web1", "web2", "web3"), "1.0.0")
    # 1.0.0 is the oldest installed and live: retention never removes it, nor 2.0.0 it replaced
    on_release(hosts, "1.0.0")
    for host in hosts:
        assert {"1.0.0", "2.0.0"} <= set(installed(host)), host.name


def test_a_host_whose_target_is_not_the_ledgers_is_rolled_back_to_its_own(
    ssh_pool_factory, tmp_path: Path
) -> None:
    # relkit names each host's target from its ledger (the smoke checks name relkit_version); a
    # host that lost that release outside relkit refuses, changing nothing, and is rolled back to
    # its own target after finding it
    proj, hosts = project(ssh_pool_factory, tmp_path, keep=5)
    releases = proj.root / "releases"
    for version in ("1.0.0", "2.0.0", "4.0.0"):
        api.deploy(proj, releases / f"{version}.yml", "staging", by="ops")
    web2 = hosts[1]
    web2.ssh("rm -rf /opt/webapp/releases/2.0.0", check=True)

    report = api.rollback(proj, "staging", by="alice", reason="test")
    assert report.rolled_back == {"web1": "2.0.0", "web2": "1.0.0", "web3": "2.0.0"}
    on_release([hosts[0], hosts[2]], "2.0.0")
    on_release([web2], "1.0.0")
    tasks = [
        e for e in api.ledger_entries(proj, kind="task.result", env="staging") if e.run_id == report.run_id
    ]
    refused = [e for e in tasks if e.data["status"] == "failed"]
    assert [e.host for e in refused] == ["web2"]
    assert "rollback target is 1.0.0, not 2.0.0" in refused[0].data["msg"]
    switched = [
        e for e in api.ledger_entries(proj, kind="host.switched", env="staging") if e.run_id == report.run_id
    ]
    assert sorted((e.host, e.data["version"]) for e in switched) == [
        ("web1", "2.0.0"),
        ("web2", "1.0.0"),
        ("web3", "2.0.0"),
    ]
    [smoke] = [
        e for e in api.ledger_entries(proj, kind="smoke.result", env="staging") if e.run_id == report.run_id
    ]
    assert smoke.data["passed"] and smoke.data["failed"] == []
    assert api.ledger_verify(proj).ok
