"""Notifications sent by real deploys and rollbacks of the example project (local connection, no SSH).

The staging "host" (the ``local_staging`` fixture) runs the example app on a free port under
tmp_path; a real webhook server receives what relkit sends. A planted bearer token must reach
the webhook and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.errors import PlayFailed
from relkit.project import Project
from relkit.usecases.reports import release_report
from tests.support import notifysinks
from tests.support.notifysinks import Hook, files_containing, free_port

webhook = notifysinks.webhook
CANARY = "canary-deploy-token-93f1a7"


@pytest.fixture
def staging(local_staging: Project, webhook: Hook, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The local staging project with a webhook channel whose bearer token is the canary."""
    monkeypatch.setenv("RELKIT_HOOK_TOKEN", CANARY)
    config_path = local_staging.root / "relkit.yml"
    config = yaml.safe_load(config_path.read_text())
    config["notifications"] = {
        "channels": {"ops": {"type": "webhook", "url": webhook.url, "token_env": "RELKIT_HOOK_TOKEN"}}
    }
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Project.load(local_staging.root)


def test_deploys_and_rollbacks_notify_the_channels(
    staging: Project, webhook: Hook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    releases = staging.root / "releases"
    api.deploy(staging, releases / "1.0.0.yml", "staging", by="ops")
    assert webhook.events() == ["deploy.started", "deploy.finished"]
    started, finished = (r["json"] for r in webhook.requests)
    assert started["text"].startswith("[webapp] Deploying 1.0.0 to staging (run ")
    assert started["relkit"]["version"] == "1.0.0" and started["relkit"]["by"] == "ops"
    assert finished["relkit"]["status"] == "successful"
    assert finished["text"].startswith("[webapp] Deploy of 1.0.0 to staging succeeded")
    assert "stage1 ok" in finished["text"]
    assert {r["headers"]["Authorization"] for r in webhook.requests} == {f"Bearer {CANARY}"}

    api.deploy(staging, releases / "2.0.0.yml", "staging", by="ops")
    webhook.requests.clear()
    api.rollback(staging, "staging", by="dewi", reason="login broken")
    [notice] = webhook.requests
    assert notice["json"]["event"] == "rollback"
    text = notice["json"]["text"]
    assert text.startswith("[webapp] staging was rolled back to 1.0.0")
    assert "The release 2.0.0 was withdrawn." in text
    assert "Reason: login broken" in text and "Decided by: dewi" in text

    webhook.requests.clear()
    with pytest.raises(PlayFailed):
        api.deploy(staging, releases / "3.0.0.yml", "staging", by="ops")
    assert webhook.events() == ["deploy.started", "smoke.failed", "rollback", "deploy.finished"]
    smoke, back, done = (r["json"] for r in webhook.requests[1:])
    assert smoke["text"].startswith("[webapp] Smoke test FAILED for 3.0.0 on staging: stage1")
    assert "stage1: health" in smoke["text"]
    assert back["relkit"]["automatic"] is True and back["relkit"]["rolled_back"] == {"stage1": "1.0.0"}
    assert "withdrawn automatically after a failed deployment" in back["text"]
    assert done["relkit"]["status"] == "rolled_back"
    assert "FAILED and was rolled back" in done["text"]

    entries = list(staging.ledger.entries(kind="notify.sent"))
    assert [e.data["event"] for e in entries] == [
        "deploy.started",
        "deploy.finished",
        "deploy.started",
        "deploy.finished",
        "rollback",
        "deploy.started",
        "smoke.failed",
        "rollback",
        "deploy.finished",
    ]
    assert all(e.data["ok"] and e.data["channel"] == "ops" for e in entries)
    runs = {e.run_id for e in staging.ledger.entries(kind="run.started")}
    assert {e.run_id for e in entries} <= runs
    assert staging.ledger.verify().ok

    # the release reports, from this real ledger
    second = release_report(staging, releases / "2.0.0.yml", "html", "en")
    report = second.report
    assert [(r.action, r.status) for r in report.runs] == [
        ("deploy", "successful"),
        ("rollback", "successful"),
    ]
    [manual] = report.rollbacks
    assert (manual.fields["by"], manual.fields["reason"], manual.fields["moved"]) == (
        "dewi",
        "login broken",
        {"stage1": "1.0.0"},
    )
    assert [n.fields["event"] for n in report.notifications] == [
        "deploy.started",
        "deploy.finished",
        "rollback",
    ]
    assert [(d.host, d.fields["version"]) for d in report.deployments] == [
        ("stage1", "2.0.0"),
        ("stage1", "1.0.0"),
    ]
    third = release_report(staging, releases / "3.0.0.yml", "md", "id")
    [automatic] = third.report.rollbacks
    assert automatic.fields["automatic"] is True and automatic.fields["moved"] == {"stage1": "1.0.0"}
    assert "smoke test GAGAL (stage1)" in third.text
    assert CANARY not in second.text + third.text
    out = capsys.readouterr()
    assert files_containing(tmp_path, CANARY) == []
    assert CANARY not in out.out + out.err


def test_unreachable_channel_does_not_break_a_deploy(
    staging: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = staging.root / "relkit.yml"
    config = yaml.safe_load(config_path.read_text())
    config["notifications"]["channels"]["ops"]["url"] = f"http://127.0.0.1:{free_port()}/gone"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    project = Project.load(staging.root)
    report = api.deploy(project, project.root / "releases" / "1.0.0.yml", "staging", by="ops")
    assert report.ok
    entries = list(project.ledger.entries(kind="notify.sent"))
    assert [(e.data["event"], e.data["ok"]) for e in entries] == [
        ("deploy.started", False),
        ("deploy.finished", False),
    ]
    assert "cannot reach the webhook" in entries[0].data["error"]
