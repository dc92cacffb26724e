"""The rollback over the host cards (relkit.live_rollback), run for real on local-connection
"hosts": deploy paths with two releases laid out by hand, the relkit_release module's own code
switching them back, real service and smoke commands. Over real SSH it is covered by
tests/integration/test_direct_rollback_ssh.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from relkit import live_check, live_rollback
from relkit.project import Project
from relkit.results import PlayResult, TaskOutcome
from relkit.status import LiveRelease
from tests.support.factories import unreachable_ssh_card

SHA = "b" * 64
PYTHON = "/usr/bin/python3"
"""The system's Python, which has no Ansible: the program runs without it."""
OLD_SHA = "a" * 64


def layout(root: Path) -> Path:
    """1.0.0 then 2.0.0 deployed (both smoke-tested), ``current`` on 2.0.0, 2.0.0's app running."""
    for version, sha in (("1.0.0", OLD_SHA), ("2.0.0", SHA)):
        release = root / "releases" / version
        release.mkdir(parents=True)
        marker = {"version": version, "sha256": sha, "installed_at": f"2026-12-0{version[0]}T00:00:00"}
        (release / ".relkit-release.json").write_text(json.dumps(marker))
    (root / ".relkit").mkdir()
    (root / "shared").mkdir()
    history = [
        {"version": "1.0.0", "previous": None, "action": "deploy", "run_id": "r0", "smoke": "passed"},
        {"version": "2.0.0", "previous": "1.0.0", "action": "deploy", "run_id": "r1", "smoke": "passed"},
    ]
    (root / ".relkit" / "history.jsonl").write_text("".join(json.dumps(line) + "\n" for line in history))
    (root / "current").symlink_to("releases/2.0.0")
    (root / "shared" / "running").write_text("2.0.0\n")
    return root


def rollback_part(to: str = "1.0.0", data: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A card's rollback, as the probe renders it for ``to``."""
    return {
        "to": to,
        "relkit_service": {
            "start": 'echo "$RELKIT_VERSION" > shared/running',
            "stop": "rm -f shared/running",
            "timeout": 10,
        },
        "relkit_keep_releases": 5,
        "relkit_data": data or [],
        "relkit_first_host": True,
        "relkit_smoke": {
            "checks": [{"name": "runs", "command": f'test "$(cat shared/running)" = {to}'}],
            "timeout": 5,
            "interval": 0.1,
        },
    }


def card(root: Path, **rollback: Any) -> dict[str, Any]:
    return {
        "connection": "local",
        "python": PYTHON,
        "deploy_path": str(root),
        "smoke": {"checks": [{"name": "ok", "command": "test -d current"}]},
        "rollback": rollback_part(**rollback),
    }


def request(host_root: Path, target: str = "1.0.0") -> dict[str, Any]:
    return {
        "state": "rollback",
        "version": None,
        "run_id": "r2",
        "ledger_head": "7:abc",
        "by": "dewi",
        "restore_data": True,
        "expected_live": "2.0.0",
        "expected_target": target,
    }


def live(*hosts: str) -> dict[str, LiveRelease]:
    return {h: LiveRelease("staging", h, "2.0.0", SHA, "", "ops", "deploy", "r1") for h in hosts}


def keep(project: Project, cards: dict[str, dict[str, Any]]) -> dict[str, Any]:
    outcomes = [
        TaskOutcome.of(h, "Probe release 2.0.0", "relkit_release", "ok", False, "", {"relkit": {"card": c}})
        for h, c in cards.items()
    ]
    assert (
        live_check.save(project, "staging", PlayResult("successful", 0, outcomes, Path()), "2.0.0", SHA) == ""
    )
    record, why = live_check.kept(project, "staging")
    assert record is not None, why
    return record


@pytest.fixture
def project(example_project: Path) -> Project:
    return Project.load(example_project)


def switch_back(cards: dict[str, dict[str, Any]], **targets: str) -> tuple[PlayResult, list[str]]:
    requests = {h: request(Path(c["deploy_path"]), targets.get(h, "1.0.0")) for h, c in cards.items()}
    return live_rollback.switch_back(cards, requests, None, {}, 4, lambda answer: answer)


def test_each_host_runs_the_modules_own_switch_back(tmp_path: Path) -> None:
    roots = {h: layout(tmp_path / h) for h in ("stage1", "stage2")}
    result, silent = switch_back({h: card(r) for h, r in roots.items()})
    assert silent == [] and result.ok, [o.msg for o in result.outcomes]
    for root in roots.values():
        assert (root / "current").readlink() == Path("releases/1.0.0")
        assert (root / "shared" / "running").read_text() == "1.0.0\n"
        last = json.loads((root / ".relkit" / "history.jsonl").read_text().splitlines()[-1])
        assert (last["action"], last["version"], last["previous"]) == ("rollback", "1.0.0", "2.0.0")
        assert (last["by"], last["run_id"], last["ledger_head"], last["smoke"]) == (
            "dewi",
            "r2",
            "7:abc",
            "passed",
        )
    outcome = result.outcomes[0]
    assert outcome.task.endswith("(direct, no play)") and outcome.action == "relkit_release"
    assert outcome.release is not None and outcome.release.switched and outcome.release.previous == "2.0.0"
    assert [c["name"] for c in outcome.checks or ()] == ["runs"]


def test_a_host_whose_target_is_not_the_ledgers_refuses_changing_nothing(tmp_path: Path) -> None:
    root = layout(tmp_path / "stage1")
    result, _ = switch_back({"stage1": card(root)}, stage1="0.9.0")
    assert not result.ok
    outcome = result.outcomes[0]
    assert outcome.status == "failed" and "as the controller's ledger says" in outcome.msg
    assert outcome.result["relkit"]["target_mismatch"] == "1.0.0"
    assert (root / "current").readlink() == Path("releases/2.0.0")
    assert (root / "shared" / "running").read_text() == "2.0.0\n"


def test_a_failing_smoke_test_is_the_hosts_failure(tmp_path: Path) -> None:
    root = layout(tmp_path / "stage1")
    broken = card(root)
    broken["rollback"]["relkit_smoke"]["checks"] = [{"name": "never", "command": "false"}]
    result, _ = switch_back({"stage1": broken})
    outcome = result.outcomes[0]
    assert outcome.status == "failed" and outcome.smoke_failed
    assert outcome.release is not None and outcome.release.version == "1.0.0"


def test_a_host_without_answer_is_left_to_the_play(tmp_path: Path) -> None:
    ssh_card = unreachable_ssh_card(tmp_path, rollback=rollback_part())
    root = layout(tmp_path / "stage2")
    result, silent = switch_back({"stage1": ssh_card, "stage2": card(root)})
    assert silent == ["stage1"]
    assert result.all_hosts == ["stage2"] and result.ok


def test_the_cards_decide_only_when_nothing_could_differ_from_the_play(
    project: Project, tmp_path: Path
) -> None:
    roots = {h: tmp_path / h for h in ("stage1", "stage2")}
    record = keep(project, {h: card(r) for h, r in roots.items()})
    targets = dict.fromkeys(roots, "1.0.0")
    assert live_rollback.why_not(project, "staging", record, live("stage1", "stage2"), targets) == ""

    behind = live("stage1", "stage2") | {
        "stage2": LiveRelease("staging", "stage2", "1.0.0", OLD_SHA, "", "", "", "")
    }
    assert live_rollback.why_not(project, "staging", record, behind, targets) == (
        "the ledger has stage2 on another release than the cards' 2.0.0"
    )
    assert live_rollback.why_not(
        project, "staging", record, live("stage1", "stage2"), {"stage1": "1.0.0"}
    ) == ("the rollback goes to no release the ledger names on stage2, the cards to 1.0.0")
    elsewhere = live_rollback.why_not(
        project, "staging", record, live("stage1", "stage2"), {**targets, "stage1": "0.9.0"}
    )
    assert elsewhere == "the rollback goes to 0.9.0 on stage1, the cards to 1.0.0"

    lacking = {"stage1": card(roots["stage1"]), "stage2": {**card(roots["stage2"])}}
    del lacking["stage2"]["rollback"]
    lacking["stage2"]["rollback_unavailable"] = "no release to roll back to on this host"
    record = keep(project, lacking)
    assert live_rollback.why_not(project, "staging", record, live("stage1", "stage2"), targets) == (
        "no rollback in the cards of stage2 (no release to roll back to on this host)"
    )

    password = [{"name": "db", "kind": "postgresql", "password_env": "DB_PASSWORD", "timeout": 600}]
    record = keep(project, {h: card(r, data=password) for h, r in roots.items()})
    assert live_rollback.why_not(project, "staging", record, live("stage1", "stage2"), targets) == (
        "a data item needs a password (served to the play only)"
    )
    assert (
        live_rollback.why_not(project, "staging", None, live("stage1", "stage2"), targets) == "no host cards"
    )


def test_relkit_waits_as_long_as_each_step_may_take() -> None:
    args = live_rollback.arguments(
        {"deploy_path": "/opt/app", "rollback": rollback_part()}, {"state": "rollback"}
    )
    assert args["service_timeout"] == 10.0 and args["keep_releases"] == 5 and args["first_host"] is True
    assert args["start"] == 'echo "$RELKIT_VERSION" > shared/running' and args["drain"] is None
    assert live_rollback.time_bound(args) == 600 + 40 + 5 + 60
    two = live_rollback.arguments(
        {
            "deploy_path": "/opt/app",
            "rollback": rollback_part(data=[{"name": "a", "timeout": 100}, {"name": "b"}]),
        },
        {"state": "rollback"},
    )
    assert live_rollback.time_bound(two) == 600 + 40 + 2 * (100 + 600) + 5 + 60


def test_the_program_needs_no_ansible() -> None:
    no_ansible = subprocess.run([PYTHON, "-c", "import ansible"], capture_output=True, check=False)
    assert no_ansible.returncode == 1, "the hosts' Python of these tests has no Ansible"
    program = live_rollback.program()
    compile("ARGS = '{}'\n" + program, "relkit-rollback", "exec")
    heads = [line for line in program.splitlines() if line.startswith(("import", "from"))]
    assert heads == ["import json", "import sys", "import types"]
