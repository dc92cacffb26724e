"""The release report from a ledger of real runs: the example project's staging host deployed
for real (local connection), rolled back by hand, then a failed deploy rolled back by relkit;
the hosts' addresses and deploy paths come from the real inventory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.project import Project
from relkit.usecases.reports import release_report


def first_section(text: str) -> str:
    """The Markdown report's first section (its outcome)."""
    return text.split("\n## ", 2)[1]


def test_reports_from_real_runs(local_staging: Project, tmp_path: Path) -> None:
    project, releases = local_staging, local_staging.root / "releases"
    inventory = yaml.safe_load((tmp_path / "inventory" / "local" / "staging.yml").read_text())
    port = inventory["staging"]["hosts"]["stage1"]["app_port"]
    assert api.prepare(project, "staging", releases / "1.0.0.yml", by="ops").ok
    assert api.deploy(project, releases / "1.0.0.yml", "staging", by="ops").ok
    assert api.deploy(project, releases / "2.0.0.yml", "staging", by="ops").ok
    assert api.rollback(project, "staging", by="dewi", reason="login broken").ok
    with pytest.raises(api.PlayFailed):
        api.deploy(project, releases / "3.0.0.yml", "staging", by="ops")  # 3.0.0's /health fails

    # 2.0.0: rolled back by dewi, and it says so first
    second = release_report(project, releases / "2.0.0.yml", "md", "en")
    outcome = first_section(second.text)
    assert outcome.startswith("Outcome\n")
    assert "| staging | ROLLED BACK (last switched in " in outcome
    assert (
        "manual rollback decided by dewi: login broken. Hosts switched: stage1 → 1.0.0. Run: successful."
        in (outcome)
    )
    assert "**Release status:** open (not closed yet" in outcome
    assert [(r.action, r.version, r.status) for r in second.report.runs] == [
        ("deploy", "2.0.0", "successful"),
        ("rollback", "", "successful"),
    ]

    # the host as the inventory gives it: its own deploy path (relkit_deploy_path), the
    # smoke target rendered with its app_port; never a raw template, never relkit.yml's default
    [staging] = [group for group in second.report.hosts if group.env == "staging"]
    [host] = staging.hosts
    assert (host.host, host.address, host.connection) == ("stage1", "stage1", "local")
    assert host.deploy_path == str(tmp_path / "hosts" / "staging" / "stage1")
    assert [(c.name, c.target) for c in host.smoke] == [
        ("health", f"http://127.0.0.1:{port}/health"),
        ("port", f"127.0.0.1:{port}"),
    ]
    production = {
        h.host: h.deploy_path for g in second.report.hosts if g.env == "production" for h in g.hosts
    }
    assert set(production) == {"prod1", "prod2"}
    assert all(path and path.endswith(f"/production/{name}") for name, path in production.items())
    for text in (second.text, release_report(project, releases / "2.0.0.yml", "html", "id").text):
        assert "{{" not in text and "/opt/webapp" not in text
        assert (
            f"http://127.0.0.1:{port}/health" in text
            and str(tmp_path / "hosts" / "staging" / "stage1") in text
        )
        # the artifact by its file name and sha256, not the controller's path to it
        assert "webapp-2.0.0.tar.gz" in text and second.report.sha256 in text and "webapp/dist" not in text

    # 1.0.0: brought back twice by rollbacks (dewi's, then 3.0.0's automatic one): deployments of it
    first = release_report(project, releases / "1.0.0.yml", "md", "en")
    assert [(b.automatic, b.by, b.replaced, b.moved) for b in first.report.outcome.restored] == [
        (False, "dewi", "2.0.0", {"stage1": "1.0.0"}),
        (True, "ops", "3.0.0", {"stage1": "1.0.0"}),
    ]
    assert "| staging | live on every host (last switched in " in first_section(first.text)
    assert [(d.fields["version"], d.fields["action"]) for d in first.report.deployments] == [
        ("1.0.0", "deploy"),
        ("1.0.0", "rollback"),
        ("1.0.0", "rollback"),
    ]
    # prepare ran long before the example's window: not flagged (the window guards production)
    assert {(r.action, r.in_window) for r in first.report.runs} == {
        ("prepare", None),
        ("deploy", None),
        ("rollback", None),
    }

    # 3.0.0: its failed deploy, rolled back automatically; its smoke criterion not met
    third = release_report(project, releases / "3.0.0.yml", "md", "id")
    [away] = third.report.outcome.withdrawn
    assert (away.automatic, away.moved, away.status) == (True, {"stage1": "1.0.0"}, "successful")
    assert [(r.action, r.status) for r in third.report.outcome.failures] == [("deploy", "rolled_back")]
    assert third.report.criterion("smoke").state == "not_met"
    assert re.search(
        r"- deployment 3\.0\.0 di staging pada .* oleh ops: \*\*GAGAL, di-rollback\*\*", third.text
    )
