"""Host faults over real SSH: a host dies mid-deploy, a host's disk is full, smoke fails in production.

- A host's sshd is SIGKILLed (with every process of the host: it crashes) while the deploy is
  switching the hosts: exit 4, the JSON output names it unreachable, and the other hosts end
  ALL on the old release (``policy.on_partial_failure: rollback``, the default) or ALL on the
  new one (``keep``, with ``decision.needed`` in the ledger). Once the host is back, a re-run
  converges every host on the new release.
- A host whose deploy path is a small, full tmpfs: ``relkit prepare --manifest`` names its disk
  shortfall; the deploy fails before any switch (exit 4) and leaves no partial or incomplete
  release there; with the space freed a re-run deploys.
- 3.0.0 (the example app's broken release) fails its smoke test in production: with
  ``on_smoke_failure: rollback`` (the default) the hosts are rolled back and their data restored;
  with ``ask`` they stay, the ledger asks for a decision, and the command it names rolls back.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from relkit import api
from relkit.cli import main
from relkit.project import Project
from tests.hostcheck import app_version, db_state, deploy_dir, leftovers, live_release, post_note
from tests.sshhosts import SshHost
from tests.sshproject import EXAMPLE, signing_keys, write_project
from tests.support.clirunner import document

pytestmark = pytest.mark.integration

OLD, NEW = "1.0.0", "2.0.0"


def set_policy(root: Path, **policy: Any) -> None:
    """Change relkit.yml's policy (the test project's own file)."""
    config = yaml.safe_load((root / "relkit.yml").read_text())
    config["policy"] = {**config.get("policy", {}), **policy}
    (root / "relkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def last(proj: Project, kind: str) -> Any:
    return api.ledger_entries(proj, kind=kind)[-1]


def on_release(hosts: list[SshHost], version: str) -> None:
    """Every host: ``current`` is a complete ``version``, the app answers with it, nothing partial."""
    for host in hosts:
        found, problems = live_release(host)
        assert (found, problems, leftovers(host)) == (version, [], []), host.name
        assert app_version(host) == version, host.name


def deploy_killing_host(root: Path, victim: SshHost) -> tuple[int, dict[str, Any], float]:
    """``relkit --output json deploy 2.0.0``; SIGKILL ``victim``'s sshd once its switch call began.

    The switch call (one module call per host, all hosts at once) starts by stopping the old
    release: when the victim's app is gone after the install, every host is switching.
    """
    argv = [sys.executable, "-m", "relkit", "-C", str(root), "--output", "json", "deploy",
            str(root / "releases" / f"{NEW}.yml"), "--env", "staging"]  # fmt: skip
    marks = deploy_dir(victim)
    killed: list[float] = []
    done = threading.Event()

    def watch() -> None:
        started = time.monotonic()
        while not done.is_set() and time.monotonic() - started < 120:
            installed = (marks / "releases" / NEW / ".relkit-release.json").exists()
            if installed and not (marks / "shared" / "app.pid").exists():
                victim.stop_sshd()
                killed.append(time.monotonic() - started)
                return
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    finally:
        done.set()
        watcher.join()
    assert killed, f"the deploy never reached the switch on {victim.name}:\n{proc.stdout}{proc.stderr}"
    return proc.returncode, document(proc.stdout), killed[0]


def test_host_down_mid_deploy_rollback_or_keep_then_rerun_converges(
    ssh_pool_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = ssh_pool_factory(3).hosts
    *others, victim = hosts
    root = write_project(tmp_path / "project", {"staging": hosts})
    proj = Project.load(root)
    api.deploy(proj, root / "releases" / f"{OLD}.yml", "staging", by="ops")

    # on_partial_failure: rollback (the default): the hosts that switched go back
    code, out, at = deploy_killing_host(root, victim)
    assert code == 4 and out["exit_code"] == 4, out
    assert out["result"]["hosts"] == {"web1": "ok", "web2": "ok", "web3": "unreachable"}, out
    assert out["result"]["rolled_back"] == {"web1": OLD, "web2": OLD}
    message = out["error"]["message"]
    assert "web3" in message and "rolled back web1 to 1.0.0, web2 to 1.0.0" in message
    on_release(others, OLD)
    finished = last(proj, "run.finished")
    assert finished.data["status"] == "rolled_back" and finished.data["failed"] == ["web3"]
    assert last(proj, "rollback.started").data["automatic"] is True
    print(f"rollback policy: web3 killed {at:.2f}s into the deploy")

    victim.start_sshd()
    assert main(["-C", str(root), "deploy", str(root / "releases" / f"{NEW}.yml"), "--env", "staging"]) == 0
    on_release(hosts, NEW)
    for host in hosts:
        assert db_state(host)[::2] == (2, [])

    # on_partial_failure: keep: the hosts that switched stay on the new release
    api.rollback(proj, "staging", by="ops", reason="back to 1.0.0 for the keep case", to=OLD)
    on_release(hosts, OLD)
    set_policy(root, on_partial_failure="keep")
    code, out, at = deploy_killing_host(root, victim)
    assert code == 4 and out["result"]["hosts"] == {"web1": "ok", "web2": "ok", "web3": "unreachable"}, out
    assert out["result"]["rolled_back"] == {}
    assert "policy on_partial_failure: keep kept web1, web2 on 2.0.0" in out["error"]["message"]
    assert "relkit rollback --env staging" in out["error"]["message"]
    on_release(others, NEW)
    decision = last(proj, "decision.needed")
    assert decision.data["policy"] == "on_partial_failure: keep"
    assert decision.data["failed"] == ["web3"] and sorted(decision.data["switched"]) == ["web1", "web2"]
    finished = last(proj, "run.finished")
    assert finished.data["status"] == "failed_kept" and finished.run_id == decision.run_id
    print(f"keep policy: web3 killed {at:.2f}s into the deploy")

    victim.start_sshd()
    assert main(["-C", str(root), "deploy", str(root / "releases" / f"{NEW}.yml"), "--env", "staging"]) == 0
    on_release(hosts, NEW)
    live = api.status(proj).live["staging"]
    assert {h: r.version for h, r in live.items()} == {"web1": NEW, "web2": NEW, "web3": NEW}
    assert api.ledger_verify(proj).ok
    capsys.readouterr()


def test_full_disk_fails_before_the_switch_and_leaves_nothing_partial(
    ssh_pool_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full, roomy = ssh_pool_factory(2).hosts
    # before anything is deployed: /opt/webapp is a 2 MiB tmpfs with 20 KiB (5 pages) left,
    # room for the upload (7 KiB) but not for the unpacked release
    full.mount_tmpfs("/opt/webapp", "2M")
    full.ssh(
        'avail=$(stat -f -c "%a * %S" /opt/webapp); '
        'head -c $(( $avail - 20480 )) /dev/zero > /opt/webapp/fill && stat -f -c "%a %S" /opt/webapp',
        check=True,
    )
    root = write_project(tmp_path / "project", {"staging": [full, roomy]})
    proj = Project.load(root)
    manifest = str(root / "releases" / f"{OLD}.yml")

    capsys.readouterr()
    assert main(["-C", str(root), "prepare", "--env", "staging", "--manifest", manifest]) == 4
    err = capsys.readouterr().err
    assert f"{full.name}: disk_mb: needs 100 MiB, host has 0 MiB" in err, err
    assert f"{roomy.name}:" not in err
    shortfalls = last(proj, "prepare.result").data["shortfalls"]
    assert list(shortfalls) == [full.name]

    assert main(["-C", str(root), "deploy", manifest, "--env", "staging"]) == 4
    err = capsys.readouterr().err
    assert f"failed on {full.name} before any host switched" in err, err
    run = last(proj, "run.finished")
    assert run.data["status"] == "failed"
    install = [
        e for e in api.ledger_entries(proj, kind="task.result")
        if e.run_id == run.run_id and e.host == full.name and e.data["status"] == "failed"
    ]  # fmt: skip
    assert [e.data["task"].split(" (")[0] for e in install] == ["Install"]
    assert "No space left on device" in install[0].data["msg"]
    assert "partial release removed" in install[0].data["msg"]
    assert not api.ledger_entries(proj, kind="host.switched")
    # nothing switched anywhere; on the full host no partial or incomplete release is left
    listing = full.ssh("ls -A /opt/webapp /opt/webapp/releases", check=True).stdout
    assert "current" not in listing and ".partial" not in listing and OLD not in listing, listing
    # the upload it could not unpack stays for the re-run, the deploy user's only
    modes = full.ssh("stat -c %a /opt/webapp/.relkit/incoming /opt/webapp/.relkit/incoming/*", check=True)
    assert modes.stdout.split() == ["700", "600"], modes.stdout
    assert not (deploy_dir(roomy) / "current").exists() and leftovers(roomy) == []

    full.ssh("rm /opt/webapp/fill", check=True)
    assert main(["-C", str(root), "deploy", manifest, "--env", "staging"]) == 0
    for host in (full, roomy):
        assert app_version(host) == OLD
    assert full.ssh("readlink /opt/webapp/current", check=True).stdout.strip() == f"releases/{OLD}"
    assert full.ssh("ls -A /opt/webapp/releases", check=True).stdout.split() == [OLD]


def test_no_room_for_the_upload_fails_the_install_and_leaves_no_partial_upload(
    ssh_pool_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full, roomy = ssh_pool_factory(2).hosts
    # no room at all: the install task's own transfer of the artifact fails on that host
    full.mount_tmpfs("/opt/webapp", "2M")
    full.ssh('head -c $(( $(stat -f -c "%a * %S" /opt/webapp) )) /dev/zero > /opt/webapp/fill; true')
    root = write_project(tmp_path / "project", {"staging": [full, roomy]})
    proj = Project.load(root)
    manifest = str(root / "releases" / f"{OLD}.yml")

    capsys.readouterr()
    assert main(["-C", str(root), "deploy", manifest, "--env", "staging"]) == 4
    err = capsys.readouterr().err
    assert f"failed on {full.name} before any host switched" in err, err
    run = last(proj, "run.finished")
    failed = [
        e for e in api.ledger_entries(proj, kind="task.result")
        if e.run_id == run.run_id and e.host == full.name and e.data["status"] == "failed"
    ]  # fmt: skip
    assert [e.data["task"].split(" (")[0] for e in failed] == ["Install"]
    assert "could not upload" in failed[0].data["msg"], failed[0].data["msg"]
    assert not api.ledger_entries(proj, kind="host.switched")
    # no partial upload, release or link; the incoming directory is the deploy user's only
    assert full.ssh("ls -A /opt/webapp/.relkit/incoming", check=True).stdout.split() == []
    assert full.ssh("ls -A /opt/webapp/releases", check=True).stdout.split() == []
    assert full.ssh("stat -c %a /opt/webapp/.relkit/incoming", check=True).stdout.strip() == "700"

    full.ssh("rm /opt/webapp/fill", check=True)
    assert main(["-C", str(root), "deploy", manifest, "--env", "staging"]) == 0
    for host in (full, roomy):
        assert app_version(host) == OLD
        assert leftovers(host) == []


def test_smoke_failure_in_production_rolls_back_or_asks(
    ssh_pool_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stage, *prod = ssh_pool_factory(3).hosts
    smoke = {**yaml.safe_load((EXAMPLE / "relkit.yml").read_text())["smoke"], "timeout": 3}
    root = write_project(
        tmp_path / "project",
        {"staging": [stage], "production": prod},
        promote={"production": "staging"},
        # the SOP's production gates are test_sop_gates.py's: here only the smoke policy counts
        config={"policy": {"gates": {"deploy:production": ["manifest_valid"]}}, "smoke": smoke},
    )
    keys = signing_keys(root)
    # production deploys are signed: ops's key, given the way a CI job gives it (RELKIT_KEY)
    monkeypatch.setenv("RELKIT_KEY", str(keys["ops"]))
    proj = Project.load(root)
    releases = root / "releases"

    def deploy(version: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["-C", str(root), "deploy", str(releases / f"{version}.yml"), "--env", "production"])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    assert deploy(OLD)[0] == 0
    for host in prod:
        post_note(host, f"kept across everything on {host.name}")
    before = {h.name: db_state(h) for h in prod}
    assert {v[0] for v in before.values()} == {1}

    # on_smoke_failure: rollback (the default)
    code, text = deploy("3.0.0")
    assert code == 4, text
    assert "rolled back web2 to 1.0.0, web3 to 1.0.0" in text
    on_release(prod, OLD)
    assert {h.name: db_state(h) for h in prod} == before, "3.0.0 migrated to schema 2: restored to 1"
    assert sorted(e.host for e in api.ledger_entries(proj, kind="snapshot.restored")) == ["web2", "web3"]
    assert last(proj, "run.finished").data["status"] == "rolled_back"

    # on_smoke_failure: ask: nothing is rolled back, the PO decides
    set_policy(root, on_smoke_failure="ask")
    code, text = deploy("3.0.0")
    assert code == 4, text
    assert "policy on_smoke_failure: ask kept web2, web3 on 3.0.0" in text
    [hint] = [line for line in text.splitlines() if "To roll back: relkit rollback --env production" in line]
    for host in prod:
        assert live_release(host) == ("3.0.0", [])
        assert db_state(host)[0] == 2
    decision = last(proj, "decision.needed")
    assert decision.data["policy"] == "on_smoke_failure: ask" and decision.data["failed"] == ["web2", "web3"]
    assert last(proj, "run.finished").data["status"] == "failed_kept"

    # the command the message names: signed by ops (--key), decided by the PO (--by)
    monkeypatch.delenv("RELKIT_KEY")
    rollback = ["rollback", "--env", "production", "--by", "dewi", "--reason", "3.0.0 fails its smoke test"]
    capsys.readouterr()
    assert main(["-C", str(root), *rollback]) == 3, "an unsigned rollback of production"
    assert "add --key" in capsys.readouterr().err
    assert main(["-C", str(root), *rollback, "--key", str(keys["ops"])]) == 0
    on_release(prod, OLD)
    assert {h.name: db_state(h) for h in prod} == before
    requested = last(proj, "rollback.requested")
    assert (requested.data["by"], requested.data["signed_by"]) == ("dewi", "ops")
    act = last(proj, "act.signed")
    assert (act.run_id, act.data["act"], act.data["principal"]) == (requested.run_id, "rollback", "ops")
    assert api.ledger_verify(proj).ok
    # the message names the command production takes: signed (--key), decided by (--by), why (--reason)
    for part in ("--key", "--by NAME", "--reason TEXT"):
        assert part in hint, f"{hint!r} names a rollback production refuses (exit 3 unsigned)"
