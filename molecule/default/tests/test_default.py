"""After converge: webapp 1.0.0 is live on every host, installed and started by relkit_deploy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DEPLOY_PATH = "/opt/webapp"


def test_host_is_its_own_machine(host: Any) -> None:
    assert host.check_output("hostname") == host.backend.get_hostname()
    assert host.file("/opt/webapp").is_directory


def test_prepare_created_the_layout(host: Any) -> None:
    for sub in ("releases", "shared", "snapshots", ".relkit"):
        assert host.file(f"{DEPLOY_PATH}/{sub}").is_directory


def test_current_is_the_complete_release(assert_live: Callable[[str], None]) -> None:
    assert_live("1.0.0")


def test_app_answers_over_http_with_the_release(health: dict[str, Any]) -> None:
    assert health == {"status": "ok", "version": "1.0.0", "schema": 1}


def test_app_runs_on_the_host_from_the_release(host: Any) -> None:
    pid = int(host.file(f"{DEPLOY_PATH}/shared/app.pid").content_string)
    server = host.process.get(pid=pid)
    assert server.args.startswith("python3 current/app.py serve")
    cwd = host.check_output(f"readlink /proc/{pid}/cwd")
    assert cwd == DEPLOY_PATH
    assert host.file(f"{DEPLOY_PATH}/shared/data/app.db").is_file


def test_history_records_the_deploy(history: list[dict[str, Any]], hostvars: dict[str, Any]) -> None:
    assert len(history) == 1
    record = history[0]
    assert (record["version"], record["action"], record["previous"]) == ("1.0.0", "deploy", None)
    assert (record["by"], record["run_id"]) == ("molecule", "molecule-default")
    assert record["sha256"] == hostvars["relkit_releases"]["1.0.0"]["sha256"]
