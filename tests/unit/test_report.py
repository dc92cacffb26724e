"""The release report: the pure model (relkit.report), its rendering and ``relkit report``.

The ledger history used here is written to a real hash-chained Ledger in tmp_path through the
store API, shaped like what deploys, rollbacks, approvals, health runs and notifications
record (tests/usecases/test_report_runs.py builds one from real runs). The report's table of
contents is seed 003's (the release report of the procedure relkit automates): its numbers
and titles are transcribed below as literal data.
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
from relkit.report import SECTIONS, HostFacts, Report, Row, build_report, describe, release_entries
from relkit.report_labels import LABELS
from relkit.report_render import md_cell, render_report
from relkit.store.sqlite import Ledger
from tests.support.clirunner import payload
from tests.support.factories import config_data, manifest_data

SHA_1, SHA_2, SHA_3 = "1" * 64, "2" * 64, "3" * 64
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

SEED_TOC_ID = [
    ("1", "Kebijakan Manajemen Rilis dan Deployment"),
    ("1.1", "Pendahuluan"),
    ("1.2", "Kebijakan"),
    ("2", "Proses Manajemen Rilis dan Deployment"),
    ("2.1", "Pendahuluan"),
    ("2.2", "Proses Rilis"),
    ("2.2.1", "Diagram Work Instruction Proses Rilis"),
    ("2.2.2", "Work Instruction"),
    ("3", "Dokumentasi Rilis"),
    ("3.1", "Ruang Lingkup"),
    ("3.2", "Fungsionalitas"),
    ("3.3", "Permasalahan yang Diselesaikan"),
    ("4", "Dokumentasi Pengujian Rilis"),
    ("4.1", "Prosedur dan Daftar Fitur yang Diuji"),
    ("4.2", "Lingkungan Pengujian"),
    ("4.3", "Prasyarat Pengujian"),
    ("5", "Implementasi Rilis"),
    ("5.1", "Sumber Daya yang Terlibat"),
    ("5.2", "Jadwal Implementasi"),
    ("5.3", "Dukungan Implementasi"),
    ("6", "Panduan Teknis Implementasi"),
    ("6.1", "Kebutuhan Perangkat"),
    ("6.2", "Prosedur Instalasi"),
    ("6.3", "Prosedur Konfigurasi"),
    ("6.3.1", "Setting IP Server"),
    ("6.3.2", "Input Data Pegawai"),
]
"""Seed 003's table of contents ("DAFTAR ISI"), numbers and titles as the seed writes them."""

SEED_TOC_EN = [
    ("1", "Release and Deployment Management Policy"),
    ("1.1", "Introduction"),
    ("1.2", "Policy"),
    ("2", "Release and Deployment Management Process"),
    ("2.1", "Introduction"),
    ("2.2", "Release Process"),
    ("2.2.1", "Release Process Work Instruction Diagram"),
    ("2.2.2", "Work Instruction"),
    ("3", "Release Documentation"),
    ("3.1", "Scope"),
    ("3.2", "Functionality"),
    ("3.3", "Problems Solved"),
    ("4", "Release Test Documentation"),
    ("4.1", "Test Procedure and Features Tested"),
    ("4.2", "Test Environment"),
    ("4.3", "Test Prerequisites"),
    ("5", "Release Implementation"),
    ("5.1", "Resources Involved"),
    ("5.2", "Implementation Schedule"),
    ("5.3", "Implementation Support"),
    ("6", "Technical Implementation Guide"),
    ("6.1", "Hardware Requirements"),
    ("6.2", "Installation Procedure"),
    ("6.3", "Configuration Procedure"),
    ("6.3.1", "Server IP Settings"),
    ("6.3.2", "Employee Data Input"),
]
"""The English report mirrors it: the same numbers, the titles in English."""

APPENDICES = {
    "en": [
        "Appendix A Approvals",
        "Appendix B Gates and Overrides",
        "Appendix C Deployments per Environment and Host",
        "Appendix D Smoke and Health Results",
        "Appendix E Rollbacks",
        "Appendix F Notifications",
        "Appendix G Retrospective",
        "Appendix H Ledger",
    ],
    "id": [
        "Lampiran A Persetujuan",
        "Lampiran B Gerbang Prosedur dan Pengecualian",
        "Lampiran C Deployment per Lingkungan dan Host",
        "Lampiran D Hasil Smoke Test dan Pemeriksaan Kesehatan",
        "Lampiran E Rollback",
        "Lampiran F Notifikasi",
        "Lampiran G Retrospektif",
        "Lampiran H Ledger",
    ],
}
OUTCOME = {"en": "Outcome", "id": "Ringkasan Hasil Rilis"}
SEED_TOC = {"en": SEED_TOC_EN, "id": SEED_TOC_ID}


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

    def prepare(self, run: str, env: str, version: str, hosts: list[str]) -> None:
        self.add(
            "run.started", run, env, action="prepare", by="ops-demo", pid=1, controller="c", version=version
        )
        self.add(
            "prepare.result", run, env, passed=True, version=version, shortfalls={}, requirements_digest="d"
        )
        self.add("run.finished", run, env, action="prepare", status="successful", rc=0)

    def rollback(
        self, run: str, env: str, moves: dict[str, tuple[str, str]], ok: bool = True, **decision: Any
    ) -> None:
        """A manual rollback run: ``moves`` host → (to version, from version); hosts not listed failed."""
        by, reason = decision.get("by", "dewi"), decision.get("reason", "login broken")
        self.add(
            "run.started", run, env, action="rollback", by=by, pid=1, controller="c", to=None, reason=reason
        )
        self.add(
            "rollback.requested", run, env, by=by, reason=reason, to=None, automatic=False, code_only=False
        )
        for host, (version, previous) in moves.items():
            sha = {"1.0.0": SHA_1, "2.0.0": SHA_2, "3.0.0": SHA_3}[version]
            self.add(
                "host.switched",
                run,
                env,
                host,
                version=version,
                sha256=sha,
                previous=previous,
                action="rollback",
                by=by,
            )
        for host in decision.get("failed", []):
            self.add(
                "task.result",
                run,
                env,
                host,
                task="Switch back",
                action="relkit_release",
                status="failed",
                msg="cannot restore snapshot",
            )
        self.add(
            "run.finished",
            run,
            env,
            action="rollback",
            status="successful" if ok else "failed",
            rc=0 if ok else 2,
        )

    def health(self, run: str, env: str, status: str, versions: dict[str, str]) -> None:
        self.add("run.started", run, env, action="health", by="cron", pid=1, controller="c")
        self.add("health.result", run, env, status=status, by="cron", versions=versions, hosts={})
        self.add("run.finished", run, env, action="health", status=status, rc=0)


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
    h.prepare("r2p", "production", "2.0.0", ["prod1", "prod2"])  # days before the window
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
    # health runs on production while 2.0.0 is live: one ok, one critical
    h.health("r6", "production", "ok", {"prod1": "2.0.0", "prod2": "2.0.0"})
    h.health("r7", "production", "critical", {"prod1": "2.0.0", "prod2": "2.0.0"})
    # manual rollback of production away from 2.0.0: the first attempt fails on both hosts
    # (relkit exits 5) and moves nothing; the retry moves both
    h.rollback("r4a", "production", {}, ok=False, failed=["prod1", "prod2"])
    h.rollback("r4", "production", {"prod1": ("1.0.0", "2.0.0"), "prod2": ("1.0.0", "2.0.0")})
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
    h.add(
        "smoke.result", "r5", "staging", version=None, sha256=None, passed=True, hosts=["stage1"], failed=[]
    )
    h.add("run.finished", "r5", "staging", action="deploy", status="rolled_back", rc=2)
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


def report_of(
    history: History,
    m: Manifest | None = None,
    now: datetime = NOW,
    hosts: dict[str, HostFacts] | None = None,
) -> Report:
    entries = list(history.ledger.entries())
    return build_report(
        m or manifest(),
        config(),
        entries,
        manifest_ref="releases/2.0.0.yml",
        generated_at=now,
        chain=history.ledger.verify(),
        hosts=hosts,
    )


def md_headings(text: str) -> list[tuple[int, str]]:
    """(level, text) of every Markdown heading, the title included."""
    return [(len(m[1]), m[2]) for m in re.finditer(r"^(#{1,6}) (.+)$", text, re.MULTILINE)]


# -- seed 003's table of contents ------------------------------------------------------


def test_sections_are_seed_003s_table_of_contents_then_appendices() -> None:
    numbered = [s.number for s in SECTIONS if s.number[:1].isdigit()]
    assert numbered == [n for n, _ in SEED_TOC_ID]
    assert SECTIONS[0].key == "outcome" and SECTIONS[0].number == ""
    assert [s.number for s in SECTIONS if s.appendix] == list("ABCDEFGH")
    assert [s.level for s in SECTIONS if s.number in ("1", "1.1", "2.2.1", "A")] == [1, 2, 3, 1]
    assert {s.key for s in SECTIONS if s.appendix} == {
        "approvals",
        "gates",
        "deployments",
        "checks",
        "rollbacks",
        "notifications",
        "retro",
        "ledger",
    }


@pytest.mark.parametrize("lang", ["id", "en"])
def test_markdown_sections_follow_the_seeds_table_of_contents(history: History, lang: str) -> None:
    text = render_report(report_of(history), "md", lang)
    headings = md_headings(text)
    title = LABELS[lang]["title"]
    assert headings[0] == (1, f"{title}: webapp 2.0.0")
    # the outcome comes first, before the contents and section 1
    assert headings[1] == (2, OUTCOME[lang])
    assert headings[2] == (2, LABELS[lang]["contents"])
    numbered = [(level, t) for level, t in headings if re.match(r"\d", t)]
    assert [t for _, t in numbered] == [f"{n} {title}" for n, title in SEED_TOC[lang]]
    # the heading depth follows the numbering: 1 → ##, 1.1 → ###, 2.2.1 → ####
    assert [level for level, _ in numbered] == [n.count(".") + 2 for n, _ in SEED_TOC[lang]]
    after = [t for _, t in headings[headings.index(numbered[-1]) + 1 :]]
    assert after == APPENDICES[lang]
    # the table of contents lists the same, indented by depth
    toc = text.split(f"## {LABELS[lang]['contents']}\n", 1)[1].split("\n## ", 1)[0]
    items = re.findall(r"^( *)- (.+)$", toc, re.MULTILINE)
    assert items[0] == ("", OUTCOME[lang])
    assert items[1 : len(SEED_TOC[lang]) + 1] == [
        ("  " * n.count("."), f"{n} {title}") for n, title in SEED_TOC[lang]
    ]
    assert [t for _, t in items[len(SEED_TOC[lang]) + 1 :]] == APPENDICES[lang]


def test_labels_have_the_same_keys_in_both_languages() -> None:
    def keys(d: dict[str, Any], prefix: str = "") -> set[str]:
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= keys(v, prefix + k + ".")
        return out

    assert keys(LABELS["en"]) == keys(LABELS["id"])
    assert set(LABELS["en"]["sections"]) == {s.key for s in SECTIONS}
    assert len(LABELS["en"]["policy_aims"]) == len(LABELS["id"]["policy_aims"])


# -- the outcome -----------------------------------------------------------------------


def test_the_outcome_comes_first_per_environment(history: History) -> None:
    outcome = report_of(history).outcome
    assert outcome.state == "closed" and outcome.closed is not None and outcome.closed["by"] == "dewi"
    envs = {o.env: o for o in outcome.envs}
    assert [o.env for o in outcome.envs] == ["staging", "production"]
    # production: rolled back to 1.0.0 by dewi
    assert envs["production"].status == "rolled_back"
    assert [(h.host, h.version, h.this) for h in envs["production"].hosts] == [
        ("prod1", "1.0.0", False),
        ("prod2", "1.0.0", False),
    ]
    # staging: live again, brought back by 3.0.0's automatic rollback
    assert envs["staging"].status == "live"
    assert [(h.host, h.version, h.this, h.action) for h in envs["staging"].hosts] == [
        ("stage1", "2.0.0", True, "rollback")
    ]
    [back] = outcome.restored
    assert (back.env, back.automatic, back.by, back.reason, back.moved, back.replaced, back.status) == (
        "staging",
        True,
        "ops-demo",
        "deploy failed on stage1",
        {"stage1": "2.0.0"},
        "3.0.0",
        "successful",
    )
    # both rollback runs away from it, the failed first attempt included
    assert [(b.run_id, b.status, b.by, b.reason, b.automatic, b.moved) for b in outcome.withdrawn] == [
        ("r4a", "rollback_failed", "dewi", "login broken", False, {}),
        ("r4", "successful", "dewi", "login broken", False, {"prod1": "1.0.0", "prod2": "1.0.0"}),
    ]
    assert [(r.run_id, r.status) for r in outcome.failures] == [
        ("r7", "critical"),
        ("r4a", "rollback_failed"),
    ]
    assert [c.run_id for c in outcome.critical] == ["r7"]


@pytest.mark.parametrize(
    ("lang", "lines"),
    [
        (
            "en",
            [
                "**Release status:** closed on ",
                "| production | ROLLED BACK (last switched in ",
                "| staging | live on every host (last switched in ",
                "- On production at ",
                ", manual rollback decided by dewi: login broken. Hosts switched: prod1 → 1.0.0, "
                "prod2 → 1.0.0. Run: successful.",
                ", manual rollback decided by dewi: login broken. Hosts switched: —. Run: ROLLBACK FAILED.",
                ", the automatic rollback of 3.0.0 (relkit's policy, run of ops-demo) brought it back: "
                "deploy failed on stage1. "
                "Hosts switched: stage1 → 2.0.0.",
                ": **ROLLBACK FAILED** (prod1: cannot restore snapshot; prod2: cannot restore snapshot)",
            ],
        ),
        (
            "id",
            [
                "**Status rilis:** ditutup pada ",
                "| production | DI-ROLLBACK (terakhir dipasang ",
                ", rollback manual diputuskan oleh dewi: login broken.",
                ", rollback otomatis dari 3.0.0 (kebijakan relkit, pelaksanaan ops-demo) mengembalikannya: "
                "deploy failed on stage1.",
                ": **ROLLBACK GAGAL**",
            ],
        ),
    ],
)
def test_the_outcome_is_the_first_section_of_the_markdown(
    history: History, lang: str, lines: list[str]
) -> None:
    text = render_report(report_of(history), "md", lang)
    first = text.split(f"## {OUTCOME[lang]}\n", 1)[1].split("\n## ", 1)[0]
    for line in lines:
        assert line in first, line


def test_an_open_release_says_so_first() -> None:
    open_report = build_report(manifest(), config(), [], manifest_ref="m.yml", generated_at=NOW)
    assert open_report.outcome.state == "open" and open_report.closed is None
    assert [o.status for o in open_report.outcome.envs] == ["not_deployed", "not_deployed"]
    text = render_report(open_report, "md", "en")
    first = text.split("## Outcome\n", 1)[1].split("\n## ", 1)[0]
    assert "**Release status:** open (not closed yet" in first
    assert "This release was never rolled back." in first


# -- which entries, which runs ---------------------------------------------------------


def test_each_release_gets_the_entries_that_concern_it(history: History) -> None:
    entries = list(history.ledger.entries())
    first = {e.run_id for e in release_entries(entries, "1.0.0", SHA_1)}
    second = {e.run_id for e in release_entries(entries, "2.0.0", SHA_2)}
    third = {e.run_id for e in release_entries(entries, "3.0.0", SHA_3)}
    # the rollback to 1.0.0 is a deployment of 1.0.0: it is in 1.0.0's report too
    assert first == {"r1", "r4"}
    # 2.0.0: its runs, the rollbacks away from it (the failed one too), its health runs and the
    # automatic rollback of 3.0.0 that brought it back
    assert second == {"", "r2", "r2p", "r3", "r3b", "r4a", "r4", "r5", "r6", "r7"}
    assert third == {"r5"}
    # of 3.0.0's run, 2.0.0's report takes what brought it back, not 3.0.0's own deploy
    brought_back = [e for e in release_entries(entries, "2.0.0", SHA_2) if e.run_id == "r5"]
    assert [e.kind for e in brought_back] == [
        "run.started",
        "rollback.started",
        "host.switched",
        "smoke.result",
        "run.finished",
    ]


def test_entries_of_other_releases_are_left_out(history: History) -> None:
    report = report_of(history)
    rows = report.timeline + report.deployments + report.checks + report.gates + report.notifications
    # of other releases: the switches back to 1.0.0 (away from 2.0.0) and the start of 3.0.0's
    # deploy whose automatic rollback brought 2.0.0 back (its own gates, switch, smoke: not here)
    assert {(r.run_id, r.kind) for r in rows if r.fields.get("sha256") == SHA_1} == {("r4", "host.switched")}
    assert [(r.run_id, r.kind) for r in rows if r.fields.get("sha256") == SHA_3] == [("r5", "run.started")]
    assert all(r.kind not in ("lock.broken", "task.result") for r in report.timeline)
    # a rollback to this release is a deployment of it
    assert [(d.env, d.host, d.fields["version"], d.fields["action"]) for d in report.deployments] == [
        ("staging", "stage1", "2.0.0", "deploy"),
        ("production", "prod1", "2.0.0", "deploy"),
        ("production", "prod2", "2.0.0", "deploy"),
        ("production", "prod1", "1.0.0", "rollback"),
        ("production", "prod2", "1.0.0", "rollback"),
        ("staging", "stage1", "2.0.0", "rollback"),
    ]


def test_a_rollback_to_a_release_shows_in_its_own_report(history: History) -> None:
    report = report_of(history, manifest("1.0.0", SHA_1))
    [back] = report.outcome.restored
    assert (back.env, back.by, back.reason, back.automatic, back.moved, back.replaced) == (
        "production",
        "dewi",
        "login broken",
        False,
        {"prod1": "1.0.0", "prod2": "1.0.0"},
        "2.0.0",
    )
    assert {o.env: o.status for o in report.outcome.envs} == {"staging": "replaced", "production": "live"}
    assert [(d.host, d.fields["action"]) for d in report.deployments if d.env == "production"] == [
        ("prod1", "rollback"),
        ("prod2", "rollback"),
    ]
    text = render_report(report, "md", "en")
    assert "This release was brought back by a rollback" in text.split("\n## Contents", 1)[0]


def test_every_run_that_concerns_the_release_failed_ones_included(history: History) -> None:
    report = report_of(history)
    assert [(r.run_id, r.action, r.version, r.env, r.status) for r in report.runs] == [
        ("r2", "deploy", "2.0.0", "staging", "successful"),
        ("r2p", "prepare", "2.0.0", "production", "successful"),
        ("r3b", "deploy", "2.0.0", "production", "blocked"),
        ("r3", "deploy", "2.0.0", "production", "successful"),
        ("r7", "health", "", "production", "critical"),  # the ok health run r6 is summed up
        ("r4a", "rollback", "", "production", "rollback_failed"),
        ("r4", "rollback", "", "production", "successful"),
        ("r5", "deploy", "3.0.0", "staging", "rolled_back"),
    ]
    failed = next(r for r in report.runs if r.run_id == "r4a")
    assert failed.problem == "prod1: cannot restore snapshot; prod2: cannot restore snapshot"
    blocked = next(r for r in report.runs if r.run_id == "r3b")
    assert blocked.problem == "window"
    assert not next(r for r in report.runs if r.run_id == "r5").this
    assert report.health["count"] == 2 and report.health["counts"] == {"ok": 1, "critical": 1}
    text = render_report(report, "md", "en")
    schedule = text.split("### 5.2 Implementation Schedule", 1)[1].split("### 5.3", 1)[0]
    assert "| rollback | — | production | dewi | " in schedule
    assert "ROLLBACK FAILED: prod1: cannot restore snapshot; prod2: cannot restore snapshot" in schedule
    assert "| BLOCKED: window |" in schedule


def test_only_deploys_under_a_window_gate_are_checked_against_the_window(history: History) -> None:
    """The window gate guards production's deploys: prepare before the window, staging's
    deploys and rollbacks are not flagged."""
    past = {"window_start": "2020-01-01T22:00:00", "window_end": "2020-01-01T23:00:00", "timezone": "UTC"}
    late = report_of(history, manifest(schedule=past))
    flagged = {(r.action, r.env): r.in_window for r in late.runs}
    assert flagged[("deploy", "production")] is False
    assert flagged[("prepare", "production")] is None
    assert flagged[("deploy", "staging")] is None
    assert flagged[("rollback", "production")] is None
    now = datetime.now(UTC)
    wide = {
        "window_start": (now - timedelta(days=365)).isoformat(),
        "window_end": (now + timedelta(days=365)).isoformat(),
        "timezone": "UTC",
    }
    inside = report_of(history, manifest(schedule=wide))
    assert {(r.action, r.env): r.in_window for r in inside.runs}[("deploy", "production")] is True


# -- facts from the manifest and relkit.yml --------------------------------------------


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
    assert [p["env"] for p in report.policy["envs"]] == ["staging", "production"]
    assert (
        "window" in report.policy["envs"][1]["deploy"] and "window" not in report.policy["envs"][0]["deploy"]
    )


def test_the_artifact_is_named_by_file_name_and_sha256(history: History) -> None:
    m = manifest(artifact={"path": "../../webapp/dist/webapp-2.0.0.tar.gz", "sha256": SHA_2})
    report = report_of(history, m)
    assert report.artifact == "webapp-2.0.0.tar.gz"
    for fmt in ("md", "html"):
        text = render_report(report, fmt, "en")
        assert "webapp-2.0.0.tar.gz" in text and SHA_2 in text
        assert "webapp/dist" not in text and "../" not in text
    by_url = manifest(
        artifact={"url": "https://dl.example.org/a/webapp-2.0.0.tar.gz?token=x", "sha256": SHA_2}
    )
    assert report_of(history, by_url).artifact == "webapp-2.0.0.tar.gz"


def test_no_black_box_claim_the_manifest_does_not_make(history: History) -> None:
    for lang in ("en", "id"):
        for fmt in ("md", "html"):
            text = render_report(report_of(history), fmt, lang).lower()
            assert "black box" not in text and "black-box" not in text and "kotak hitam" not in text


# -- success criteria ------------------------------------------------------------------


def test_a_critical_health_result_while_live_fails_the_monitoring_criterion(history: History) -> None:
    report = report_of(history)
    states = {c.key: c.state for c in report.criteria}
    assert states == {"tests": "met", "bugs": "met", "smoke": "met", "promote": "met", "monitor": "not_met"}
    monitor = report.criterion("monitor")
    assert monitor.note == "critical_at" and monitor.args["env"] == "production"
    text = render_report(report, "md", "en")
    assert re.search(
        r"\| No critical health failure during the monitoring window \(24 h after the switch\)\. "
        r"\| ✘ NOT MET \| CRITICAL health result on production at ",
        text,
    )
    empty = build_report(manifest(), config(), [], manifest_ref="m.yml", generated_at=NOW)
    assert {c.key: c.state for c in empty.criteria} == {
        "tests": "met",
        "bugs": "met",
        "smoke": "pending",
        "promote": "pending",
        "monitor": "pending",
    }


@pytest.fixture
def fresh(tmp_path: Path) -> History:
    """A ledger of its own: 2.0.0 passed staging and was deployed to production just now."""
    h = History(tmp_path / "ledger.db")
    h.deploy("s1", "staging", "2.0.0", SHA_2, ["stage1"])
    h.deploy("p1", "production", "2.0.0", SHA_2, ["prod1", "prod2"])
    return h


def monitor_of(h: History, now: datetime) -> tuple[str, str]:
    fact = report_of(h, now=now).criterion("monitor")
    return fact.state, fact.note


def test_monitoring_is_not_met_before_the_window_has_passed_with_health_runs(fresh: History) -> None:
    now = datetime.now(UTC)
    # inside the window, health green so far: not known yet
    fresh.health("h1", "production", "ok", {"prod1": "2.0.0", "prod2": "2.0.0"})
    assert monitor_of(fresh, now) == ("pending", "window_open")
    # 25 h later, the window (24 h) has passed with a health run in it and none critical: met
    assert monitor_of(fresh, now + timedelta(hours=25)) == ("met", "monitored")
    text = render_report(report_of(fresh, now=now + timedelta(hours=25)), "md", "en")
    assert "| ✔ met | 1 health run(s) on production during the 24 h window (ended " in text


def test_monitoring_without_health_runs_or_cut_short_is_not_met(fresh: History, tmp_path: Path) -> None:
    later = datetime.now(UTC) + timedelta(hours=25)
    assert monitor_of(fresh, later) == ("not_met", "no_health")
    fresh.health("h1", "production", "ok", {"prod1": "2.0.0", "prod2": "2.0.0"})
    fresh.rollback("b1", "production", {"prod1": ("1.0.0", "2.0.0"), "prod2": ("1.0.0", "2.0.0")})
    assert monitor_of(fresh, later) == ("not_met", "withdrawn_early")


def test_smoke_and_promotion_criteria_follow_the_record(tmp_path: Path) -> None:
    h = History(tmp_path / "ledger.db")
    h.deploy("p1", "production", "2.0.0", SHA_2, ["prod1"])  # before any smoke on staging (overridden)
    h.deploy("s1", "staging", "2.0.0", SHA_2, ["stage1"], ok=False)
    report = report_of(h)
    assert (
        report.criterion("smoke").state == "not_met" and report.criterion("smoke").note == "smoke_failed_at"
    )
    assert report.criterion("promote").state == "not_met"
    assert report.criterion("promote").args["host"] == "prod1"


# -- hosts and addresses ---------------------------------------------------------------


def templated_config() -> ProjectConfig:
    data = config_data()
    data["smoke"]["checks"] = [
        {"name": "health", "http": "http://{{ ansible_host }}:{{ app_port }}/health"},
        {"name": "port", "port": "{{ app_port }}", "host": "{{ ansible_host }}"},
    ]
    return validate_data(ProjectConfig, data, "relkit.yml")


HOSTS = {
    "staging": HostFacts(
        {
            "stage1": {
                "address": "10.0.10.11",
                "connection": "ssh",
                "deploy_path": "/srv/stage/webapp",
                "smoke.health": "http://10.0.10.11:8080/health",
                "smoke.port": "10.0.10.11:8080",
            }
        }
    ),
    "production": HostFacts(
        {
            "prod1": {
                "address": "10.0.20.11",
                "connection": "ssh",
                "deploy_path": "/srv/webapp",
                "smoke.health": None,  # app_port not set for this host
                "smoke.port": None,
            }
        }
    ),
}


def test_hosts_are_named_with_rendered_addresses_never_raw_templates(history: History) -> None:
    entries = list(history.ledger.entries())
    report = build_report(
        manifest(), templated_config(), entries, manifest_ref="m", generated_at=NOW, hosts=HOSTS
    )
    [staging, production] = report.hosts
    assert [(h.host, h.address, h.deploy_path, h.in_inventory) for h in staging.hosts] == [
        ("stage1", "10.0.10.11", "/srv/stage/webapp", True)
    ]
    assert [(c.name, c.target) for c in staging.hosts[0].smoke] == [
        ("health", "http://10.0.10.11:8080/health"),
        ("port", "10.0.10.11:8080"),
    ]
    # prod2 is in the ledger, not in the inventory any more
    assert [(h.host, h.in_inventory) for h in production.hosts] == [("prod1", True), ("prod2", False)]
    for lang in ("en", "id"):
        for fmt in ("md", "html"):
            text = render_report(report, fmt, lang)
            assert "{{" not in text and "ansible_host" not in text, (lang, fmt)
            assert "http://10.0.10.11:8080/health" in text and "10.0.20.11" in text
    md = render_report(report, "md", "en")
    test_env = md.split("### 4.2 Test Environment", 1)[1].split("### 4.3", 1)[0]
    assert "| staging | stage1 | `10.0.10.11` | ssh | `/srv/stage/webapp` |" in test_env
    assert "| stage1 | health | HTTP | `http://10.0.10.11:8080/health` | HTTP 200 |" in test_env
    addresses = md.split("#### 6.3.1 Server IP Settings", 1)[1].split("#### 6.3.2", 1)[0]
    assert (
        "| production | prod1 | `10.0.20.11` | ssh | `/srv/webapp` | _not known (host variable not set)_ |"
        in addresses
    )
    assert (
        "| production | prod2 (not in the inventory now) | _not known (host variable not set)_ |" in addresses
    )


def test_the_deploy_path_is_each_hosts_not_the_default(history: History) -> None:
    report = report_of(history, hosts=HOSTS)
    paths = {h.host: h.deploy_path for group in report.hosts for h in group.hosts}
    assert paths == {"stage1": "/srv/stage/webapp", "prod1": "/srv/webapp", "prod2": None}
    md = render_report(report, "md", "en")
    assert "/opt/webapp" not in md  # relkit.yml's default, overridden by the inventory


def test_unreadable_inventories_say_the_hosts_are_not_known(history: History) -> None:
    report = report_of(history, hosts={"staging": HostFacts({}, "no hosts in the inventory")})
    md = render_report(report, "md", "en")
    assert "| production | prod1 (not in the inventory now) |" in md
    assert "hosts not known: no hosts in the inventory" in md


# -- rendering -------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "id"])
def test_markdown_has_every_part(history: History, lang: str) -> None:
    text = render_report(report_of(history), "md", lang)
    assert "| WEB-120 | " in text and "login broken" in text and "> Went well: staged rollout." in text
    assert "relkit deploy releases/2.0.0.yml --env production" in text
    assert "| 2.2.1" not in text and text.count("\n| ") > 60


def test_indonesian_uses_the_seeds_terms(history: History) -> None:
    text = render_report(report_of(history), "md", "id")
    assert text.startswith("# Laporan Rilis dan Deployment: webapp 2.0.0")
    for step in ("Manajemen Perubahan", "Buat Rencana Rilis", "Review Pasca Rilis", "Manajemen Konfigurasi"):
        assert f"| {step} |" in text
    assert "beralih ke 2.0.0 (dari 1.0.0, deployment)" in text
    assert "Release Policy" not in text and "Outcome" not in text


def test_markdown_escapes_with_backslashes_not_html_entities() -> None:
    assert md_cell("a | b\nc") == "a \\| b c"
    assert md_cell("<script>") == "\\<script\\>"
    assert md_cell("a & b") == "a \\& b"
    assert md_cell(None) == "—"


def test_markdown_has_no_html_entities_and_user_text_stays_one_line(history: History) -> None:
    m = manifest(
        changes=[
            {"id": "WEB-9", "type": "fix", "title": "<script>alert(1)</script> & <b>x</b> &lt;"},
            {
                "id": "WEB-10",
                "type": "feature",
                "title": "line\n## Injected heading\n[x](javascript:alert(1))",
            },
        ],
        rollback_plan="relkit rollback\n# Injected\n<img src=x onerror=alert(1)>",
    )
    text = render_report(report_of(history, m), "md", "en")
    # the user's own "&lt;" is shown as typed (its & escaped): no entity of relkit's making
    assert not re.search(r"(?<!\\)&(lt|gt|amp|quot|#\d+);", text), "an HTML entity in Markdown"
    assert "\\<script\\>alert(1)\\</script\\> \\& \\<b\\>x\\</b\\> \\&lt;" in text
    assert "| WEB-10 | feature | line ## Injected heading \\[x\\](javascript:alert(1)) |" in text
    assert "Rollback plan: relkit rollback # Injected \\<img src=x onerror=alert(1)\\>" in text
    assert not [line for line in text.splitlines() if line.startswith(("# Injected", "## Injected"))]


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


def test_record_appendices(history: History) -> None:
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
    assert [(b.run_id, b.fields["moved"], b.fields["run_status"]) for b in report.rollbacks] == [
        ("r4a", {}, "rollback_failed"),
        ("r4", {"prod1": "1.0.0", "prod2": "1.0.0"}, "successful"),
        ("r5", {"stage1": "2.0.0"}, "successful"),
    ]
    assert [(n.fields["event"], n.fields["ok"]) for n in report.notifications] == [
        ("announcement", True),
        ("deploy.finished", True),
        ("deploy.finished", True),
        ("rollback", False),
    ]
    [closed] = report.retro
    assert closed.fields["retro"].startswith("Went well")
    assert report.ledger["chain_ok"] is True and report.ledger["total"] == len(list(history.ledger.entries()))


def test_project_can_override_the_report_template(history: History, tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "report.md.j2").write_text("{{ L.title }} — {{ r.version }}\n")
    assert render_report(report_of(history), "md", "id", tmp_path) == "Laporan Rilis dan Deployment — 2.0.0\n"


def test_report_says_when_the_chain_is_broken(history: History) -> None:
    entries = list(history.ledger.entries())
    broken = ChainCheck(False, 4, 5, "content was changed after it was written")
    report = build_report(manifest(), config(), entries, manifest_ref="m", generated_at=NOW, chain=broken)
    text = render_report(report, "md", "en")
    first = text.split("## Outcome\n", 1)[1].split("\n## ", 1)[0]
    assert "HASH CHAIN BROKEN at row 5: content was changed after it was written" in first


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


def test_report_command_takes_the_format_from_the_out_extension(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest_path = project / "releases" / "2.0.0.yml"
    code, out, err = run_cli(capsys, "-C", project, "report", manifest_path, "-o", tmp_path / "r.md")
    assert code == 0, err
    assert out.startswith(f"wrote {tmp_path / 'r.md'} (md, en): webapp 2.0.0, ")
    written = (tmp_path / "r.md").read_text()
    assert written.startswith("# Release and Deployment Report: webapp 2.0.0")
    assert str(project) not in written  # the manifest is named relative to the project
    code, out, _ = run_cli(
        capsys, "-C", project, "report", manifest_path, "--lang", "id", "--out", tmp_path / "r.html"
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
        (["-o", "r.pdf"], "--out: r.pdf: relkit writes Markdown (.md) or HTML (.html)"),
        (["--out", "report"], "--out: report: relkit writes Markdown (.md) or HTML (.html)"),
        (["-o", "json"], "for machine output write the global option before the command"),
        (["--format", "md", "-o", "r.html"], "--format md does not match --out r.html (html)"),
        (["--output", "r.html"], "--output: expected 'text' or 'json', got 'r.html' (to write the report"),
    ],
)
def test_report_command_bad_input(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "-C", project, "report", project / "releases" / "2.0.0.yml", *args)
    assert code == 2 and message in " ".join(err.split())
    assert not [p for p in tmp_path.iterdir() if p.is_file()]  # nothing written


def test_report_with_the_global_json_output(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest_path = project / "releases" / "2.0.0.yml"
    for args in (
        ["--output", "json", "report", manifest_path],
        ["report", manifest_path, "--output", "json"],
    ):
        code, out, err = run_cli(capsys, "-C", project, *args)
        assert code == 0, err
        doc = payload(out)  # the report's text in the one document: never bare Markdown
        assert (doc["version"], doc["format"], doc["path"]) == ("2.0.0", "md", None)
        assert doc["text"].startswith("# Release and Deployment Report: webapp 2.0.0")
    code, out, err = run_cli(
        capsys, "-C", project, "-o", "json", "report", manifest_path, "-o", tmp_path / "r.html"
    )
    assert code == 0, err
    assert payload(out) == {
        "version": "2.0.0",
        "format": "html",
        "lang": "en",
        "entries": payload(out)["entries"],
        "path": str(tmp_path / "r.html"),
        "text": None,
    }
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_report_of_a_missing_manifest_is_bad_input(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "-C", project, "report", project / "releases" / "9.9.9.yml")
    assert code == 2 and "release manifest not found" in err


# -- in a real browser -----------------------------------------------------------------

PWNED = "document.body.setAttribute('data-pwned', 'yes')"


def dump_dom(page: Path) -> str:
    """The DOM of ``page`` after Chromium loaded it and ran whatever scripts it has."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: apt-get install chromium (CI installs it in .ci/run)")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
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


def test_html_report_in_headless_chromium(history: History, tmp_path: Path) -> None:
    hostile = f'<script>{PWNED}</script><img src=x onerror="{PWNED}">'
    m = manifest(
        changes=[{"id": "WEB-9", "type": "fix", "title": hostile}],
        rollback_plan=hostile,
    )
    report = report_of(history, m)
    page = tmp_path / "report.html"
    page.write_text(render_report(report, "html", "id"))
    dom = dump_dom(page)
    headings = re.findall(
        r'<h([234]) id="s-([a-z_]+)">(?:<span class="num">([^<]+)</span> )?([^<]+)</h\1>', dom
    )
    numbered = [(num, title.strip()) for _, _, num, title in headings if num[:1].isdigit()]
    assert numbered == SEED_TOC_ID
    assert [int(level) for level, _, num, _ in headings if num[:1].isdigit()] == [
        n.count(".") + 2 for n, _ in SEED_TOC_ID
    ]
    assert headings[0][1:] == ("outcome", "", OUTCOME["id"])
    assert [f"{num} {title}" for _, _, num, title in headings if num.startswith("Lampiran")] == APPENDICES[
        "id"
    ]
    rows = re.findall(r'<tr class="event" data-kind="([a-z.]+)" data-seq="(\d+)">(.*?)</tr>', dom)
    assert [int(seq) for _, seq, _ in rows] == [r.seq for r in report.timeline]
    assert any("rollback diputuskan oleh dewi: login broken" in cells for _, _, cells in rows)
    # the hostile text is shown as text: no script of it ran, no element of it exists
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None and "data-pwned" not in body.group()
    assert "<img" not in dom and "&lt;script&gt;" in dom
    # ...and the browser does run scripts: the same page with a script of its own is changed
    control = tmp_path / "control.html"
    control.write_text(f"<!DOCTYPE html><html><body><p>x</p><script>{PWNED}</script></body></html>")
    assert 'data-pwned="yes"' in dump_dom(control)


def test_a_closed_release_says_so_in_both_formats(history: History) -> None:
    report = report_of(history)
    assert report.closed is not None and report.closed["by"] == "dewi"
    for fmt in ("md", "html"):
        text = render_report(report, fmt, "en")
        assert "closed on " in text and " by dewi" in text
    assert "ditutup pada" in render_report(report, "md", "id")
