"""Which release a rollback without ``--to`` goes to, and what retention keeps for it.

The rule (relkit_rules.rollback_target, docs/reliability.md "Rollbacks"): the release live
before the current one, skipping only releases rolled back *from* (or whose smoke test failed)
since they were last good; a redeploy or a rollback to a release that passes its smoke test
makes it good again. Retention never removes the live release, the one it replaced, nor the
release a rollback would go to; it runs only once the switch passed its smoke test.

The sequences run relkit_release itself on a temporary deploy path, with the controller's
automatic rollback after a failed smoke test done as the controller does it (a rollback call
without a version). 3.0.0 fails its smoke test, as the example's does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.host.test_release_module import install, params
from tests.support.hostmodules import library, module_utils

release = library("relkit_release")
rules = module_utils()["relkit_rules"]

# a release is healthy unless shared/data/broken-<version> exists; 3.0.0 is never healthy
SMOKE = {
    "checks": [
        {
            "name": "healthy",
            "command": 'v=$(cat current/VERSION); test "$v" != 3.0.0 && test ! -e "shared/data/broken-$v"',
        }
    ],
    "timeout": 0.3,
    "interval": 0.05,
}


class Host:
    """One deploy path driven like the controller drives a host."""

    def __init__(self, tmp: Path, keep: int) -> None:
        self.tmp, self.root, self.keep = tmp, tmp / "app", keep

    def call(self, action: str, version: str | None = None) -> dict:
        _, info = release.activate(
            params(self.root, version=version, smoke=SMOKE, keep_releases=self.keep), action
        )
        return info

    def deploy(self, version: str) -> str:
        """Deploy ``version``; after a failed smoke test, the automatic rollback. Returns what is live."""
        if not (self.root / "releases" / version).exists():
            install(self.root, self.tmp, version)
        try:
            self.call("deploy", version)
        except release.ReleaseError as exc:
            assert exc.info.get("switched"), exc
            self.call("rollback")
        return self.live

    def rollback(self, to: str | None = None) -> str:
        self.call("rollback", to)
        return self.live

    @property
    def live(self) -> str:
        return (self.root / "current").readlink().name

    @property
    def installed(self) -> list[str]:
        return sorted(p.name for p in (self.root / "releases").iterdir())

    def history(self) -> list[dict]:
        return [json.loads(x) for x in (self.root / ".relkit" / "history.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("keep", [2, 3])
def test_a_release_redeployed_after_a_rollback_is_good_again(tmp_path: Path, keep: int) -> None:
    host = Host(tmp_path, keep)
    assert host.deploy("1.0.0") == "1.0.0"
    assert host.deploy("2.0.0") == "2.0.0"
    assert host.rollback() == "1.0.0"
    assert host.deploy("3.0.0") == "1.0.0"  # smoke failed: rolled back to 1.0.0 at once
    assert host.deploy("2.0.0") == "2.0.0"  # rolled back once, earlier; redeployed, smoke passed
    assert host.deploy("4.0.0") == "4.0.0"
    assert "2.0.0" in host.installed, "retention keeps the release a rollback would go to"
    # 2.0.0 was live right before 4.0.0 (before: exit 5, "no previous complete release")
    assert host.rollback() == "2.0.0"
    assert {"2.0.0", "4.0.0"} <= set(host.installed)


def test_retention_keeps_the_rollback_target_and_the_live_release_after_going_back(tmp_path: Path) -> None:
    host = Host(tmp_path, keep=2)
    for version in ("1.0.0", "2.0.0"):
        host.deploy(version)
    assert host.deploy("3.0.0") == "2.0.0"  # failed smoke, rolled back
    # three installed with keep 2: 1.0.0 is where a rollback from 2.0.0 goes, so it stays
    assert host.installed == ["1.0.0", "2.0.0", "3.0.0"]
    assert host.rollback(to="1.0.0") == "1.0.0"
    # the oldest installed is now the live one: retention never removes it
    assert "1.0.0" in host.installed and (host.root / "current" / "VERSION").read_text() == "1.0.0"
    assert "2.0.0" in host.installed, "nor the release it replaced"


def test_retention_runs_only_after_a_smoke_test_passed(tmp_path: Path) -> None:
    host = Host(tmp_path, keep=2)
    for version in ("1.0.0", "2.0.0"):
        host.deploy(version)
    install(host.root, tmp_path, "3.0.0")
    with pytest.raises(release.ReleaseError) as failed:
        host.call("deploy", "3.0.0")
    assert "pruned" not in failed.value.info
    assert host.installed == ["1.0.0", "2.0.0", "3.0.0"]


def test_history_records_each_switchs_smoke_outcome(tmp_path: Path) -> None:
    host = Host(tmp_path, keep=3)
    host.deploy("1.0.0")
    host.deploy("3.0.0")
    lines = host.history()
    assert [(x["version"], x["action"], x["smoke"]) for x in lines] == [
        ("1.0.0", "deploy", "passed"),
        ("3.0.0", "deploy", "failed"),
        ("1.0.0", "rollback", "passed"),
    ]
    keys = {
        "at",
        "version",
        "previous",
        "action",
        "by",
        "run_id",
        "ledger_head",
        "sha256",
        "snapshot",
        "restored",
    }
    assert all(keys <= set(x) for x in lines), "the witnessed fields stay"


def test_a_release_kept_after_its_smoke_test_failed_is_no_target(tmp_path: Path) -> None:
    """policy.on_smoke_failure: ask keeps a release that failed its smoke test: never rolled back
    from, it is still no good place to go back to."""
    host = Host(tmp_path, keep=5)
    host.deploy("1.0.0")
    install(host.root, tmp_path, "2.0.0")
    (host.root / "shared" / "data" / "broken-2.0.0").touch()
    with pytest.raises(release.ReleaseError):
        host.call("deploy", "2.0.0")  # kept: nobody rolled it back
    (host.root / "shared" / "data" / "broken-2.0.0").unlink()
    host.deploy("4.0.0")
    assert host.rollback() == "1.0.0"


@pytest.mark.parametrize(
    ("history", "live", "installed", "target"),
    [
        # the release live before the current one
        ([("deploy", "1", None, "passed"), ("deploy", "2", "1", "passed")], "2", "12", "1"),
        # rolled back from: skipped, further back
        (
            [
                ("deploy", "1", None, "passed"),
                ("deploy", "2", "1", "passed"),
                ("deploy", "3", "2", "passed"),
                ("rollback", "2", "3", "passed"),
            ],
            "2",
            "123",
            "1",
        ),
        # rolled back from once, then redeployed and smoke-tested: good again
        (
            [
                ("deploy", "1", None, "passed"),
                ("deploy", "2", "1", "passed"),
                ("rollback", "1", "2", "passed"),
                ("deploy", "2", "1", "passed"),
                ("deploy", "4", "2", "passed"),
            ],
            "4",
            "124",
            "2",
        ),
        # ... but a redeploy whose smoke test failed is not
        (
            [("deploy", "1", None, "passed"), ("deploy", "2", "1", "failed"), ("deploy", "4", "2", "passed")],
            "4",
            "124",
            "1",
        ),
        # a rollback *to* a release whose smoke test passed makes it good again
        (
            [
                ("deploy", "1", None, "passed"),
                ("deploy", "2", "1", "passed"),
                ("deploy", "3", "2", "passed"),
                ("rollback", "2", "3", "passed"),
                ("rollback", "1", "2", "passed"),
                ("rollback", "2", "1", "passed"),
                ("deploy", "4", "2", "passed"),
            ],
            "4",
            "1234",
            "2",
        ),
        # lines of an older relkit (no smoke outcome) count as good; not installed: skipped
        (
            [("deploy", "1", None, None), ("deploy", "2", "1", None), ("deploy", "3", "2", None)],
            "3",
            "13",
            "1",
        ),
        # nothing to go back to
        (
            [
                ("deploy", "1", None, "passed"),
                ("deploy", "2", "1", "passed"),
                ("rollback", "1", "2", "passed"),
            ],
            "1",
            "12",
            None,
        ),
    ],
)
def test_rollback_target_rule(history: list[tuple], live: str, installed: str, target: str | None) -> None:
    lines = []
    for action, version, previous, smoke in history:
        line = {"action": action, "version": version, "previous": previous, "run_id": "r", "ledger_head": ""}
        if smoke is not None:
            line["smoke"] = smoke
        lines.append(line)
    assert rules.rollback_target(lines, live, set(installed)) == target
