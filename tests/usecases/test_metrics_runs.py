"""``relkit metrics`` on a ledger written by real runs: three deploys to the local staging host,
the third (3.0.0, whose smoke test fails) rolled back automatically. Every expected figure is
worked out here from the times the ledger recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import pytest
from prometheus_client.parser import text_string_to_metric_families

from relkit import api
from relkit.chain import Entry
from relkit.errors import PlayFailed
from relkit.project import Project
from tests.support.clirunner import Cli, make_cli


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


def at(entry: Entry) -> datetime:
    return datetime.fromisoformat(entry.ts)


def test_metrics_of_real_deploys_and_an_automatic_rollback(
    local_staging: Project, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
    api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
    with pytest.raises(PlayFailed):
        api.deploy(project, releases / "3.0.0.yml", "staging", by="ops")
    entries = list(project.ledger.entries(env="staging"))

    # the deploys recorded where each release comes from (the manifests' code freeze)
    started = {e.data["version"]: e for e in entries if e.kind == "run.started"}
    assert started["1.0.0"].data["code_freeze"] == {
        "commit": "a1f3c9e5d2b7480c9e1f6a3d5b8c0e2f4a6b8d01",
        "time": "2026-11-08T17:00:00+07:00",
    }
    assert started["2.0.0"].data["build"] == {"commit": "b27d4e1c8a9f3b5d7e0c2a4f6b8d1e3c5a7f9b02"}

    # by hand, from the ledger: each release's switch, 3.0.0's failed smoke and the rollback's smoke
    run_of = {v: e.run_id for v, e in started.items()}
    switch = {
        v: next(
            e
            for e in entries
            if e.kind == "host.switched" and e.run_id == run and e.data["action"] == "deploy"
        )
        for v, run in run_of.items()
    }
    smokes = [e for e in entries if e.kind == "smoke.result" and e.run_id == run_of["3.0.0"]]
    assert [s.data["passed"] for s in smokes] == [False, True]  # 3.0.0's, then the rollback's
    freeze_1 = datetime.fromisoformat("2026-11-08T17:00:00+07:00")
    freeze_2 = datetime.fromisoformat("2026-11-15T17:00:00+07:00")
    lead_1 = (at(switch["1.0.0"]) - freeze_1).total_seconds()
    lead_2 = (at(switch["2.0.0"]) - freeze_2).total_seconds()
    restore = (at(smokes[1]) - at(smokes[0])).total_seconds()
    assert restore > 0

    now = datetime.now(UTC)
    figures = api.metrics(project, "staging", since="1d", now=now)
    [staging] = figures.environments
    assert (staging.deploys, staging.successful, staging.unfinished) == (3, 2, 0)
    assert staging.deployment_frequency_per_day == pytest.approx(2.0)  # 2 successful in 1 day
    assert [(lt.version, lt.source) for lt in staging.lead_times] == [
        ("1.0.0", "code_freeze"),
        ("2.0.0", "code_freeze"),
    ]
    assert [lt.seconds for lt in staging.lead_times] == pytest.approx([lead_1, lead_2], abs=0.001)
    assert staging.lead_time_seconds == pytest.approx(median([lead_1, lead_2]), abs=0.001)
    assert staging.change_failure_rate == pytest.approx(1 / 3)
    [failure] = staging.failures
    assert (failure.version, failure.what, failure.seq) == ("3.0.0", "smoke failed", smokes[0].seq)
    assert failure.restored_at == smokes[1].ts
    assert staging.time_to_restore_seconds == pytest.approx(restore, abs=0.001)

    # the CLI: JSON with the same figures
    shown = cli("-C", project.root, "-o", "json", "metrics", "--env", "staging", "--since", "1d")
    assert shown.code == 0, shown.err
    payload = shown.payload
    [env] = payload["environments"]
    assert (env["env"], env["deploys"], env["successful"]) == ("staging", 3, 2)
    assert env["change_failure_rate"] == pytest.approx(1 / 3)
    assert env["lead_time"]["median_seconds"] == pytest.approx(median([lead_1, lead_2]), abs=1)
    assert env["time_to_restore"] == {
        "median_seconds": pytest.approx(restore, abs=1),
        "restored": 1,
        "unrestored": 0,
    }
    assert env["failed_deploys"][0]["what"] == "smoke failed"

    # the Prometheus textfile, written atomically and parsed as Prometheus reads it
    prom = tmp_path / "relkit-dora.prom"
    written = cli("-C", project.root, "metrics", "--since", "1d", "--prom-file", prom)
    assert written.code == 0, written.err
    assert f"metrics written to {prom}" in written.out
    samples = {
        (s.name, s.labels.get("env")): s.value
        for family in text_string_to_metric_families(prom.read_text())
        for s in family.samples
    }
    assert samples[("relkit_change_failure_rate", "staging")] == pytest.approx(1 / 3)
    assert samples[("relkit_deployments", "staging")] == 2
    assert samples[("relkit_time_to_restore_seconds", "staging")] == pytest.approx(restore, abs=0.001)
    assert samples[("relkit_deployments", "production")] == 0  # nothing deployed there
    assert ("relkit_lead_time_seconds", "production") not in samples
    assert oct(prom.stat().st_mode & 0o777) == "0o644"
    assert not list(tmp_path.glob(".relkit-dora.prom*")), "no temporary file left behind"

    # the table: production first (promote_from), every line within 80 columns
    monkeypatch.setenv("COLUMNS", "80")
    table = cli("-C", project.root, "metrics", "--since", "1d")
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80, table.out
    rows = [line.split() for line in lines if line.startswith(("production", "staging"))]
    assert [r[0] for r in rows[:2]] == ["production", "staging"]
    assert rows[1][1:5] == ["2", "ok", "of", "3"]
    assert "33.3% (1/3)" in next(line for line in lines if line.startswith("staging"))
    assert "staging 3.0.0: failed (smoke failed, #" in table.out
