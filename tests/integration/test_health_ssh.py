"""``relkit health`` over real SSH hosts: results, metrics, the rollback policy, skips.

The example web app runs on every host; its health is made bad after a deploy the way it
goes bad in production: error lines appear in its log, or its process dies.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from relkit import api
from relkit.cli import main
from relkit.project import Project
from relkit.store.locks import hold, lock_path
from tests.integration.test_deploy_ssh import assert_live
from tests.sshhosts import SshHost
from tests.sshproject import write_project
from tests.support.clirunner import document

pytestmark = pytest.mark.integration

LOG = "/opt/webapp/shared/log/app.log"
STATE = "/opt/webapp/.relkit/health-state.json"
ERRORS = {"name": "errors", "log": "shared/log/app.log", "pattern": "ERROR|Traceback", "max_matches": 0}
LATENCY = {
    "name": "latency",
    "http": "http://{{ app_bind }}:{{ app_port }}/health",
    "max_latency_ms": 3000,
    "severity": "warning",
}


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float

    def json(self) -> dict[str, Any]:
        """The ``--output json`` envelope on stdout."""
        return document(self.out)


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli(project_root, "health", ...)``: relkit in-process; code, stdout, stderr, seconds."""

    def run(root: Path, *args: str | Path) -> Result:
        capsys.readouterr()
        started = time.monotonic()
        code = main(["-C", str(root), *[str(a) for a in args]])
        seconds = time.monotonic() - started
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err, seconds)

    return run


def setup(tmp_path: Path, hosts: list[SshHost], health: dict[str, Any], *versions: str) -> Project:
    root = write_project(tmp_path / "project", {"staging": hosts}, config={"health": health})
    project = Project.load(root)
    for version in versions:
        api.deploy(project, root / "releases" / f"{version}.yml", "staging", by="ops")
    return project


def metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def kinds(project: Project, kind: str) -> list[Any]:
    return api.ledger_entries(project, kind=kind, env="staging")


def test_warning_only_exits_0_with_table_json_ledger_and_prom_file(
    ssh_pool_factory: Callable[..., Any], tmp_path: Path, cli: Cli
) -> None:
    hosts = ssh_pool_factory(2).hosts
    too_much_disk = {"name": "disk", "disk_free_mb": 10**9, "severity": "warning"}
    project = setup(tmp_path, hosts, {"checks": [LATENCY, too_much_disk, ERRORS]}, "1.0.0")
    prom = tmp_path / "relkit.prom"

    result = cli(project.root, "--output", "json", "health", "--env", "staging", "--prom-file", prom)
    assert result.code == 0, result.err
    report = result.json()["result"]
    assert report["status"] == "warning" and not report["critical"]
    for host in ("web1", "web2"):
        checks = {c["name"]: c for c in report["hosts"][host]["checks"]}
        assert list(checks) == ["health", "port", "latency", "disk", "errors"], "smoke checks first"
        assert {n: c["status"] for n, c in checks.items()} == {
            "health": "ok", "port": "ok", "latency": "ok", "disk": "warning", "errors": "ok",
        }  # fmt: skip
        assert checks["health"]["severity"] == "critical" and checks["health"]["source"] == "smoke"
        assert report["hosts"][host]["version"] == "1.0.0"
        assert json.loads(hosts[int(host[-1]) - 1].ssh(f"cat {STATE}", check=True).stdout)["log:errors"]

    parsed = metrics(prom.read_text())
    status = {(lab["host"], lab["check"]): v for lab, v in parsed["relkit_health_check_status"]}
    assert status[("web1", "disk")] == 1 and status[("web2", "health")] == 0
    assert {lab["host"]: v for lab, v in parsed["relkit_health_host_status"]} == {"web1": 1, "web2": 1}
    assert sorted((lab["host"], lab["version"]) for lab, _ in parsed["relkit_release_info"]) == [
        ("web1", "1.0.0"),
        ("web2", "1.0.0"),
    ]
    assert all(0 <= v < 300 for _, v in parsed["relkit_release_deployed_seconds"])
    latency = {(lab["host"], lab["check"]): v for lab, v in parsed["relkit_health_check_latency_seconds"]}
    assert 0 < latency[("web1", "health")] < 3

    [recorded] = kinds(project, "health.result")
    assert recorded.data["status"] == "warning" and recorded.run_id == report["run_id"]
    assert set(recorded.data["hosts"]) == {"web1", "web2"}
    finished = [e for e in kinds(project, "run.finished") if e.run_id == report["run_id"]]
    assert [(e.data["action"], e.data["status"]) for e in finished] == [("health", "warning")]

    text = cli(project.root, "health", "--env", "staging")
    assert text.code == 0
    assert "health: staging" in text.out and "disk" in text.out and "MiB free under" in text.out
    assert "warning staging: 2 host(s) checked" in text.out
    assert api.ledger_verify(project).ok


def test_log_errors_trigger_automatic_rollback_with_evidence(
    ssh_pool_factory: Callable[..., Any], tmp_path: Path, cli: Cli
) -> None:
    hosts = ssh_pool_factory(2).hosts
    policy = {"critical_threshold": 2, "on_critical": "rollback", "checks": [ERRORS]}
    project = setup(tmp_path, hosts, policy, "1.0.0", "2.0.0")

    baseline = cli(project.root, "health", "--env", "staging")
    assert baseline.code == 0, baseline.err
    assert "baseline" in baseline.out

    hosts[0].ssh(f"echo 'ERROR payment provider timed out' >> {LOG}", check=True)
    first = cli(project.root, "health", "--env", "staging")
    assert first.code == 4
    assert "1 of 2 in a row" in first.err and "web1 errors: 1 matching line(s)" in first.err
    assert not kinds(project, "decision.*")
    for host in hosts:
        assert_live(host, "2.0.0")

    hosts[0].ssh(f"echo 'ERROR payment provider timed out again' >> {LOG}", check=True)
    second = cli(project.root, "--output", "json", "health", "--env", "staging")
    assert second.code == 4
    payload = second.json()
    assert payload["error"]["kind"] == "HealthCritical" and payload["exit_code"] == 4
    assert payload["result"]["rolled_back"] == {"web1": "1.0.0", "web2": "1.0.0"}
    assert "rolled back automatically: web1 → 1.0.0, web2 → 1.0.0" in payload["error"]["message"]
    for host in hosts:
        assert_live(host, "1.0.0")

    [decision] = kinds(project, "decision.made")
    assert decision.data["decision"] == "rollback" and decision.data["by"] == "relkit-health"
    assert decision.data["automatic"] is True and decision.data["source"] == "health"
    assert decision.data["policy"] == {"on_critical": "rollback", "critical_threshold": 2}
    streak = [e for e in kinds(project, "health.result") if e.data["status"] == "critical"]
    assert [p["seq"] for p in decision.data["evidence"]] == [e.seq for e in streak]
    said = "errors: 1 matching line(s) since last run, max 0: ERROR payment provider timed out"
    assert [p["failing"] for p in decision.data["evidence"]] == [
        {"web1": [said]},
        {"web1": [said + " again"]},
    ]
    [requested] = kinds(project, "rollback.requested")
    assert requested.data["by"] == "relkit-health" and requested.seq > decision.seq
    assert requested.data["reason"].startswith("health critical 2 times in a row (threshold 2): web1: errors")
    back = [e for e in kinds(project, "host.switched") if e.seq > requested.seq]
    assert {(e.host, e.data["version"], e.data["by"]) for e in back} == {
        ("web1", "1.0.0", "relkit-health"),
        ("web2", "1.0.0", "relkit-health"),
    }

    after = cli(project.root, "health", "--env", "staging")
    assert after.code == 0, "the rollback opened a new window: the log is counted from there on"
    assert len(kinds(project, "decision.made")) == 1
    assert api.ledger_verify(project).ok


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server taking notification webhooks: (url, the JSON bodies received)."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_ask_policy_records_one_decision_for_the_po(
    ssh_pool_factory: Callable[..., Any],
    tmp_path: Path,
    cli: Cli,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    hosts = ssh_pool_factory(2).hosts
    url, received = webhook
    root = write_project(
        tmp_path / "project",
        {"staging": hosts},
        config={
            "health": {"critical_threshold": 1, "on_critical": "ask"},
            "notifications": {
                "channels": {"ops": {"type": "webhook", "url": url, "events": ["health.critical"]}}
            },
        },
    )
    project = Project.load(root)
    api.deploy(project, root / "releases" / "1.0.0.yml", "staging", by="ops")
    hosts[0].ssh("python3 /opt/webapp/current/app.py stop --pidfile /opt/webapp/shared/app.pid", check=True)

    first = cli(project.root, "health", "--env", "staging")
    assert first.code == 4
    assert "rollback decision needed from the PO" in first.err
    [notice] = received
    assert notice["event"] == "health.critical"
    assert notice["text"].startswith("[webapp] Health CRITICAL on staging (1.0.0): web1")
    assert "  - web1: health critical: no answer" in notice["text"] and "web2" not in notice["text"]
    assert "Next: the PO decides: relkit rollback --env staging --by <PO>" in notice["text"]
    [needed] = kinds(project, "decision.needed")
    assert needed.data["decision"] == "rollback?" and needed.data["who"] == "po"
    assert needed.data["what_to_do"].startswith("relkit rollback --env staging --by <PO>")
    [proof] = needed.data["evidence"]
    assert list(proof["failing"]) == ["web1"]
    assert any(line.startswith("health: no answer") for line in proof["failing"]["web1"])
    assert not kinds(project, "rollback.*"), "ask never rolls back by itself"

    hosts[1].stop_sshd()
    second = cli(project.root, "--output", "json", "health", "--env", "staging")
    assert second.code == 4
    result = second.json()["result"]
    assert result["hosts"]["web2"]["problem"].startswith("unreachable")
    assert "decision already recorded for this release" in second.json()["error"]["message"]
    assert len(kinds(project, "decision.needed")) == 1, "one decision per release, not one per run"
    assert len(received) == 1, "no new notice while the same problem goes on and the decision is open"


def test_window_end_and_running_deploy_skip_without_touching_hosts_or_lock(
    ssh_pool_factory: Callable[..., Any], tmp_path: Path, cli: Cli
) -> None:
    hosts = ssh_pool_factory(1).hosts
    project = setup(tmp_path, hosts, {"critical_threshold": 1, "checks": [ERRORS]}, "1.0.0")
    rows = len(api.ledger_entries(project))

    later = datetime.now(UTC) + timedelta(hours=25)
    started = time.monotonic()
    report = api.health(project, "staging", now=later)
    assert time.monotonic() - started < 0.5
    assert report.status == "skipped" and report.skipped.startswith("monitoring window of staging ended")
    assert hosts[0].ssh(f"test -e {STATE}").returncode == 1, "no host was contacted"
    assert len(api.ledger_entries(project)) == rows
    forced = api.health(project, "staging", now=later, always=True)
    assert forced.status == "ok" and not forced.skipped

    path = lock_path(project.state_dir, "staging")
    with hold(project.state_dir, "staging", "deploy-run-1", "deploy"):
        before = (path.read_bytes(), path.stat().st_ino, path.stat().st_mtime_ns)
        skipped = cli(project.root, "health", "--env", "staging", "--wait", "0.3")
        assert skipped.code == 0 and "deploy in progress, skipped" in skipped.out
        assert (path.read_bytes(), path.stat().st_ino, path.stat().st_mtime_ns) == before
    rows = len(api.ledger_entries(project))

    ready = threading.Event()

    def short_deploy() -> None:
        with hold(project.state_dir, "staging", "deploy-run-2", "deploy"):
            ready.set()
            time.sleep(0.8)

    worker = threading.Thread(target=short_deploy)
    worker.start()
    ready.wait(5)
    waited = cli(project.root, "health", "--env", "staging", "--wait", "10")
    worker.join()
    assert waited.code == 0 and "skipped" not in waited.out, "waited for the deploy, then checked"
    assert waited.seconds >= 0.7
    assert len(kinds(project, "health.result")) == 2
    assert len(api.ledger_entries(project)) > rows

    # A killed deploy left a stale lock: health still checks, but its rollback may not break
    # the lock, so the PO decides.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    holder = {"user": "ops", "host": socket.gethostname(), "pid": dead.pid, "started": "2026-11-18T12:00:00",
              "run_id": "killed-deploy", "action": "deploy"}  # fmt: skip
    path.write_text(json.dumps(holder))
    stale = path.read_bytes()
    hosts[0].ssh(f"echo 'ERROR disk quota exceeded' >> {LOG}", check=True)
    blocked = cli(project.root, "--output", "json", "health", "--env", "staging")
    assert blocked.code == 4
    result = blocked.json()["result"]
    assert any("stale lock" in note and "killed-deploy" in note for note in result["notes"])
    assert "automatic rollback blocked" in result["decision"]["note"] and not result["rolled_back"]
    [needed] = kinds(project, "decision.needed")
    assert "STALE" in needed.data["blocked_by"] and needed.data["evidence"][0]["failing"]["web1"]
    assert path.read_bytes() == stale, "the stale lock is left for relkit unlock"
    assert_live(hosts[0], "1.0.0")


def test_a_host_on_another_release_than_the_ledger_says_is_checked_on_its_own(
    ssh_pool_factory: Callable[..., Any], tmp_path: Path, cli: Cli
) -> None:
    # relkit names each host's live release from its ledger (the checks name relkit_version); a
    # host switched by hand since fails that call, checking nothing, and is checked again after
    # reading its live release itself
    hosts = ssh_pool_factory(2).hosts
    project = setup(tmp_path, hosts, {"checks": []}, "1.0.0", "2.0.0")
    web2 = hosts[1]
    app = "cd /opt/webapp && python3 current/app.py"
    web2.ssh(f"{app} stop --pidfile shared/app.pid && ln -sfn releases/1.0.0 current", check=True)
    web2.ssh(
        f"cd /opt/webapp; python3 current/app.py serve --bind {web2.address} --port 18080 "
        "--db shared/data/app.db --pidfile shared/app.pid >> shared/log/app.log 2>&1 < /dev/null & sleep 0.5",
        check=True,
    )

    result = cli(project.root, "--output", "json", "health", "--env", "staging")
    assert result.code == 0, result.err
    report = result.json()["result"]
    assert report["status"] == "ok"
    assert {h: report["hosts"][h]["version"] for h in ("web1", "web2")} == {"web1": "2.0.0", "web2": "1.0.0"}
    tasks = [e for e in kinds(project, "task.result") if e.run_id == report["run_id"]]
    refused = [e for e in tasks if e.data["status"] == "failed"]
    assert [e.host for e in refused] == ["web2"] and "not 2.0.0" in refused[0].data["msg"]
    assert [e.data["task"] for e in tasks if e.host == "web2"][-1] == "Health checks"
    [recorded] = kinds(project, "health.result")
    assert recorded.data["versions"] == {"web1": "2.0.0", "web2": "1.0.0"}


SICK = {"name": "sick", "command": "test ! -e shared/sick-{{ inventory_hostname }}", "severity": "critical"}


def _shape(report: api.HealthReport) -> dict[str, Any]:
    """What a health run found, less what varies between two runs (latency, values)."""
    return {
        h.host: (h.version, h.status, [(c["name"], c["kind"], c["source"], c["severity"], c["status"],
                                        c["detail"]) for c in h.checks])
        for h in report.hosts.values()
    }  # fmt: skip


def _run_dirs(project: Project, run_id: str) -> list[Path]:
    return list((project.state_dir / "runs").glob(f"{run_id}-*"))


def test_after_a_deploy_health_checks_over_the_host_cards_as_the_play_would(
    ssh_pool_factory: Callable[..., Any], tmp_path: Path, cli: Cli
) -> None:
    hosts = ssh_pool_factory(2).hosts
    policy = {"critical_threshold": 3, "on_critical": "rollback", "checks": [ERRORS, SICK]}
    project = setup(tmp_path, hosts, policy, "1.0.0", "2.0.0")

    play = api.health(project, "staging", full_play=True)  # first run: the log baselines
    assert play.checked_by == {"how": "play", "why_play": "not tried (--full-play)"}
    assert _run_dirs(project, play.run_id)
    direct = api.health(project, "staging")
    assert direct.checked_by == {"how": "direct", "why_play": None}, direct.checked_by
    assert not _run_dirs(project, direct.run_id), "no play ran"
    assert direct.status == play.status == "ok"
    assert [c[0] for c in _shape(direct)["web1"][2]] == ["health", "port", "errors", "sick"]
    versions = {h: s[0] for h, s in _shape(direct).items()}
    assert versions == {h: s[0] for h, s in _shape(play).items()} == {"web1": "2.0.0", "web2": "2.0.0"}
    assert {h: [c[:5] for c in s[2]] for h, s in _shape(direct).items()} == {
        h: [c[:5] for c in s[2]] for h, s in _shape(play).items()
    }
    tasks = [e for e in kinds(project, "task.result") if e.run_id == direct.run_id]
    assert {(e.host, e.data["task"], e.data["status"]) for e in tasks} == {
        ("web1", "Health checks (direct, no play)", "ok"), ("web2", "Health checks (direct, no play)", "ok"),
    }  # fmt: skip

    # the same failures, seen directly and by the play: the same results, one critical streak
    hosts[0].ssh(f"echo 'ERROR payment provider timed out' >> {LOG}", check=True)
    hosts[1].ssh("touch /opt/webapp/shared/sick-web2", check=True)
    first = cli(project.root, "--output", "json", "health", "--env", "staging")
    assert first.code == 4
    seen = first.json()["result"]
    assert seen["checked_by"]["how"] == "direct" and seen["consecutive_critical"] == 1
    hosts[0].ssh(f"echo 'ERROR payment provider timed out' >> {LOG}", check=True)
    second = cli(project.root, "--output", "json", "health", "--env", "staging", "--full-play")
    assert second.code == 4
    again = second.json()["result"]
    assert again["checked_by"]["how"] == "play" and again["consecutive_critical"] == 2
    strip = lambda r: {  # noqa: E731
        h: (
            v["version"],
            v["status"],
            [{k: c[k] for k in c if k not in ("latency_ms", "value")} for c in v["checks"]],
        )
        for h, v in r["hosts"].items()
    }
    assert strip(seen) == strip(again)
    assert strip(seen)["web1"][1] == "critical" and strip(seen)["web2"][1] == "critical"
    results = kinds(project, "health.result")[-2:]
    assert [e.data["checked_by"] for e in results] == ["direct", "play"]
    statuses = [{h: [c["status"] for c in v["checks"]] for h, v in e.data["hosts"].items()} for e in results]
    assert statuses[0] == statuses[1]
    failed = [
        e
        for e in kinds(project, "task.result")
        if e.run_id == seen["run_id"] and e.data["status"] == "failed"
    ]
    assert sorted(e.host for e in failed) == ["web1", "web2"]
    assert failed[0].data["msg"].startswith("critical: ")
    hosts[1].ssh("rm /opt/webapp/shared/sick-web2", check=True)
    assert api.health(project, "staging").status == "ok"

    # a tampered cards file: the play
    cards = project.state_dir / "live-check" / "staging.json"
    cards.write_text(cards.read_text().replace("test ! -e", "test -n"))
    tampered = api.health(project, "staging")
    assert tampered.checked_by["how"] == "play" and "HMAC does not match" in tampered.checked_by["why_play"]
    assert tampered.status == "ok" and _run_dirs(project, tampered.run_id)
    api.deploy(project, project.root / "releases" / "2.0.0.yml", "staging", by="ops")  # keeps new cards
    assert api.health(project, "staging").checked_by["how"] == "direct"

    # relkit.yml changed: the play (until a deploy keeps cards for it)
    config = project.root / "relkit.yml"
    text = config.read_text()
    settings = yaml.safe_load(text)
    settings["health"]["timeout"] = 7
    config.write_text(yaml.safe_dump(settings))
    changed = api.health(Project.load(project.root), "staging")
    assert changed.checked_by["why_play"].startswith("relkit.yml, the inventory or the environment changed")
    config.write_text(text)

    # a rollback since the deploy: the ledger has another release than the cards
    api.rollback(project, "staging", by="ops", reason="test")
    back = api.health(project, "staging")
    assert back.checked_by["how"] == "play"
    assert back.checked_by["why_play"] == "the ledger has web1, web2 on another release than the cards' 2.0.0"
    assert {h.version for h in back.hosts.values()} == {"1.0.0"} and back.status == "ok"
    assert api.ledger_verify(project).ok
