"""The fleet witnesses the ledger: what the controller's ledger lost or gained, the hosts tell.

Real deploys (the local connection to the example's staging host), done once for the module and
put back untouched before each test; the real ``relkit ledger verify --witnesses``. Each attack
is what someone with a shell on the controller can do without a key: delete the ledger and its
head together (before witnesses: "ledger ok: 0 rows"), append a passing ``smoke.result`` for a
release that failed staging (the non-overridable ``promoted_from`` gate then passed), re-seal
the whole chain after rewriting a row, or record a switch that never happened.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from relkit import api
from relkit.errors import PlayFailed
from relkit.loading import load_manifest
from relkit.project import Project
from relkit.store.sqlite import Ledger
from tests.security.test_signed_acts import reseal_after
from tests.support.clirunner import Cli, make_cli
from tests.support.fixtures import copy_example_project, isolate_env, staging_project

# the module's tests share one deploy (_deployed_once): with pytest-xdist they run on one worker
pytestmark = pytest.mark.xdist_group("witnesses")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


@pytest.fixture(scope="module")
def _deployed_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """1.0.0 then 2.0.0 deployed to staging (stage1), then 3.0.0, whose smoke test fails: rolled
    back to 2.0.0. Done once for the module (the deploys are what costs); returns (live, pristine):
    where the deployed project, its state and stage1 live, and a copy of all of it taken once the
    deploys were done (the app is stopped then: the witnesses are read from stage1's files)."""
    live = tmp_path_factory.mktemp("witnesses") / "live"
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_env(monkeypatch, live / "state")
        with staging_project(copy_example_project(live), live, monkeypatch) as project:
            releases = project.root / "releases"
            api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
            api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
            with pytest.raises(PlayFailed):
                api.deploy(project, releases / "3.0.0.yml", "staging", by="ops")
    pristine = live.parent / "pristine"
    shutil.copytree(live, pristine, symlinks=True)
    return live, pristine


@pytest.fixture
def deployed(_deployed_once: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """The deployed project of ``_deployed_once``, put back in place (same paths) as it was right
    after the deploys: each test attacks its own untouched copy."""
    live, pristine = _deployed_once
    shutil.rmtree(live)
    shutil.copytree(pristine, live, symlinks=True)
    monkeypatch.setenv("RELKIT_STATE_DIR", str(live / "state"))
    monkeypatch.setenv("RELKIT_DEMO_ROOT", str(live / "hosts"))
    with Project.load(live / "examples" / "project") as project:
        yield project


def verify(cli: Cli, project: Project) -> tuple[int, dict, str]:
    done = cli("-C", project.root, "-o", "json", "ledger", "verify", "--witnesses", "staging")
    return done.code, done.payload, done.err


def history() -> list[dict]:
    """stage1's own record of its switches (the local staging host lives under RELKIT_DEMO_ROOT)."""
    path = Path(os.environ["RELKIT_DEMO_ROOT"]) / "staging" / "stage1" / ".relkit" / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_hosts_agree_with_an_intact_ledger(cli: Cli, deployed: Project) -> None:
    lines = history()
    assert [line["action"] for line in lines] == ["deploy", "deploy", "deploy", "rollback"]
    assert all(line["ledger_head"].count(":") == 1 for line in lines)
    code, payload, err = verify(cli, deployed)
    assert code == 0, err
    assert payload["witnesses"] == {
        "env": "staging",
        "hosts": {"stage1": 4},
        "unreachable": [],
        "problems": [],
        "ok": True,
    }


def test_a_deleted_ledger_is_detected_from_the_fleet(cli: Cli, deployed: Project) -> None:
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger.db.head"):
        (deployed.state_dir / name).unlink(missing_ok=True)
    plain = cli("-C", deployed.root, "ledger", "verify")
    assert plain.code == 0 and "0 rows" in plain.out  # the chain alone cannot tell
    code, payload, err = verify(cli, deployed)
    assert code == 1
    assert "deleted or truncated" in err and "stage1 witnessed ledger row" in err
    assert len(payload["witnesses"]["problems"]) >= 4


def test_a_forged_smoke_result_for_a_release_that_failed_staging_is_detected(
    cli: Cli, deployed: Project
) -> None:
    three = load_manifest(deployed.root / "releases" / "3.0.0.yml")
    store = Ledger(deployed.state_dir / "ledger.db")
    forged = store.append(
        "smoke.result",
        run_id="20991231T000000Z-forged",
        env="staging",
        data={"version": "3.0.0", "sha256": three.artifact.sha256, "passed": True, "hosts": ["stage1"]},
    )
    store.close()
    three_yml = deployed.root / "releases" / "3.0.0.yml"
    gates = cli("-C", deployed.root, "-o", "json", "gates", three_yml, "-e", "production")
    promoted = next(g for g in gates.payload["gates"] if g["name"] == "promoted_from")
    assert promoted["passed"]  # the forgery works on the gate: that is why the fleet is asked
    assert cli("-C", deployed.root, "ledger", "verify").code == 0

    code, _, err = verify(cli, deployed)
    assert code == 1
    assert f"ledger row {forged.seq} says 3.0.0 passed its smoke test on stage1" in err
    assert "has 2.0.0 live then" in err


def test_a_resealed_rewrite_and_a_switch_that_never_happened_are_detected(
    cli: Cli, deployed: Project
) -> None:
    [started] = [e for e in deployed.ledger.entries(kind="run.started")][:1]
    reseal_after(deployed, {started.seq: {**started.data, "by": "somebody-else"}})
    path = deployed.state_dir / "ledger.db"
    store = Ledger(path)
    store.append("host.switched", run_id="20991231T000000Z-ghost", env="staging", host="stage1",
                 data={"version": "1.0.0", "previous": "2.0.0", "action": "rollback"})  # fmt: skip
    store.close()
    assert cli("-C", deployed.root, "ledger", "verify").code == 0

    code, _, err = verify(cli, deployed)
    assert code == 1
    assert "the ledger was rewritten" in err
    assert "run 20991231T000000Z-ghost switched stage1 to 1.0.0; stage1's history has no such switch" in err
