"""What is live where (relkit.status): pure functions over ledger entries."""

from __future__ import annotations

import json
import os
from pathlib import Path

from relkit import api
from relkit.chain import Entry
from relkit.project import Project
from relkit.status import InterruptedRun, LiveRelease, as_dict, interrupted_runs, live_releases
from relkit.store.locks import hold
from relkit.store.sqlite import Ledger
from tests.support.factories import entry


def _switched(env: str, host: str, version: str, seq: int, **data: object) -> Entry:
    return entry(
        "host.switched",
        env=env,
        host=host,
        seq=seq,
        run_id=f"run-{seq}",
        ts=f"2026-11-10T15:00:{seq:02d}.000000+00:00",
        version=version,
        sha256=f"sha-{version}",
        by="alice",
        action="deploy",
        **data,
    )


def test_no_entries_nothing_live() -> None:
    assert live_releases([]) == {}
    assert interrupted_runs([]) == []


def test_last_switch_per_env_and_host_wins() -> None:
    entries = [
        _switched("staging", "web1", "1.0.0", 1),
        _switched("staging", "web2", "1.0.0", 2),
        _switched("production", "web1", "1.0.0", 3),
        _switched("staging", "web1", "2.0.0", 4),
        entry("smoke.result", env="staging", seq=5, version="3.0.0", sha256="x", passed=True),
        entry("task.result", env="staging", host="web2", seq=6, version="9.9.9"),
    ]
    live = live_releases(entries)
    assert set(live) == {"staging", "production"}
    assert {h: r.version for h, r in live["staging"].items()} == {"web1": "2.0.0", "web2": "1.0.0"}
    assert {h: r.version for h, r in live["production"].items()} == {"web1": "1.0.0"}
    web1 = live["staging"]["web1"]
    assert web1 == LiveRelease(
        env="staging",
        host="web1",
        version="2.0.0",
        sha256="sha-2.0.0",
        since="2026-11-10T15:00:04.000000+00:00",
        by="alice",
        action="deploy",
        run_id="run-4",
    )


def test_rollback_switch_is_live() -> None:
    entries = [
        _switched("production", "web1", "2.0.0", 1),
        entry(
            "host.switched",
            env="production",
            host="web1",
            seq=2,
            run_id="rb",
            version="1.0.0",
            sha256="",
            by="bob",
            action="rollback",
        ),
    ]
    live = live_releases(entries)["production"]["web1"]
    assert (live.version, live.action, live.by, live.run_id) == ("1.0.0", "rollback", "bob", "rb")


def test_switch_without_data_fields_uses_placeholders() -> None:
    live = live_releases([entry("host.switched", env="qa", host="h")])["qa"]["h"]
    assert (live.version, live.sha256, live.by, live.action) == ("?", "", "", "")


def _started(run_id: str, env: str = "staging", action: str = "deploy") -> Entry:
    return entry(
        "run.started",
        env=env,
        run_id=run_id,
        action=action,
        by="alice",
        pid=4242,
        controller="ctl",
        ts="2026-11-10T15:00:00.000000+00:00",
    )


def test_interrupted_runs_lists_started_without_finished() -> None:
    entries = [
        _started("r1"),
        _started("r2", env="production"),
        entry("task.result", run_id="r2"),
        entry("run.finished", run_id="r1", action="deploy", status="successful"),
        _started("r3", action="rollback"),
    ]
    open_runs = interrupted_runs(entries)
    assert [r.run_id for r in open_runs] == ["r2", "r3"]
    assert open_runs[0] == InterruptedRun(
        run_id="r2",
        env="production",
        action="deploy",
        started="2026-11-10T15:00:00.000000+00:00",
        by="alice",
        pid=4242,
        controller="ctl",
    )
    assert open_runs[1].action == "rollback"


def test_finished_before_started_does_not_close_a_later_run() -> None:
    entries = [entry("run.finished", run_id="r1"), _started("r1")]
    assert [r.run_id for r in interrupted_runs(entries)] == ["r1"]


def test_status_dataclasses_are_json_ready() -> None:
    live = live_releases([_switched("staging", "web1", "1.0.0", 1)])["staging"]["web1"]
    data = as_dict(live)
    assert json.loads(json.dumps(data)) == data
    assert data["version"] == "1.0.0"


def test_api_status_reads_ledger_and_locks(example_project: Path, state_dir: Path) -> None:
    project = Project.load(example_project)
    assert project.state_dir == state_dir
    ledger = Ledger(state_dir / "ledger.db")
    for kind, run_id, data in [
        ("run.started", "crashed", {"action": "deploy", "by": "alice", "pid": 1, "controller": "c"}),
        ("host.switched", "crashed", {"version": "1.0.0", "sha256": "s", "by": "alice", "action": "deploy"}),
        ("run.started", "running", {"action": "deploy", "by": "bob", "pid": os.getpid(), "controller": "c"}),
    ]:
        ledger.append(kind, run_id=run_id, env="staging", host="stage1", data=data)
    getattr(ledger, "close", lambda: None)()
    with hold(state_dir, "staging", "running", "deploy"):
        view = api.status(project)
        assert view.live["staging"]["stage1"].version == "1.0.0"
        # the run holding the lock is in progress, not interrupted
        assert [r.run_id for r in view.interrupted] == ["crashed"]
        assert "running" in view.locks["staging"]
        assert json.loads(json.dumps(view.to_dict()))["locks"] == view.locks
    assert api.status(project).locks == {}
    assert [r.run_id for r in api.status(project).interrupted] == ["crashed", "running"]


def test_a_closed_release_shows_as_closed_until_the_next_switch() -> None:
    from relkit.chain import Entry
    from relkit.status import live_releases

    def e(seq: int, kind: str, **data: object) -> Entry:
        return Entry(seq, f"2026-11-2{seq}T10:00:00+00:00", "r", kind, "production", "web1", dict(data))

    closed = live_releases([e(1, "host.switched", version="2.0.0"), e(2, "release.closed", version="2.0.0")])
    assert closed["production"]["web1"].closed.startswith("2026-11-22")
    reopened = live_releases(
        [
            e(1, "host.switched", version="2.0.0"),
            e(2, "release.closed", version="2.0.0"),
            e(3, "host.switched", version="2.1.0"),
        ]
    )
    assert reopened["production"]["web1"].closed == ""
