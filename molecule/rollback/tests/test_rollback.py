"""After converge: 1.0.0 was deployed, then 2.0.0, then relkit_rollback went back to 1.0.0."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

DEPLOY_PATH = "/opt/webapp"


def test_current_is_the_previous_release_again(assert_live: Callable[[str], None]) -> None:
    assert_live("1.0.0")


def test_app_answers_with_the_previous_release_and_its_data(health: dict[str, Any]) -> None:
    # schema 1: the database 2.0.0 migrated to schema 2 was restored from the snapshot taken
    # before that migration
    assert health == {"status": "ok", "version": "1.0.0", "schema": 1}


def test_history_records_deploys_and_rollback(history: list[dict[str, Any]]) -> None:
    steps = [(r["version"], r["action"], r["previous"]) for r in history]
    assert steps == [
        ("1.0.0", "deploy", None),
        ("2.0.0", "deploy", "1.0.0"),
        ("1.0.0", "rollback", "2.0.0"),
    ]
    upgrade, rollback = history[1], history[2]
    assert upgrade["snapshot"]  # taken before 2.0.0's migration ...
    assert rollback["restored"] == upgrade["snapshot"]  # ... and restored by the rollback
    assert rollback["snapshot"] not in (None, upgrade["snapshot"])  # the data as it stood
    assert {r["by"] for r in history} == {"molecule"}


def test_snapshots_are_kept_on_the_host(host: Any, history: list[dict[str, Any]]) -> None:
    for snapshot in (history[1]["snapshot"], history[2]["snapshot"]):
        assert host.file(f"{DEPLOY_PATH}/snapshots/{snapshot}").is_directory


def test_rolled_back_release_stays_installed(host: Any, hostvars: dict[str, Any]) -> None:
    marker = json.loads(host.file(f"{DEPLOY_PATH}/releases/2.0.0/.relkit-release.json").content_string)
    assert marker["sha256"] == hostvars["relkit_releases"]["2.0.0"]["sha256"]
    assert sorted(host.file(f"{DEPLOY_PATH}/releases").listdir()) == ["1.0.0", "2.0.0"]
