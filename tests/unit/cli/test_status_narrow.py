"""``relkit status`` at 80 columns: every time readable (``2026-12-02 10:15Z``, wrapped at its space
when it must be), nothing cut to ``2026-12-02T…``, no line wider than the terminal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relkit.store.sqlite import Ledger
from tests.support.clirunner import Cli, make_cli

SWITCHES = [
    ("production", "prod1", "2.0.0", "deploy"),
    ("production", "prod2", "2.0.0", "deploy"),
    ("staging", "stage1", "2.0.0", "rollback"),
]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


@pytest.fixture
def ledger(state_dir: Path) -> Ledger:
    """A ledger with three hosts switched in and production's release closed."""
    book = Ledger(state_dir / "ledger.db")
    for env, host, version, action in SWITCHES:
        data = {
            "version": version,
            "sha256": "ab" * 32,
            "previous": "1.0.0",
            "action": action,
            "by": "ops-demo",
        }
        book.append("host.switched", run_id="r1", env=env, host=host, data=data)
    book.append("release.closed", run_id="r2", env="production", data={"version": "2.0.0"})
    return book


def _minute(ts: str) -> tuple[str, str]:
    return ts[:10], f"{ts[11:16]}Z"


@pytest.mark.parametrize("width", [80, 100])
def test_status_is_readable_at_80_columns(
    cli: Cli, example_project: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    result = cli("-C", example_project, "status")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width, result.out
    assert "…" not in result.out and not re.search(r"\d{4}-\d\d-\d\dT", result.out), result.out
    times = [e.ts for e in ledger.entries() if e.kind in ("host.switched", "release.closed")]
    for ts in times:
        day, minute = _minute(ts)
        assert day in result.out and minute in result.out
    for env, host, version, action in SWITCHES:
        row = next(line for line in lines if f" {host} " in line)
        assert row.split()[:3] == [env, host, version] and action in row
    assert result.out.count("closed") == 2 and result.out.count("open") == 1


def test_status_keeps_a_row_on_one_line_when_wide(
    cli: Cli, example_project: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    result = cli("-C", example_project, "status")
    since = next(e.ts for e in ledger.entries() if e.host == "prod1")
    closed = next(e.ts for e in ledger.entries() if e.kind == "release.closed")
    row = next(line for line in result.out.splitlines() if " prod1 " in line)
    assert " ".join(_minute(since)) in row
    assert "closed " + " ".join(_minute(closed)) in row
