"""A deploy never reports success while the old (or a foreign) process still answers: real SSH hosts.

Before: with the app's port taken (an app left running), ``deploy 2.0.0`` "succeeded" while
1.0.0 answered, and the broken 3.0.0 passed its smoke test; a ``stop`` that stopped nothing (a
lost pidfile) did the same. Now the switch call fails on that host naming the port and the
process holding it, before anything changes there; the hosts that switched are rolled back, so
every host is left on a complete release; a rollback whose target cannot listen is a failure.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.errors import PlayFailed, RollbackFailed
from relkit.project import Project
from tests.hostcheck import app_version, deploy_dir, leftovers, live_release
from tests.sshhosts import SshHost
from tests.sshproject import APP_PORT, write_project

pytestmark = pytest.mark.integration

ALL = ("web1", "web2", "web3")


def current(host: SshHost) -> str | None:
    """The complete release ``current`` names (nothing partial left behind)."""
    found, problems = live_release(host)
    assert (problems, leftovers(host)) == ([], []), host.name
    return found


def switched_to(host: SshHost) -> list[str]:
    lines = (deploy_dir(host) / ".relkit" / "history.jsonl").read_text().splitlines()
    return [re.search(r'"version": "([^"]+)"', line).group(1) for line in lines]  # type: ignore[union-attr]


def project(ssh_pool_factory, tmp_path: Path) -> tuple[Project, list[SshHost]]:
    pool = ssh_pool_factory(3)
    root = write_project(tmp_path / "project", {"staging": pool.hosts})
    config = yaml.safe_load((root / "relkit.yml").read_text())
    config["service"]["timeout"] = 8  # also how long a port is waited for after stop
    config["smoke"]["timeout"] = 3
    (root / "relkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    proj = Project.load(root)
    api.deploy(proj, root / "releases" / "1.0.0.yml", "staging", by="ops")
    return proj, pool.hosts


def test_a_port_taken_by_an_app_left_running_fails_the_deploy(ssh_pool_factory, tmp_path: Path) -> None:
    proj, hosts = project(ssh_pool_factory, tmp_path)
    web2 = hosts[1]
    # web2's app is stopped, and an app left running elsewhere (a copy of 1.0.0, as the README's
    # tour leaves one) answers on its address and port
    tour = (
        "cd /opt/webapp && python3 current/app.py stop --pidfile shared/app.pid && "
        "cp -rL /opt/webapp/releases/1.0.0 /opt/tour && cd /opt/tour && "
        "python3 app.py migrate --db /opt/tour/app.db && "
        f"(nohup python3 app.py serve --bind {web2.address} --port {APP_PORT} --db /opt/tour/app.db "
        "--pidfile /opt/tour/app.pid > /opt/tour/app.log 2>&1 &) && "
        "for i in $(seq 50); do [ -s /opt/tour/app.pid ] && break; sleep 0.1; done; cat /opt/tour/app.pid"
    )
    holder = web2.ssh(tour, check=True).stdout.split()[-1]
    assert holder.isdigit() and app_version(web2) == "1.0.0"

    with pytest.raises(PlayFailed) as failed:
        api.deploy(proj, proj.root / "releases" / "2.0.0.yml", "staging", by="ops")

    message = str(failed.value)
    assert failed.value.exit_code == 4
    assert (
        f"web2: failed in 'Switch (after data snapshot and migrate), restart and smoke-test 2.0.0': "
        f"2.0.0 cannot listen: ports it needs are still in use after stop: port {APP_PORT} on "
        f"{web2.address} (smoke check 'port') is held by pid {holder} (python3 app.py serve --bind "
        f"{web2.address} --port {APP_PORT} --db /opt/tour/app.db --pidfile /opt/tour/app.pid); "
        "nothing was switched: current is still 1.0.0 (its stop command ran)."
    ) in message
    # the hosts that switched were rolled back: every host is on a complete 1.0.0
    assert failed.value.result.rolled_back == {"web1": "1.0.0", "web3": "1.0.0"}
    assert [current(h) for h in hosts] == ["1.0.0"] * 3
    assert [app_version(h) for h in (hosts[0], hosts[2])] == ["1.0.0", "1.0.0"]
    assert switched_to(web2) == ["1.0.0"], "web2 never switched"
    assert not [
        e
        for e in api.ledger_entries(proj, kind="host.switched")
        if e.host == "web2" and e.data["version"] == "2.0.0"
    ]

    # the user stops the app left running: the same deploy goes through, and 2.0.0 answers
    web2.ssh("python3 /opt/tour/app.py stop --pidfile /opt/tour/app.pid", check=True)
    api.deploy(proj, proj.root / "releases" / "2.0.0.yml", "staging", by="ops")
    assert [current(h) for h in hosts] == ["2.0.0"] * 3
    assert [app_version(h) for h in hosts] == ["2.0.0"] * 3


def test_a_stop_that_stops_nothing_fails_the_deploy_and_the_rollback(
    ssh_pool_factory, tmp_path: Path
) -> None:
    proj, hosts = project(ssh_pool_factory, tmp_path)
    web1, web2 = hosts[0], hosts[1]

    def lose_pidfile(host: SshHost) -> str:
        pid = host.ssh("cat /opt/webapp/shared/app.pid && rm /opt/webapp/shared/app.pid", check=True).stdout
        return pid.strip()

    stray = lose_pidfile(web1)  # service.stop now finds nothing to stop (and exits 0)
    with pytest.raises(PlayFailed) as failed:
        api.deploy(proj, proj.root / "releases" / "2.0.0.yml", "staging", by="ops")
    message = str(failed.value)
    assert (
        f"port {APP_PORT} on {web1.address} (smoke check 'port') is held by pid {stray} (python3 "
        f"current/app.py serve --bind {web1.address} --port {APP_PORT} --db shared/data/app.db "
        "--pidfile shared/app.pid), which runs in /opt/webapp: service.stop did not stop it (a lost pidfile?)"
    ) in message
    assert failed.value.result.rolled_back == {"web2": "1.0.0", "web3": "1.0.0"}
    assert [current(h) for h in hosts] == ["1.0.0"] * 3
    assert [app_version(h) for h in hosts] == ["1.0.0"] * 3, "web1's 1.0.0 still answers, as current says"

    web1.ssh(f"echo {stray} > /opt/webapp/shared/app.pid", check=True)  # the pidfile found again
    api.deploy(proj, proj.root / "releases" / "2.0.0.yml", "staging", by="ops")
    assert [app_version(h) for h in hosts] == ["2.0.0"] * 3

    # a rollback whose target cannot listen is a failure (exit 5), not a success
    stray = lose_pidfile(web2)
    with pytest.raises(RollbackFailed) as refused:
        api.rollback(proj, "staging", by="alice", reason="test")
    assert refused.value.exit_code == 5
    assert "web2" in str(refused.value)
    result = refused.value.result
    assert result is not None and result.rolled_back == {"web1": "1.0.0", "web3": "1.0.0"}
    rows = [
        e
        for e in api.ledger_entries(proj, kind="task.result")
        if e.run_id == result.run_id and e.host == "web2"
    ]
    failure = next(e.data["msg"] for e in rows if e.data["status"] == "failed")
    assert failure.startswith(
        f"1.0.0 cannot listen: ports it needs are still in use after stop: port {APP_PORT} on {web2.address} "
        f"(smoke check 'port') is held by pid {stray} "
    )
    assert "nothing was switched: current is still 2.0.0" in failure
    assert (current(web2), app_version(web2), switched_to(web2)[-1]) == ("2.0.0", "2.0.0", "2.0.0")

    web2.ssh(f"echo {stray} > /opt/webapp/shared/app.pid", check=True)
    again = api.rollback(proj, "staging", by="alice", reason="retry", to="1.0.0")
    assert again.rolled_back == {"web2": "1.0.0"} and again.details["already_live"] == ["web1", "web3"]
    assert [current(h) for h in hosts] == ["1.0.0"] * 3
    assert [app_version(h) for h in hosts] == ["1.0.0"] * 3
