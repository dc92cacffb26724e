"""The release report: the pure model (relkit.report), its rendering and ``relkit report``.

The ledger history used here is written to a real hash-chained Ledger in tmp_path, shaped
like what deploys, rollbacks, approvals, health runs and notifications record.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from relkit.chain import ChainCheck, Entry
from relkit.cli import main
from relkit.config import ProjectConfig
from relkit.loading import validate_data
from relkit.manifest import Manifest
from relkit.report import SECTIONS, Report, Row, build_report, describe, release_entries
from relkit.report_labels import LABELS
from relkit.report_render import md_cell, render_report
from relkit.store.sqlite import Ledger
from tests.support.factories import config_data, manifest_data

SHA_1, SHA_2, SHA_3 = "1" * 64, "2" * 64, "3" * 64
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def manifest(version: str = "2.0.0", sha: str = SHA_2, **overrides: Any) -> Manifest:
    data = manifest_data(
        version=version,
        artifact={"path": f"dist/webapp-{version}.tar.gz", "sha256": sha},
        changes=[
            {"id": "WEB-120", "type": "feature", "title": "Notes carry an author"},
            {"id": "WEB-124", "type": "fix", "title": "Filter notes by author"},
            {"id": "WEB-130", "type": "docs", "title": "Operator guide"},
        ],
        owners={"po": "dewi", "dev": "budi", "qa": "sari", "ops": "ops-demo", "comms": "rina"},
        rollback_plan="relkit rollback --env production --by <PO> --reason <why>",
        requirements={"os": [{"distribution": "Debian", "versions": ["12"]}], "cpu": 2, "ram_mb": 6144},
        tests={
            "functional": {"result": "passed", "link": "https://ci.example.org/f"},
            "regression": {"result": "passed"},
            "performance": {"result": "passed"},
            "security": {"result": "passed"},
        },
        code_freeze={"commit": "3f9a2c1", "time": "2026-11-08T17:00:00+07:00"},
    )
    data["schedule"] = {
        "window_start": "2026-11-17T22:00:00",
        "window_end": "2026-11-17T23:30:00",
        "timezone": "Asia/Jakarta",
        "expected_downtime_minutes": 5,
    }
    data.update(overrides)
    return validate_data(Manifest, data, "m.yml")


def config() -> ProjectConfig:
    data = config_data()
    data["smoke"]["checks"].append({"name": "db", "command": "test -s shared/data/app.db"})
    return validate_data(ProjectConfig, data, "relkit.yml")


class History:
    """Appends realistic entries to a real ledger; times are Asia/Jakarta evening, 2026-11-17."""

    def __init__(self, path: Path) -> None:
        self.ledger = Ledger(path)

    def add(self, kind: str, run: str = "", env: str = "", host: str = "", /, **data: Any) -> Entry:
        return self.ledger.append(kind, run_id=run, env=env, host=host, data=data)

    def deploy(self, run: str, env: str, version: str, sha: str, hosts: list[str], ok: bool = True) -> None:
        self.add(
            "gate.evaluated",
            run,
            env,
            stage="deploy",
            env=env,
            version=version,
            sha256=sha,
            passed=True,
            gates=[{"name": "manifest_valid", "passed": True}],
            by="ops-demo",
        )
        self.add(
            "run.started",
            run,
            env,
            action="deploy",
            by="ops-demo",
            pid=1,
            controller="c",
            version=version,
            sha256=sha,
        )
        for host in hosts:
            self.add("task.result", run, env, host, task="Probe", action="relkit_release", status="ok")
            self.add(
                "host.switched",
                run,
                env,
                host,
                version=version,
                sha256=sha,
                previous="1.0.0",
                action="deploy",
                by="ops-demo",
            )
        self.add(
            "smoke.result",
            run,
            env,
            version=version,
            sha256=sha,
            passed=ok,
            hosts=hosts,
            failed=[] if ok else hosts,
            checks={},
        )
        self.add(
            "notify.sent",
            run,
            env,
            event="deploy.finished",
            channel="ops",
            type="webhook",
            ok=True,
            error="",
            target="https://chat.example.org/hooks/x",
            version=version,
            sha256=sha,
        )
        if ok:
            self.add("run.finished", run, env, action="deploy", status="successful", rc=0)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """One release history per module (tests only read it)."""
    h = History(tmp_path_factory.mktemp("history") / "state" / "ledger.db")
    h.deploy("r1", "staging", "1.0.0", SHA_1, ["stage1"])
    h.add(
        "approval.recorded",
        role="qa",
        by="sari",
        at="2026-11-16T10:00:00+07:00",
        version="2.0.0",
        sha256=SHA_2,
        verified=True,
    )
    h.add(
        "approval.recorded",
        role="po",
        by="dewi",
        at="2026-11-16T11:00:00+07:00",
        version="2.0.0",
        sha256=SHA_2,
        verified=True,
    )
    h.add(
        "notify.sent",
        event="announcement",
        channel="record",
        type="record",
        ok=True,
        error="",
        target="ledger",
        version="2.0.0",
        sha256=SHA_2,
        window_start="2026-11-17T22:00:00+07:00",
    )
    h.deploy("r2", "staging", "2.0.0", SHA_2, ["stage1"])
    h.add(
        "gate.evaluated",
        "r3b",
        "production",
        stage="deploy",
        env="production",
        version="2.0.0",
        sha256=SHA_2,
        passed=False,
        gates=[{"name": "window", "passed": False}],
        by="ops-demo",
    )
    h.add(
        "gate.override",
        "r3",
        "production",
        gate="notice_sent",
        by="dewi",
        reason="announced at kick-off",
        version="2.0.0",
        stage="deploy",
    )
    h.deploy("r3", "production", "2.0.0", SHA_2, ["prod1", "prod2"])
    # manual rollback of production away from 2.0.0
    h.add(
        "run.started",
        "r4",
        "production",
        action="rollback",
        by="dewi",
        pid=1,
        controller="c",
        to=None,
        reason="login broken",
    )
    h.add(
        "rollback.requested", "r4", "production", by="dewi", reason="login broken", to=None, automatic=False
    )
    for host in ("prod1", "prod2"):
        h.add(
            "host.switched",
            "r4",
            "production",
            host,
            version="1.0.0",
            sha256=SHA_1,
            previous="2.0.0",
            action="rollback",
            by="dewi",
        )
    h.add(
        "notify.sent",
        "r4",
        "production",
        event="rollback",
        channel="ops",
        type="webhook",
        ok=False,
        error="HTTP 500 Internal Server Error",
        target="https://chat.example.org/hooks/x",
    )
    h.add("run.finished", "r4", "production", action="rollback", status="successful", rc=0)
    # 3.0.0 fails on staging and is rolled back automatically to 2.0.0
    h.deploy("r5", "staging", "3.0.0", SHA_3, ["stage1"], ok=False)
    h.add(
        "rollback.started",
        "r5",
        "staging",
        by="ops-demo",
        reason="deploy failed on stage1",
        hosts=["stage1"],
        automatic=True,
    )
    h.add(
        "host.switched",
        "r5",
        "staging",
        "stage1",
        version="2.0.0",
        sha256=SHA_2,
        previous="3.0.0",
        action="rollback",
        by="ops-demo",
    )
    h.add("run.finished", "r5", "staging", action="deploy", status="rolled_back", rc=2)
    # health runs on production while 2.0.0 is live
    for run, status in (("r6", "ok"), ("r7", "critical")):
        h.add("run.started", run, "production", action="health", by="cron", pid=1, controller="c")
        h.add(
            "health.result",
            run,
            "production",
            status=status,
            by="cron",
            versions={"prod1": "2.0.0", "prod2": "2.0.0"},
            hosts={},
        )
        h.add("run.finished", run, "production", action="health", status=status, rc=0)
    h.add("lock.broken", "", "production", by="alice", holder={}, forced=False)
    h.add(
        "release.closed",
        "",
        "production",
        version="2.0.0",
        sha256=SHA_2,
        by="dewi",
        retro="Went well: staged rollout.\nTo improve: announce 24 h ahead.",
    )
    h.ledger.close()
    return h


def report_of(history: History, m: Manifest | None = None) -> Report:
    entries = list(history.ledger.entries())
    return build_report(
        m or manifest(),
        config(),
        entries,
        manifest_ref="releases/2.0.0.yml",
        generated_at=NOW,
        chain=history.ledger.verify(),
    )


# -- the model -------------------------------------------------------------------------


def test_sections_follow_seed_003_then_relkits_record(history: History) -> None:
    report = report_of(history)
    assert report.sections == SECTIONS
    assert SECTIONS[:12] == (
        "policy",
        "scope",
        "functionality",
        "problems",
        "tests",
        "test_env",
        "criteria",
        "resources",
        "schedule",
        "support",
        "hardware",
        "install",
    )
    assert {"approvals", "gates", "deployments", "checks", "rollbacks", "notifications", "retro"} <= set(
        SECTIONS
    )
    assert report.section("policy") == 1 and report.section("retro") == 19


def test_release_facts_from_the_manifest_and_config(history: History) -> None:
    report = report_of(history)
    assert report.os == ["Debian 12"]
    assert [c.id for c in report.features] == ["WEB-120"]
    assert [c.id for c in report.fixes] == ["WEB-124"]
    assert [c.id for c in report.other_changes] == ["WEB-130"]
    assert [(t["kind"], t["result"]) for t in report.tests] == [
        ("functional", "passed"),
        ("regression", "passed"),
        ("performance", "passed"),
        ("security", "passed"),
    ]
    assert report.test_envs == ["staging"] and report.environments == ["staging", "production"]
    assert [(s.name, s.kind, s.expect) for s in report.smoke_checks] == [
        ("health", "http", "HTTP 200"),
        ("db", "command", "exit 0"),
    ]
    assert report.hardware == {"os": "Debian 12", "cpu": 2, "ram_mb": 6144, "disk_mb": None}
    assert report.owners["ops"] == "ops-demo" and list(report.owners) == ["po", "dev", "qa", "ops", "comms"]
    assert report.window is not None
    assert report.window["start"] == "2026-11-17 22:00:00 WIB" and report.window["downtime_minutes"] == 5
    commands = [s.command for s in report.install]
    assert commands[:2] == [
        "relkit prepare --env staging --manifest releases/2.0.0.yml",
        "relkit prepare --env production --manifest releases/2.0.0.yml",
    ]
    assert (
        commands.index("relkit deploy releases/2.0.0.yml --env staging")
        < commands.index("relkit notify releases/2.0.0.yml --kind announcement --env production")
        < commands.index("relkit deploy releases/2.0.0.yml --env production")
    )


def test_entries_of_other_releases_are_left_out(history: History) -> None:
    report = report_of(history)
    rows = report.timeline + report.deployments + report.checks + report.gates + report.notifications
    assert {r.run_id for r in report.timeline} == {"", "r2", "r3", "r3b", "r4", "r7"}
    assert not [r for r in rows if r.fields.get("sha256") in (SHA_1, SHA_3) and r.run_id != "r4"]
    assert all(r.kind != "lock.broken" for r in report.timeline)
    assert all(r.kind != "task.result" for r in report.timeline)
    # the switch back to 2.0.0 made by 3.0.0's own run belongs to 3.0.0's report
    assert [(d.env, d.host, d.fields["version"]) for d in report.deployments] == [
        ("staging", "stage1", "2.0.0"),
        ("production", "prod1", "2.0.0"),
        ("production", "prod2", "2.0.0"),
        ("production", "prod1", "1.0.0"),
        ("production", "prod2", "1.0.0"),
    ]


def test_each_release_gets_its_own_entries(history: History) -> None:
    entries = list(history.ledger.entries())
    first = {e.run_id for e in release_entries(entries, "1.0.0", SHA_1)}
    second = {e.run_id for e in release_entries(entries, "2.0.0", SHA_2)}
    third = {e.run_id for e in release_entries(entries, "3.0.0", SHA_3)}
    assert first == {"r1"}
    assert second == {"", "r2", "r3", "r3b", "r4", "r6", "r7"}
    assert third == {"r5"}


def test_timeline_is_in_ledger_order_with_local_times(history: History) -> None:
    report = report_of(history)
    seqs = [r.seq for r in report.timeline]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    kinds = [r.kind for r in report.timeline]
    assert kinds[:3] == ["approval.recorded", "approval.recorded", "notify.sent"]
    assert kinds[-1] == "release.closed"
    assert kinds.index("run.started") < kinds.index("host.switched") < kinds.index("run.finished")
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d WIB", r.when) for r in report.timeline)
    # the routine of scheduled health runs stays out; the critical result is in
    health = [r for r in report.timeline if r.kind == "health.result"]
    assert [r.fields["status"] for r in health] == ["critical"]
    assert report.health["count"] == 2 and report.health["counts"] == {"ok": 1, "critical": 1}


def test_runs_planned_vs_actual(history: History) -> None:
    report = report_of(history)
    assert [(r.action, r.env, r.status) for r in report.runs] == [
        ("deploy", "staging", "successful"),
        ("deploy", "production", "successful"),
        ("rollback", "production", "successful"),
    ]
    past = {"window_start": "2020-01-01T22:00:00", "window_end": "2020-01-01T23:00:00", "timezone": "UTC"}
    late = report_of(history, manifest(schedule=past))
    assert {r.in_window for r in late.runs} == {False}
    assert late.window is not None and late.window["start"] == "2020-01-01 22:00:00 UTC"


def test_in_window_when_the_run_is_inside_it(history: History) -> None:
    now = datetime.now(UTC)
    wide = {
        "window_start": (now - timedelta(days=365)).isoformat(),
        "window_end": (now + timedelta(days=365)).isoformat(),
        "timezone": "UTC",
    }
    report = report_of(history, manifest(schedule=wide))
    assert {r.in_window for r in report.runs} == {True}


def test_record_sections(history: History) -> None:
    report = report_of(history)
    assert [(a.fields["role"], a.fields["by"], a.fields["verified"]) for a in report.approvals] == [
        ("qa", "sari", True),
        ("po", "dewi", True),
    ]
    assert [(g.env, g.fields["passed"]) for g in report.gates] == [
        ("staging", True),
        ("production", False),
        ("production", True),
    ]
    assert [(o.fields["gate"], o.fields["by"], o.fields["reason"]) for o in report.overrides] == [
        ("notice_sent", "dewi", "announced at kick-off")
    ]
    [rollback] = report.rollbacks
    assert (rollback.fields["by"], rollback.fields["reason"], rollback.fields["automatic"]) == (
        "dewi",
        "login broken",
        False,
    )
    assert rollback.fields["moved"] == {"prod1": "1.0.0", "prod2": "1.0.0"}
    assert [(n.fields["event"], n.fields["ok"]) for n in report.notifications] == [
        ("announcement", True),
        ("deploy.finished", True),
        ("deploy.finished", True),
        ("rollback", False),
    ]
    assert [c.kind for c in report.checks] == ["smoke.result", "smoke.result", "health.result"]
    [closed] = report.retro
    assert closed.fields["retro"].startswith("Went well")
    assert report.ledger["chain_ok"] is True and report.ledger["total"] == len(list(history.ledger.entries()))


def test_automatic_rollback_is_in_the_failed_release_report(history: History) -> None:
    report = report_of(history, manifest("3.0.0", SHA_3))
    [rollback] = report.rollbacks
    assert rollback.fields["automatic"] is True and rollback.fields["moved"] == {"stage1": "2.0.0"}
    assert [r.status for r in report.runs] == ["rolled_back"]
    assert report.criteria["smoke"] is False


def test_success_criteria(history: History) -> None:
    assert report_of(history).criteria == {
        "tests": True,
        "bugs": True,
        "smoke": True,
        "promote": True,
        "monitor": False,
    }
    empty = build_report(manifest(), config(), [], manifest_ref="m.yml", generated_at=NOW)
    assert empty.criteria == {"tests": True, "bugs": True, "smoke": None, "promote": None, "monitor": None}
    assert empty.ledger["chain_ok"] is None and empty.timeline == [] and empty.runs == []


def test_describe_in_both_languages(history: History) -> None:
    report = report_of(history)
    blocked = next(g for g in report.gates if not g.fields["passed"])
    assert describe(blocked, LABELS["en"]) == "gates for deploy: BLOCKED: window"
    assert describe(blocked, LABELS["id"]) == "gerbang deploy: DIBLOKIR: window"
    switch = report.deployments[0]
    assert describe(switch, LABELS["en"]) == "switched to 2.0.0 (from 1.0.0, deploy)"
    assert describe(switch, LABELS["id"]) == "beralih ke 2.0.0 (dari 1.0.0, deployment)"
    odd = Entry(1, NOW.isoformat(), "", "something.new", "", "", {"a": 1})
    row = Row(odd.seq, odd.ts, "", odd.run_id, odd.env, odd.host, odd.kind, dict(odd.data))
    assert describe(row, LABELS["en"]) == "something.new a=1"


def test_labels_have_the_same_keys_in_both_languages() -> None:
    def keys(d: dict[str, Any], prefix: str = "") -> set[str]:
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= keys(v, prefix + k + ".")
        return out

    assert keys(LABELS["en"]) == keys(LABELS["id"])
    assert set(LABELS["en"]["sections"]) == set(SECTIONS)


# -- rendering -------------------------------------------------------------------------

ID_TERMS = (
    "Kebijakan Rilis",
    "Ruang Lingkup",
    "Fungsionalitas",
    "Masalah yang Diselesaikan",
    "Fitur yang Diuji",
    "Lingkungan Pengujian",
    "Kriteria Keberhasilan",
    "Sumber Daya",
    "Jadwal",
    "Kontak Dukungan",
    "Kebutuhan Perangkat Keras",
    "Langkah Instalasi dan Konfigurasi",
)


@pytest.mark.parametrize("lang", ["en", "id"])
def test_markdown_has_every_section(history: History, lang: str) -> None:
    text = render_report(report_of(history), "md", lang)
    for i, name in enumerate(SECTIONS, 1):
        assert f"\n## {i} {LABELS[lang]['sections'][name]}\n" in text
    assert "| WEB-120 | " in text and "login broken" in text and "> Went well: staged rollout." in text
    assert "relkit deploy releases/2.0.0.yml --env production" in text


def test_indonesian_uses_the_seeds_terms(history: History) -> None:
    text = render_report(report_of(history), "md", "id")
    assert text.startswith("# Laporan Rilis dan Deployment: webapp 2.0.0")
    for term in ID_TERMS:
        assert term in text
    assert "beralih ke 2.0.0 (dari 1.0.0, deployment)" in text
    assert "Release Policy" not in text


def test_markdown_escapes_table_cells() -> None:
    assert md_cell("a | b\nc") == "a \\| b c"
    assert md_cell("<script>") == "&lt;script>"
    assert md_cell(None) == "—"


def test_html_escapes_and_is_self_contained(history: History) -> None:
    m = manifest(changes=[{"id": "WEB-9", "type": "fix", "title": "<script>alert(1)</script> & more"}])
    text = render_report(report_of(history, m), "html", "en")
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in text
    assert "<script" not in text and "<link" not in text and "src=" not in text and "@import" not in text
    assert "@media print" in text and "@page" in text
    tags = _Tags()
    tags.feed(text)
    assert tags.unclosed == [] and tags.stray == []


class _Tags(HTMLParser):
    """Checks that tags nest properly (void elements aside)."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.unclosed: list[str] = []
        self.stray: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in self.VOID:
            self.unclosed.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.unclosed and self.unclosed[-1] == tag:
            self.unclosed.pop()
        else:
            self.stray.append(tag)


def test_project_can_override_the_report_template(history: History, tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "report.md.j2").write_text("{{ L.title }} — {{ r.version }}\n")
    assert render_report(report_of(history), "md", "id", tmp_path) == "Laporan Rilis dan Deployment — 2.0.0\n"


# -- the command -----------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, history: History) -> Path:
    """A project dir whose ledger is a copy of ``history`` (RELKIT_STATE_DIR = tmp_path/state)."""
    shutil.copytree(history.ledger.path.parent, tmp_path / "state")
    root = tmp_path / "p"
    (root / "releases").mkdir(parents=True)
    (root / "relkit.yml").write_text(yaml.safe_dump(config().model_dump(mode="json", exclude_none=True)))
    data = manifest().model_dump(mode="json", exclude_none=True)
    (root / "releases" / "2.0.0.yml").write_text(yaml.safe_dump(data))
    return root


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_report_command_writes_md_and_html(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest_path = project / "releases" / "2.0.0.yml"
    code, out, err = run_cli(capsys, "-C", project, "report", manifest_path, "-o", tmp_path / "r.md")
    assert code == 0, err
    assert out.startswith(f"wrote {tmp_path / 'r.md'} (md, en): webapp 2.0.0, ")
    assert (tmp_path / "r.md").read_text().startswith("# Release and Deployment Report: webapp 2.0.0")
    code, out, _ = run_cli(
        capsys, "-C", project, "report", manifest_path, "--lang", "id", "-o", tmp_path / "r.html"
    )
    assert code == 0 and "(html, id)" in out
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    code, out, _ = run_cli(capsys, "-C", project, "report", manifest_path, "--format", "md")
    assert code == 0 and out.startswith("# Release and Deployment Report")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pdf"], "--format: expected one of md, html, got 'pdf'"),
        (["--lang", "fr"], "--lang: expected one of en, id, got 'fr'"),
        (["-o", "/nonexistent-dir/r.md"], "-o/--out: directory /nonexistent-dir does not exist"),
    ],
)
def test_report_command_bad_input(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run_cli(capsys, "-C", project, "report", project / "releases" / "2.0.0.yml", *args)
    assert code == 2 and message in err


def test_report_of_a_missing_manifest_is_bad_input(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "-C", project, "report", project / "releases" / "9.9.9.yml")
    assert code == 2 and "release manifest not found" in err


def test_report_says_when_the_chain_is_broken(history: History) -> None:
    entries = list(history.ledger.entries())
    broken = ChainCheck(False, 4, 5, "content was changed after it was written")
    report = build_report(manifest(), config(), entries, manifest_ref="m", generated_at=NOW, chain=broken)
    text = render_report(report, "md", "en")
    assert "HASH CHAIN BROKEN at row 5: content was changed after it was written" in text


# -- in a real browser -----------------------------------------------------------------


def test_html_report_in_headless_chromium(history: History, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: apt-get install chromium (CI installs it in .ci/run)")
    report = report_of(history)
    page = tmp_path / "report.html"
    page.write_text(render_report(report, "html", "id"))
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    headings = re.findall(r'<h2 id="s-([a-z_]+)"><span class="num">(\d+)</span> ([^<]+)</h2>', dom)
    assert [(name, int(n)) for name, n, _ in headings] == [(s, i) for i, s in enumerate(SECTIONS, 1)]
    assert [title for _, _, title in headings][:12] == list(ID_TERMS)
    rows = re.findall(r'<tr class="event" data-kind="([a-z.]+)" data-seq="(\d+)">(.*?)</tr>', dom)
    assert [int(seq) for _, seq, _ in rows] == [r.seq for r in report.timeline]
    assert any("rollback diputuskan oleh dewi: login broken" in cells for _, _, cells in rows)
    assert any("beralih ke 1.0.0 (dari 2.0.0, rollback)" in cells for _, _, cells in rows)


def test_a_closed_release_says_so_in_both_formats(history: History) -> None:
    report = report_of(history)
    assert report.closed is not None and report.closed["by"] == "dewi"
    for fmt in ("md", "html"):
        text = render_report(report, fmt, "en")
        assert "closed on " in text and " by dewi" in text
    assert "ditutup pada" in render_report(report, "md", "id")
    open_report = build_report(manifest(), config(), [], manifest_ref="m.yml", generated_at=NOW)
    assert open_report.closed is None
    assert "open (not closed yet" in render_report(open_report, "md", "en")
