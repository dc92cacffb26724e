"""Rollouts over real SSH on six hosts: canary first, analysis between batches, unwinding.

``environments.staging.rollout`` cuts the six hosts (inventory order) into batches; the
analysis is a real health check run on the switched hosts (a command that fails where the test
put a flag file in the host's /opt), the hosts are real sshd's serving the example app, and
every assertion reads the hosts' own deploy paths and databases and the ledger.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from relkit import api
from relkit.cli import main
from relkit.cli.envelope import output_schema
from relkit.errors import PlayFailed
from relkit.gates import GateResult
from relkit.project import Project
from tests import promserver
from tests.hostcheck import app_version, db_state, deploy_dir, leftovers, live_release, post_note
from tests.integration.killing import kill_controller
from tests.sshhosts import SshHost
from tests.sshproject import APP_PORT, add_release, signing_keys, write_project
from tests.support.clirunner import document, payload

pytestmark = pytest.mark.integration

FLAG = "analysis-fails"
"""A file in a host's /opt that makes the analysis check fail there."""

ANALYSIS = {"checks": [{"name": "no-flag", "command": f"test ! -e /opt/{FLAG}"}]}
HOOKS = {
    "drain": 'echo "drain $RELKIT_VERSION" >> /opt/lb.log',
    "undrain": 'echo "undrain $RELKIT_VERSION" >> /opt/lb.log',
}


def valid(stdout: str) -> str:
    """``stdout``, once its JSON document is found valid against ``relkit schema output``."""
    jsonschema.Draft202012Validator(output_schema()).validate(document(stdout))
    return stdout


def set_rollout(root: Path, rollout: dict[str, Any] | None) -> Project:
    """relkit.yml's staging rollout replaced; the project loaded again."""
    path = root / "relkit.yml"
    config = yaml.safe_load(path.read_text())
    config["environments"]["staging"].pop("rollout", None)
    if rollout is not None:
        config["environments"]["staging"]["rollout"] = rollout
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Project.load(root)


def versions(hosts: list[SshHost]) -> dict[str, str | None]:
    """Host → the complete release its ``current`` names (any partial one fails the test)."""
    found = {}
    for host in hosts:
        version, problems = live_release(host)
        assert not problems, problems
        assert not leftovers(host), leftovers(host)
        found[host.name] = version
    return found


def switched_to(project: Project, version: str) -> list[str]:
    """Hosts the ledger says switched to ``version`` (any run)."""
    return sorted(
        {e.host for e in api.ledger_entries(project, kind="host.switched") if e.data["version"] == version}
    )


def promotion(project: Project, manifest: Path) -> GateResult:
    """Production's ``promoted_from`` gate for ``manifest``, as relkit evaluates it."""
    _, report, _ = api.check_gates(project, manifest, "production")
    return next(g for g in report.results if g.name == "promoted_from")


def rollout_entries(project: Project, kind: str) -> list[Any]:
    return [e for e in api.ledger_entries(project, kind=kind)]


@pytest.fixture
def fleet(ssh_pool_factory, tmp_path: Path) -> tuple[Path, list[SshHost]]:
    """Six hosts on 1.0.0 (deployed in one step), each with a note in its database; production
    (web6 again: only its gates are ever evaluated) is promoted from staging."""
    hosts = ssh_pool_factory(6).hosts
    root = write_project(
        tmp_path / "project", {"staging": hosts, "production": hosts[5:]}, promote={"production": "staging"}
    )
    api.deploy(Project.load(root), root / "releases" / "1.0.0.yml", "staging", by="ops")
    for host in hosts:
        post_note(host, f"note on {host.name}")
    return root, hosts


def test_canary_then_batch_two_fail_their_analysis_then_all_pass(fleet, capsys) -> None:
    root, hosts = fleet
    names = [h.name for h in hosts]
    project = set_rollout(
        root, {"batches": [1, "50%", "100%"], "analysis": ANALYSIS, "hooks": HOOKS, "on_failure": "rollback"}
    )
    release = root / "releases" / "2.0.0.yml"

    # 1. the canary fails its analysis: only it switched, and it is back on 1.0.0 with its data
    (hosts[0].opt / FLAG).touch()
    with pytest.raises(PlayFailed) as failed:
        api.deploy(project, release, "staging", by="ops")
    message = str(failed.value)
    assert "analysis failed" in message and "web1" in message, message
    assert "never switched: web2, web3, web4, web5, web6" in message, message
    # the canary passed its smoke test with this very artifact: that does not promote it
    assert "passed only on part of staging" in promotion(project, release).reason
    assert versions(hosts) == dict.fromkeys(names, "1.0.0")
    assert switched_to(project, "2.0.0") == ["web1"]
    assert db_state(hosts[0])[:2] == (1, 1), "the canary's data is back as 1.0.0 left it"
    assert app_version(hosts[0]) == "1.0.0"
    finished = rollout_entries(project, "rollout.finished")[-1]
    assert (finished.data["status"], finished.data["rolled_back"]) == ("rolled_back", {"web1": "1.0.0"})
    # unwound over the canary's own probe card, without a rollback play
    unwound = [e for e in rollout_entries(project, "task.result") if e.run_id == finished.run_id]
    assert [(e.host, e.data["status"]) for e in unwound if e.data["task"].endswith("(direct, no play)")] == [
        ("web1", "ok")
    ]
    analysis = rollout_entries(project, "rollout.analysis")[-1].data
    assert analysis["passed"] is False and analysis["checks"]["web1"]["status"] == "critical"
    # the canary was drained before its switch and put back after each smoke pass
    assert (hosts[0].opt / "lb.log").read_text().split("\n")[:2] == ["drain 1.0.0", "undrain 2.0.0"]
    assert not (hosts[1].opt / "lb.log").exists(), "a host that never switched was never drained"

    # 2. batch 2 (web2, web3) fails: batches 1 and 2 return, the rest never switched
    (hosts[0].opt / FLAG).unlink()
    (hosts[2].opt / FLAG).touch()
    with pytest.raises(PlayFailed) as failed:
        api.deploy(project, release, "staging", by="ops")
    assert "web3" in str(failed.value) and "never switched: web4, web5, web6" in str(failed.value)
    assert versions(hosts) == dict.fromkeys(names, "1.0.0")
    assert switched_to(project, "2.0.0") == ["web1", "web2", "web3"]
    finished = rollout_entries(project, "rollout.finished")[-1].data
    assert finished["rolled_back"] == {"web1": "1.0.0", "web2": "1.0.0", "web3": "1.0.0"}
    for host in hosts[:3]:
        assert db_state(host)[:2] == (1, 1)

    # 3. nothing fails: every host switched, batch by batch
    (hosts[2].opt / FLAG).unlink()
    report = api.deploy(project, release, "staging", by="ops")
    assert report.ok and report.details["rollout"]["status"] == "complete"
    assert report.details["rollout"]["batches"] == [["web1"], ["web2", "web3"], ["web4", "web5", "web6"]]
    assert versions(hosts) == dict.fromkeys(names, "2.0.0")
    batches = [e.data for e in rollout_entries(project, "rollout.batch")][-3:]
    assert [(b["index"], b["hosts"], b["ok"]) for b in batches] == [
        (0, ["web1"], True),
        (1, ["web2", "web3"], True),
        (2, ["web4", "web5", "web6"], True),
    ]
    assert [e.data["passed"] for e in rollout_entries(project, "rollout.analysis")][-2:] == [True, True]
    for host in hosts:
        assert db_state(host)[0] == 2 and app_version(host) == "2.0.0"
    assert promotion(project, release).passed, "a complete rollout on staging promotes the release"
    # the rollout kept the host cards: a redeploy is verified over SSH, no batch played again
    assert report.details["quick_check"]["host_cards"] == "kept"
    again = api.deploy(project, release, "staging", by="ops")
    assert again.details["quick_check"]["used"] is True and again.details["rollout"] is None
    assert len(rollout_entries(project, "rollout.started")) == 3
    assert main(["-C", str(root), "ledger", "verify"]) == 0
    capsys.readouterr()
    assert main(["-C", str(root), "--output", "json", "status"]) == 0
    assert payload(capsys.readouterr().out)["rollouts"] == {}, "no rollout left open"


def test_approval_pause_waits_for_a_signed_continue(fleet, capsys) -> None:
    root, hosts = fleet
    keys = signing_keys(root, {"ops": ("ops",), "mallory": ("qa",)})
    config = yaml.safe_load((root / "relkit.yml").read_text())
    config.setdefault("approvals", {})["allowed_signers"] = "allowed_signers"
    (root / "relkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    set_rollout(root, {"batches": [1, "100%"], "pause": "approval", "analysis": ANALYSIS})
    release = str(root / "releases" / "2.0.0.yml")
    cli = ["-C", str(root), "--output", "json"]

    assert main([*cli, "deploy", release, "--env", "staging", "--as", "ops"]) == 0
    paused = payload(valid(capsys.readouterr().out))["details"]["rollout"]
    assert (paused["status"], paused["done"], paused["waiting_for"]) == (
        "waiting for approval",
        1,
        "approval",
    )
    assert versions(hosts) == {"web1": "2.0.0", **{h.name: "1.0.0" for h in hosts[1:]}}
    assert main([*cli, "status"]) == 0
    open_rollout = payload(valid(capsys.readouterr().out))["rollouts"]["staging"]
    assert open_rollout["status"] == "waiting for approval" and open_rollout["next_batch"] == 1

    # without --continue, unsigned, or signed by a key not allowed for relkit-ops: nothing moves
    assert main([*cli, "deploy", release, "--env", "staging", "--as", "ops"]) == 2
    assert "--continue" in document(capsys.readouterr().out)["error"]["message"]
    assert main([*cli, "deploy", release, "--env", "staging", "--continue"]) == 3
    assert "sign it with --key" in document(capsys.readouterr().out)["error"]["message"]
    assert (
        main([*cli, "deploy", release, "--env", "staging", "--continue", "--key", str(keys["mallory"])]) == 2
    )
    assert "not allowed to sign as ops" in document(capsys.readouterr().out)["error"]["message"]
    assert versions(hosts) == {"web1": "2.0.0", **{h.name: "1.0.0" for h in hosts[1:]}}

    assert main([*cli, "deploy", release, "--env", "staging", "--continue", "--key", str(keys["ops"])]) == 0
    done = payload(valid(capsys.readouterr().out))["details"]["rollout"]
    assert done["status"] == "complete"
    assert versions(hosts) == {h.name: "2.0.0" for h in hosts}
    project = Project.load(root)
    continued = rollout_entries(project, "rollout.continued")
    assert [(e.data["after_batch"], e.data["by"]) for e in continued] == [(0, "ops")]
    signed = [
        e.data for e in rollout_entries(project, "act.signed") if e.data["statement"]["act"] == "continue"
    ]
    assert len(signed) == 1 and signed[0]["principal"] == "ops"
    assert main(["-C", str(root), "ledger", "verify"]) == 0


def _ledger_has(root: Path, kind: str, count: int = 1) -> bool:
    try:
        return len(api.ledger_entries(Project.load(root), kind=kind)) >= count
    except Exception:
        return False


def _deploy_and_kill_in_pause(root: Path, release: Path, control_dir: Path) -> None:
    """Run ``relkit deploy`` as its own process; SIGKILL it once its rollout pauses (a new
    ``rollout.paused`` in the ledger)."""
    seen = len(api.ledger_entries(Project.load(root), kind="rollout.paused"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "relkit",
            "-C",
            str(root),
            "deploy",
            str(release),
            "--env",
            "staging",
            "--as",
            "ops",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
        env={**os.environ, "RELKIT_USER": "ops"},
    )
    deadline = time.monotonic() + 120
    while not _ledger_has(root, "rollout.paused", seen + 1):
        assert proc.poll() is None, f"deploy ended ({proc.returncode}) before its rollout paused"
        assert time.monotonic() < deadline, "the rollout never paused"
        time.sleep(0.1)
    kill_controller(proc, control_dir)
    assert proc.returncode == -signal.SIGKILL


def test_controller_killed_between_batches_is_told_then_resumed_or_unwound(fleet, capsys) -> None:
    root, hosts = fleet
    set_rollout(root, {"batches": [2, "100%"], "pause": 30, "analysis": ANALYSIS})
    release = root / "releases" / "2.0.0.yml"
    cli = ["-C", str(root), "--output", "json"]

    # killed during the pause after batch 1: status tells, the next deploy resumes
    _deploy_and_kill_in_pause(root, release, control_dir=hosts[0].control_dir)
    assert versions(hosts) == {"web1": "2.0.0", "web2": "2.0.0", **{h.name: "1.0.0" for h in hosts[2:]}}
    assert main([*cli, "status"]) == 0
    view = payload(capsys.readouterr().out)
    rollout = view["rollouts"]["staging"]
    assert (rollout["status"], rollout["done"], rollout["next_batch"]) == ("interrupted", 1, 1)
    assert rollout["switched"] == ["web1", "web2"]
    assert "STALE" in view["locks"]["staging"]
    assert main(["-C", str(root), "status"]) == 0
    text = capsys.readouterr().out
    assert "rollout of 2.0.0 on staging: interrupted, batch 1 of 2 done" in text
    assert "batch 2 (next): web3 1.0.0, web4 1.0.0" in " ".join(text.split()), text
    assert main(["-C", str(root), "unlock", "--env", "staging", "--by", "ops"]) == 0
    project = set_rollout(root, {"batches": [2, "100%"], "pause": 1, "analysis": ANALYSIS})
    report = api.deploy(project, release, "staging", by="ops")
    assert report.ok and report.details["rollout"]["status"] == "complete"
    assert report.details["rollout"]["runs"][0] != report.run_id, "the same rollout, resumed by a new run"
    assert versions(hosts) == {h.name: "2.0.0" for h in hosts}
    resumed = rollout_entries(project, "rollout.resumed")
    assert [e.data["from_batch"] for e in resumed] == [1]

    # killed again during a rollout of 2.1.0: another release is refused, the rollback unwinds
    # batch 1 and leaves batch 2 (the one it may have been playing) on the release it never left
    newer = add_release(root, "2.1.0")
    set_rollout(root, {"batches": [3, "100%"], "pause": 30})
    _deploy_and_kill_in_pause(root, newer, control_dir=hosts[0].control_dir)
    assert versions(hosts) == {**{h.name: "2.1.0" for h in hosts[:3]}, **{h.name: "2.0.0" for h in hosts[3:]}}
    assert main(["-C", str(root), "unlock", "--env", "staging", "--by", "ops"]) == 0
    capsys.readouterr()
    assert main([*cli, "deploy", str(release), "--env", "staging", "--as", "ops"]) == 2
    assert "a rollout of 2.1.0 is open on staging" in document(capsys.readouterr().out)["error"]["message"]
    rollback = ["rollback", "--env", "staging", "--by", "ops", "--reason", "unwind the rollout"]
    assert main(["-C", str(root), *rollback]) == 0
    capsys.readouterr()
    assert versions(hosts) == {h.name: "2.0.0" for h in hosts}
    finished = rollout_entries(Project.load(root), "rollout.finished")[-1].data
    assert finished["status"] == "rolled_back"
    assert finished["rolled_back"] == {"web1": "2.0.0", "web2": "2.0.0", "web3": "2.0.0"}
    for host in hosts[3:]:  # never switched to 2.1.0: left alone, not rolled back to 1.0.0
        history = (deploy_dir(host) / ".relkit" / "history.jsonl").read_text().splitlines()
        assert json.loads(history[-1])["version"] == "2.0.0", history
    assert main([*cli, "status"]) == 0
    assert payload(capsys.readouterr().out)["rollouts"] == {}


def test_prometheus_analysis_stops_a_release_whose_errors_show_in_metrics(ssh_pool_factory, tmp_path) -> None:
    """A real Prometheus scrapes every host's /metrics each second while users read /notes; 2.2.0
    passes its smoke test (/health is fine) but fails /notes: the canary's errors show in the
    query, the rollout stops and the canary returns. 2.1.0 is good: every batch goes."""
    why = promserver.available()
    if why:
        pytest.skip(why)
    hosts = ssh_pool_factory(6).hosts
    root = write_project(tmp_path / "project", {"staging": hosts})
    api.deploy(Project.load(root), root / "releases" / "2.0.0.yml", "staging", by="ops")
    good = add_release(root, "2.1.0")
    bad = add_release(root, "2.2.0", features=("authors", "notes-bug"))
    targets = [f"{h.address}:{APP_PORT}" for h in hosts]
    with promserver.PromServer(tmp_path / "prometheus", targets) as prom, _users_reading_notes(hosts):
        query = {"url": prom.url, "query": "sum(webapp_http_errors_total)", "max": 0}
        project = set_rollout(root, {"batches": [1, "100%"], "pause": 4, "analysis": {"prometheus": query}})
        _wait_for(lambda: len(prom.query("up == 1")["data"]["result"]) == 6, "every host scraped")

        with pytest.raises(PlayFailed) as failed:
            api.deploy(project, bad, "staging", by="ops")
        assert "prometheus 'sum(webapp_http_errors_total)'" in str(failed.value)
        finding = rollout_entries(project, "rollout.analysis")[-1].data["prometheus"]
        assert finding["passed"] is False and finding["samples"][0]["value"] > 0, finding
        assert versions(hosts) == {h.name: "2.0.0" for h in hosts}
        assert switched_to(project, "2.2.0") == ["web1"]

        # the canary's restarted 2.0.0 answers /notes again: no error once scraped anew
        _wait_for(
            lambda: prom.query("sum(webapp_http_errors_total)")["data"]["result"][0]["value"][1] == "0",
            "errors gone",
        )
        report = api.deploy(project, good, "staging", by="ops")
        assert report.details["rollout"]["status"] == "complete"
        finding = rollout_entries(project, "rollout.analysis")[-1].data["prometheus"]
        assert finding["passed"] is True and finding["samples"] == [{"metric": {}, "value": 0.0}]
        assert versions(hosts) == {h.name: "2.1.0" for h in hosts}


def _wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (OSError, KeyError, IndexError, ValueError):
            pass
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.25)


@contextlib.contextmanager
def _users_reading_notes(hosts: list[SshHost]) -> Iterator[None]:
    """A thread reading every host's /notes five times a second, as users would."""
    stop = threading.Event()

    def read() -> None:
        while not stop.wait(0.2):
            for host in hosts:
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://{host.address}:{APP_PORT}/notes", timeout=1).close()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
