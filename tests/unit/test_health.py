"""relkit.health: the pure logic (streaks, decisions, evidence, metrics) and the CLI paths that skip.

The skip paths (no release, monitoring window over, a deploy holding the lock, bad input)
never start a play, so they run here against the embedded example project; the checks
themselves run over real SSH hosts in tests/integration/test_health_ssh.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import relkit.store.sealing as ledger
from relkit import health
from relkit.cli import main
from relkit.config import Health, ProjectConfig
from relkit.errors import BadInput
from relkit.health import HealthReport, HostHealth
from relkit.loading import validate_data
from relkit.project import Project
from relkit.results import PlayResult, TaskOutcome
from relkit.store.locks import hold, lock_path
from relkit.usecases import health as health_run
from tests.support.clirunner import payload
from tests.support.factories import config_data, entry, problems_of

# -- config ------------------------------------------------------------------------------


def test_health_config_defaults_and_example() -> None:
    cfg = validate_data(ProjectConfig, config_data(), "relkit.yml")
    assert (cfg.health.critical_threshold, cfg.health.on_critical, cfg.health.checks) == (3, "rollback", [])
    assert health.monitoring_hours(cfg) == 24
    example = Project.load(Path(__file__).resolve().parents[2] / "examples" / "project").config
    assert {c.name: c.kind for c in example.health.checks} == {
        "latency": "http",
        "errors": "log",
        "disk": "disk_free_mb",
        "memory": "memory_free_mb",
    }


@pytest.mark.parametrize(
    ("health_section", "expected"),
    [
        ({"checks": [{"name": "a"}]}, "health.checks.0: give exactly one of"),
        ({"checks": [{"name": "a", "port": 80, "log": "x"}]}, "health.checks.0: give exactly one of"),
        (
            {"checks": [{"name": "a", "command": "true", "max_latency_ms": 5}]},
            "health.checks.0.max_latency_ms: goes only with 'http' or 'port', not 'command'",
        ),
        (
            {"checks": [{"name": "a", "disk_free_mb": 5, "pattern": "E"}]},
            "health.checks.0.pattern: goes only with 'log'",
        ),
        (
            {"checks": [{"name": "a", "port": 5, "max_matches": 1}]},
            "health.checks.0.max_matches: goes only with 'log'",
        ),
        (
            {"checks": [{"name": "a", "log": "x", "pattern": "(unclosed"}]},
            "health.checks.0.pattern: not a valid regular expression",
        ),
        ({"checks": [{"name": "a", "port": 1, "severity": "fatal"}]}, "health.checks.0.severity"),
        (
            {"checks": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]},
            "health.checks.1.name: check names must be unique: 'a' is also checks.0's name",
        ),
        (
            {"checks": [{"name": "health", "port": 1}]},
            "health.checks.0.name: names already used by smoke.checks: 'health' is smoke.checks.0's",
        ),
        ({"on_critical": "pray"}, "health.on_critical"),
        ({"critical_threshold": 0}, "health.critical_threshold"),
        ({"monitoring_hours": 24}, "health.monitoring_hours: unknown key"),
    ],
)
def test_bad_health_config_is_named(health_section: dict[str, Any], expected: str) -> None:
    problems = problems_of(ProjectConfig, config_data(health=health_section))
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_monitoring_hours_come_from_policy() -> None:
    cfg = validate_data(ProjectConfig, config_data(policy={"monitoring_hours": 48}), "relkit.yml")
    assert health.monitoring_hours(cfg) == 48
    assert problems_of(ProjectConfig, config_data(policy={"monitoring_hours": 12}))[0].startswith(
        "policy.monitoring_hours"
    )


def test_health_checks_are_smoke_as_critical_then_health() -> None:
    cfg = validate_data(
        ProjectConfig,
        config_data(health={"checks": [{"name": "disk", "disk_free_mb": 50, "severity": "warning"}]}),
        "relkit.yml",
    )
    checks = health.health_checks(cfg)
    assert [(c["name"], c["severity"], c["source"]) for c in checks] == [
        ("health", "critical", "smoke"),
        ("disk", "warning", "health"),
    ]
    assert checks[1] == {"name": "disk", "severity": "warning", "disk_free_mb": 50, "host": "127.0.0.1",
                         "status": 200, "source": "health"}  # fmt: skip


# -- streaks, decisions, evidence --------------------------------------------------------


def _result(seq: int, status: str, env: str = "staging", **hosts: Any) -> Any:
    return entry("health.result", env=env, seq=seq, status=status, hosts=hosts)


def test_critical_streak_counts_trailing_criticals_after_the_switch() -> None:
    entries = [
        _result(1, "critical"),
        entry("host.switched", seq=2, version="2.0.0"),
        _result(3, "critical"),
        _result(4, "ok"),
        _result(5, "critical"),
        _result(6, "critical", env="production"),
        _result(7, "warning"),
        _result(8, "critical"),
        _result(9, "critical"),
    ]
    assert [e.seq for e in health.critical_streak(entries, "staging", since_seq=2)] == [8, 9]
    assert [e.seq for e in health.critical_streak(entries, "production", since_seq=2)] == [6]
    assert health.critical_streak(entries, "staging", since_seq=9) == []
    assert [e.seq for e in health.critical_streak(entries[:3], "staging", since_seq=2)] == [3]


@pytest.mark.parametrize(
    ("streak", "in_window", "decided", "policy", "expected"),
    [
        (2, True, False, "rollback", None),
        (3, True, False, "rollback", "rollback"),
        (4, True, False, "ask", "ask"),
        (3, False, False, "rollback", None),
        (3, True, True, "rollback", None),
    ],
)
def test_decide(streak: int, in_window: bool, decided: bool, policy: str, expected: str | None) -> None:
    assert health.decide(Health(on_critical=policy), streak, in_window, decided) == expected


def test_evidence_lists_each_runs_failing_checks() -> None:
    bad = {"status": "critical", "checks": [
        {"name": "errors", "status": "critical", "detail": "2 matching line(s)"},
        {"name": "disk", "status": "warning", "detail": "low"},
    ]}  # fmt: skip
    streak = [
        _result(5, "critical", web1=bad, web2={"status": "ok", "checks": []}),
        _result(6, "critical", web2={"status": "critical", "checks": [], "problem": "unreachable: timeout"}),
    ]
    proof = health.evidence(streak)
    assert [p["seq"] for p in proof] == [5, 6]
    assert proof[0]["failing"] == {"web1": ["errors: 2 matching line(s)"]}
    assert proof[1]["failing"] == {"web2": ["unreachable: timeout"]}


# -- play results → host health ------------------------------------------------------------


def _outcome(host: str, status: str, result: dict[str, Any], msg: str = "") -> TaskOutcome:
    return TaskOutcome.of(host, "Health checks", "relkit_health", status, False, msg, result)


def test_host_health_from_play_outcomes() -> None:
    warn = {"status": "warning", "version": "2.0.0", "checks": [{"name": "disk", "status": "warning"}]}
    crit = {"status": "critical", "version": "2.0.0", "checks": [{"name": "health", "status": "critical"}]}
    result = PlayResult(
        "failed",
        2,
        [
            _outcome("web1", "ok", {}),  # the argument-spec task: no health key
            _outcome("web1", "ok", {"health": warn}),
            _outcome("web2", "failed", {"health": crit}, "critical: health"),
            _outcome("web3", "unreachable", {}, "ssh: connect timed out"),
        ],
        Path("/nonexistent"),
    )
    hosts = health.host_health(result, ["web1", "web2", "web3", "web4"])
    assert {h: v.status for h, v in hosts.items()} == {
        "web1": "warning",
        "web2": "critical",
        "web3": "critical",
        "web4": "critical",
    }
    assert hosts["web3"].problem == "unreachable: ssh: connect timed out"
    assert hosts["web4"].problem.startswith("no health result")
    assert health.overall(hosts.values()) == "critical"
    assert health.overall([hosts["web1"]]) == "warning"
    assert health.overall([]) == "ok"


def test_config_problems_are_not_health_results() -> None:
    crit = {"status": "critical", "version": "2.0.0", "checks": [{"name": "health", "status": "critical"}]}
    result = PlayResult(
        "failed",
        2,
        [
            _outcome("web1", "failed", {"deploy_path_missing": "/srv/x/web1"}, "deploy path /srv/x/web1 ..."),
            _outcome("web2", "failed", {}, "Task failed: 'demo_root' is undefined\nmore"),
            _outcome("web3", "failed", {"health": crit}, "critical: health"),
            _outcome("web4", "unreachable", {}, "ssh: connect timed out"),
            _outcome("web5", "failed", {}, "module failure"),
        ],
        Path("/nonexistent"),
    )
    assert health.config_problems(result) == {
        "web1": "deploy path /srv/x/web1 does not exist",
        "web2": "Task failed: 'demo_root' is undefined",
    }
    healthy = PlayResult("successful", 0, [_outcome("web1", "ok", {"health": crit})], Path("/nonexistent"))
    assert health.config_problems(healthy) == {}


# -- Prometheus textfile -------------------------------------------------------------------


def _metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge"
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_prometheus_text_is_valid_and_complete() -> None:
    report = HealthReport("production", "warning", consecutive_critical=0, seconds=0.8)
    http = {"name": 'say "hi"\\', "kind": "http", "severity": "critical", "status": "ok", "latency_ms": 12.5}
    disk = {
        "name": "disk",
        "kind": "disk_free_mb",
        "severity": "warning",
        "status": "warning",
        "latency_ms": 0,
    }
    report.hosts = {
        "web1": HostHealth("web1", "warning", "2.0.0", [http, disk]),
        "web2": HostHealth("web2", "ok", "2.0.0", []),
    }
    now = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
    live = {"web1": ("2.0.0", "2026-11-18T11:00:00+00:00"), "web2": ("2.0.0", "2026-11-18T11:30:00+00:00")}
    metrics = _metrics(health.prometheus_text(report, live, now, active=True))
    status = {(lab["host"], lab["check"]): v for lab, v in metrics["relkit_health_check_status"]}
    assert status == {("web1", 'say "hi"\\'): 0, ("web1", "disk"): 1}, "labels survive escaping"
    latency = {lab["check"]: v for lab, v in metrics["relkit_health_check_latency_seconds"]}
    assert latency['say "hi"\\'] == pytest.approx(0.0125)
    assert {lab["host"]: v for lab, v in metrics["relkit_health_host_status"]} == {"web1": 1, "web2": 0}
    assert metrics["relkit_health_status"] == [({"env": "production"}, 1)]
    assert sorted((lab["host"], lab["version"], v) for lab, v in metrics["relkit_release_info"]) == [
        ("web1", "2.0.0", 1),
        ("web2", "2.0.0", 1),
    ]
    ages = {lab["host"]: v for lab, v in metrics["relkit_release_deployed_seconds"]}
    assert ages == {"web1": 3600, "web2": 1800}
    assert metrics["relkit_health_monitoring_active"] == [({"env": "production"}, 1)]
    assert metrics["relkit_health_last_run_timestamp_seconds"][0][1] == now.timestamp()


def test_write_prom_file_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "relkit.prom"
    target.write_text("old 1\n")
    reader = target.open()
    health_run.write_prom_file(target, "new 2\n")
    assert target.read_text() == "new 2\n"
    assert reader.read() == "old 1\n", "a reader of the old file still sees it whole (rename, not rewrite)"
    reader.close()
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relkit.prom"], "no temporary file left"


# -- CLI: the paths that skip, and bad input ---------------------------------------------


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], example_project: Path) -> Callable[..., Result]:
    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        code = main(["-C", str(example_project), *[str(a) for a in args]])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def _seed_switch(
    example_project: Path, monkeypatch: pytest.MonkeyPatch, hours_ago: float, env: str = "staging"
) -> int:
    """Record a host.switched entry as if written ``hours_ago``; return the ledger's row count."""
    when = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(timespec="microseconds")
    with monkeypatch.context() as patch:
        patch.setattr(ledger, "utcnow", lambda: when)
        book = Project.load(example_project).ledger
        book.append(
            "host.switched", run_id="r0", env=env, host="stage1", data={"version": "2.0.0", "by": "ops"}
        )
        book.close()
    return len(list(Project.load(example_project).ledger.entries()))


def test_nothing_deployed_skips_with_message(cli: Callable[..., Result], state_dir: Path) -> None:
    result = cli("health", "--env", "staging")
    assert result.code == 0
    assert "nothing switched in on staging yet" in result.out
    assert not (state_dir / "runs").exists(), "no play ran"


def test_window_ended_exits_quickly_with_message(
    cli: Callable[..., Result], example_project: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path
) -> None:
    rows = _seed_switch(example_project, monkeypatch, hours_ago=25)
    prom = state_dir / "relkit.prom"
    started = time.monotonic()
    result = cli("--output", "json", "health", "--env", "staging", "--prom-file", prom)
    elapsed = time.monotonic() - started
    assert result.code == 0
    report = payload(result.out)
    assert report["status"] == "skipped"
    assert report["skipped"].startswith("monitoring window of staging ended")
    assert "24 h after the switch to 2.0.0" in report["skipped"]
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert not (state_dir / "runs").exists(), "no play ran"
    assert len(list(Project.load(example_project).ledger.entries())) == rows, "nothing recorded"
    metrics = _metrics(prom.read_text())
    assert metrics["relkit_health_monitoring_active"] == [({"env": "staging"}, 0)]
    assert metrics["relkit_release_info"] == [({"env": "staging", "host": "stage1", "version": "2.0.0"}, 1)]
    assert metrics["relkit_release_deployed_seconds"][0][1] == pytest.approx(25 * 3600, abs=60)
    text = cli("health", "--env", "staging")
    assert text.code == 0 and "monitoring window of staging ended" in text.out


def test_running_deploy_skips_and_leaves_the_lock_alone(
    cli: Callable[..., Result], example_project: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path
) -> None:
    rows = _seed_switch(example_project, monkeypatch, hours_ago=1)
    with hold(state_dir, "staging", "20261118T120000-abcdef", "deploy"):
        path = lock_path(state_dir, "staging")
        before = (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino)
        started = time.monotonic()
        result = cli("health", "--env", "staging", "--wait", "0.4")
        elapsed = time.monotonic() - started
        assert result.code == 0
        assert "deploy in progress, skipped" in result.out
        assert "20261118T120000-abcdef" in result.out, "names the deploy it met"
        assert 0.4 <= elapsed < 2.0, f"waited briefly, then skipped ({elapsed:.2f} s)"
        assert (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino) == before
    assert not path.exists(), "the deploy's own exit removed its lock"
    assert not (state_dir / "runs").exists(), "no play ran"
    assert len(list(Project.load(example_project).ledger.entries())) == rows


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--wait", "-1"], "--wait: expected seconds between 0 and 600"),
        (["--prom-file", "/nonexistent-dir/relkit.prom"], "--prom-file: directory /nonexistent-dir"),
        (["--prom-file", "/tmp"], "--prom-file: /tmp is a directory"),
    ],
)
def test_bad_arguments_exit_2(cli: Callable[..., Result], args: list[str], expected: str) -> None:
    result = cli("health", "--env", "staging", *args)
    assert result.code == 2
    assert expected in result.err.replace("\n", " ")


def test_unknown_env_exits_2(cli: Callable[..., Result]) -> None:
    result = cli("health", "--env", "qa")
    assert result.code == 2 and "--env: unknown environment 'qa'" in result.err


def test_bad_input_raised_before_anything(example_project: Path, state_dir: Path) -> None:
    with pytest.raises(BadInput):
        health_run.check_health(Project.load(example_project), "staging", wait=float("nan"))
    assert not state_dir.exists() or not (state_dir / "runs").exists()
    assert os.environ.get("RELKIT_STATE_DIR") == str(state_dir)


def test_prune_run_dirs_keeps_the_newest_health_runs(tmp_path: Path) -> None:
    names = [f"20261118T1200{i:02d}-abcdef-health" for i in range(5)] + ["20261118T110000-abcdef-deploy"]
    for name in names:
        (tmp_path / name / "artifacts").mkdir(parents=True)
    removed = health_run.prune_run_dirs(tmp_path, keep=2)
    assert [p.name for p in removed] == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names[3:5], names[5]]), "deploy runs stay"
