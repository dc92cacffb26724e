"""The host-side health module (playbooks/library/relkit_health.py), run directly on a temp deploy path.

Real files, a real HTTP server and real commands; no Ansible. Covers log offsets kept between
runs (baseline, new lines, partial lines, rotation, a switch since the last run), disk and
memory minimums, HTTP latency thresholds, severities and running checks in parallel.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.hostmodules import library, module_utils

health = module_utils()["relkit_health_checks"]  # what the module (and the direct check) run

LOG = {"name": "errors", "severity": "critical", "log": "shared/log/app.log", "pattern": "ERROR|Traceback"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A deploy path with shared/log/ and .relkit/."""
    base = tmp_path / "app"
    (base / "shared" / "log").mkdir(parents=True)
    (base / ".relkit").mkdir()
    return base


def run(root: Path, *checks: dict[str, Any], timeout: float = 2) -> dict[str, Any]:
    return health.run_health(str(root), list(checks), timeout)


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result["checks"]}


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def test_log_first_run_is_a_baseline_then_counts_new_error_lines(root: Path) -> None:
    log = root / "shared" / "log" / "app.log"
    log.write_text("ERROR old line from before monitoring\n")
    first = by_name(run(root, LOG))["errors"]
    assert first["ok"] and first["detail"].startswith("baseline")
    state = json.loads((root / ".relkit" / "health-state.json").read_text())
    assert state["log:errors"]["offset"] == log.stat().st_size

    append(log, "GET / 200\nERROR boom one\nGET / 200\nTraceback (most recent call last):\n")
    second = run(root, LOG)
    check = by_name(second)["errors"]
    assert second["status"] == "critical"
    assert (check["ok"], check["value"], check["status"]) == (False, 2, "critical")
    assert "Traceback" in check["detail"]

    third = by_name(run(root, LOG))["errors"]
    assert third["ok"] and third["value"] == 0, "lines already counted are not counted again"


def test_log_threshold_and_partial_lines(root: Path) -> None:
    log = root / "shared" / "log" / "app.log"
    log.write_text("")
    lenient = {**LOG, "max_matches": 1}
    run(root, lenient)
    append(log, "ERROR one\nERROR tw")
    check = by_name(run(root, lenient))["errors"]
    assert check["ok"] and check["value"] == 1, "one error is within max_matches; the partial line waits"
    append(log, "o\nERROR three\n")
    check = by_name(run(root, lenient))["errors"]
    assert not check["ok"] and check["value"] == 2


def test_log_rotation_and_missing_file(root: Path) -> None:
    log = root / "shared" / "log" / "app.log"
    missing = by_name(run(root, LOG))["errors"]
    assert missing["ok"] and "no log file" in missing["detail"]
    log.write_text("ERROR written after the previous run\n")
    assert by_name(run(root, LOG))["errors"]["value"] == 1, "a log that appeared is read from its start"
    log.rename(log.with_suffix(".log.1"))
    log.write_text("ERROR in the new file\n")
    rotated = by_name(run(root, LOG))["errors"]
    assert (rotated["ok"], rotated["value"]) == (False, 1)


def test_log_rebaselines_after_a_switch(root: Path) -> None:
    log = root / "shared" / "log" / "app.log"
    log.write_text("")
    run(root, LOG)
    append(log, "ERROR from the previous release\n")
    switched = (datetime.now(UTC) + timedelta(seconds=2)).isoformat(timespec="seconds")
    (root / ".relkit" / "history.jsonl").write_text(json.dumps({"at": switched, "version": "2.0.0"}) + "\n")
    check = by_name(run(root, LOG))["errors"]
    assert check["ok"] and check["detail"].startswith("baseline"), "older lines never count against 2.0.0"


def test_disk_and_memory_minimums_with_severity(root: Path) -> None:
    result = run(
        root,
        {"name": "disk", "severity": "warning", "disk_free_mb": 1},
        {"name": "disk-huge", "severity": "warning", "disk_free_mb": 10**9},
        {"name": "memory", "severity": "critical", "memory_free_mb": 1},
    )
    checks = by_name(result)
    assert checks["disk"]["ok"] and checks["disk"]["value"] >= 1
    assert (checks["disk-huge"]["ok"], checks["disk-huge"]["status"]) == (False, "warning")
    assert "MiB free under" in checks["disk-huge"]["detail"]
    assert checks["memory"]["ok"] and checks["memory"]["value"] > 1
    assert result["status"] == "warning", "a failing warning check makes the host warning, not critical"


@pytest.fixture
def slow_server() -> Iterator[str]:
    """A real HTTP server whose /slow answers after 0.3 s; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/slow":
                time.sleep(0.3)
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_latency_threshold(root: Path, slow_server: str) -> None:
    result = run(
        root,
        {"name": "fast", "http": f"{slow_server}/", "max_latency_ms": 2000},
        {"name": "slow", "http": f"{slow_server}/slow", "max_latency_ms": 100, "severity": "warning"},
    )
    checks = by_name(result)
    assert checks["fast"]["ok"] and checks["fast"]["latency_ms"] < 2000
    assert not checks["slow"]["ok"] and checks["slow"]["latency_ms"] >= 300
    assert "over 100 ms" in checks["slow"]["detail"]
    assert result["status"] == "warning"


def test_port_command_and_parallel_run(root: Path) -> None:
    started = time.monotonic()
    result = run(
        root,
        {"name": "closed", "port": 1, "host": "127.0.0.1"},
        {"name": "slow-a", "command": "sleep 0.6", "severity": "warning"},
        {"name": "slow-b", "command": "sleep 0.6; pwd", "severity": "warning"},
        {"name": "fails", "command": "echo broken >&2; exit 3", "severity": "warning"},
    )
    elapsed = time.monotonic() - started
    checks = by_name(result)
    assert (checks["closed"]["ok"], checks["closed"]["status"]) == (False, "critical")
    assert checks["slow-b"]["ok"] and str(root) in checks["slow-b"]["detail"], (
        "commands run in the deploy path"
    )
    assert checks["fails"]["status"] == "warning" and "exit 3" in checks["fails"]["detail"]
    assert result["status"] == "critical"
    assert elapsed < 1.1, f"checks run in parallel: two 0.6 s commands took {elapsed:.2f} s"


def test_live_version_is_reported(root: Path) -> None:
    (root / "releases" / "2.0.0").mkdir(parents=True)
    (root / "current").symlink_to("releases/2.0.0")
    result = run(root, {"name": "true", "command": "true"})
    assert result == {"status": "ok", "version": "2.0.0", "checks": result["checks"]}
    assert result["checks"][0]["source"] == "health"


def test_the_module_runs_the_shared_checks() -> None:
    """One copy of the checks: the module's run_health is module_utils/relkit_health_checks' (the
    direct health check of relkit/live_check.py runs that file too)."""
    assert library("relkit_health").run_health is health.run_health
