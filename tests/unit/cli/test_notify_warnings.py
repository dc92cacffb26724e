"""``relkit notify --kind announcement`` warns when the window it announces is over, under way, or
opens sooner than the notice policy asks: on stderr, and under ``warnings`` with --output json."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.clirunner import Cli, make_cli


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


def _manifest(project: Path, start: datetime, hours: float = 1.5) -> Path:
    """The example's 1.0.0 manifest with its window moved to ``start`` (UTC) for ``hours``."""
    source = project / "releases" / "1.0.0.yml"
    text = source.read_text()
    end = start + timedelta(hours=hours)
    text = re.sub(r"window_start: \S+", f"window_start: {start:%Y-%m-%dT%H:%M:%S}", text)
    text = re.sub(r"window_end: \S+", f"window_end: {end:%Y-%m-%dT%H:%M:%S}", text)
    text = text.replace("timezone: Asia/Jakarta", "timezone: UTC")
    path = project / "releases" / "moved.yml"
    path.write_text(text)
    return path


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def test_announcing_a_past_window_warns(cli: Cli, example_project: Path) -> None:
    manifest = _manifest(example_project, _now() - timedelta(days=3))
    result = cli("-C", example_project, "notify", manifest, "--kind", "announcement")
    assert result.code == 0, result.err
    assert "warning: the release window " in result.err
    assert "(UTC) is over (it ended 2 d 22 h ago)" in " ".join(result.err.split())
    assert "announce that" in result.err
    assert "warning" not in result.out
    assert "recorded" in result.out  # sent (recorded) all the same


def test_announcing_a_past_window_warns_in_json(cli: Cli, example_project: Path) -> None:
    manifest = _manifest(example_project, _now() - timedelta(days=3))
    result = cli("-C", example_project, "-o", "json", "notify", manifest)
    assert result.code == 0, result.err
    payload = result.payload
    [warning] = payload["warnings"]
    assert "is over" in warning and "in the past" in warning
    assert "warning: " + warning.split(" (it ended")[0] in " ".join(result.err.split())


def test_announcing_an_open_window_warns(cli: Cli, example_project: Path) -> None:
    manifest = _manifest(example_project, _now() - timedelta(minutes=30), hours=3)
    payload = cli("-C", example_project, "-o", "json", "notify", manifest).payload
    [warning] = payload["warnings"]
    assert "is already open" in warning and "notice_sent" in warning


def test_announcing_less_than_the_lead_time_ahead_warns(cli: Cli, example_project: Path) -> None:
    manifest = _manifest(example_project, _now() + timedelta(hours=5))
    payload = cli("-C", example_project, "-o", "json", "notify", manifest).payload
    [warning] = payload["warnings"]
    assert "opens in 4 h " in warning
    assert "less than the 24 h notice policy.notice_lead_hours asks" in warning


def test_announcing_in_good_time_has_no_warning(cli: Cli, example_project: Path) -> None:
    manifest = _manifest(example_project, _now() + timedelta(days=3))
    result = cli("-C", example_project, "-o", "json", "notify", manifest)
    assert result.code == 0, result.err
    assert result.payload["warnings"] == []
    assert "warning" not in result.err
