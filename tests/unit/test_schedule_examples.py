"""The scheduling samples in examples/schedule/ stay runnable: their relkit command lines parse
and run (against the embedded example project, where nothing is deployed yet, so they skip)."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from relkit.cli import main
from tests.support.fixtures import EXAMPLES

SCHEDULE = EXAMPLES / "schedule"


def _relkit_args(command: str, prom: Path) -> list[str]:
    """The arguments after the relkit binary, with the metrics file moved into the test's tmp dir."""
    argv = shlex.split(command)
    args = argv[next(i for i, a in enumerate(argv) if a.endswith("/relkit")) + 1 :]
    args[args.index("--prom-file") + 1] = str(prom)
    return args


def _run(example_project: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["-C", str(example_project), *args])
    return code, capsys.readouterr().out


def test_cron_line(example_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [line for line in (SCHEDULE / "relkit-health.cron").read_text().splitlines() if line.strip()]
    jobs = [line for line in lines if not line.startswith("#") and "=" not in line.split()[0]]
    assert len(jobs) == 1
    fields = jobs[0].split(None, 6)
    assert fields[:5] == ["*/5", "*", "*", "*", "*"] and fields[5] == "ops", "cron.d: schedule, user, command"
    args = _relkit_args(fields[6], tmp_path / "relkit.prom")
    assert args[:3] == ["health", "--env", "production"]
    code, out = _run(example_project, args, capsys)
    assert code == 0 and "nothing switched in on production yet" in out


def test_systemd_units(example_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service = configparser.ConfigParser(interpolation=None, strict=False)
    service.optionxform = str  # type: ignore[assignment,method-assign]
    service.read(SCHEDULE / "relkit-health@.service")
    assert service["Service"]["Type"] == "oneshot", "a oneshot unit never overlaps itself"
    command = service["Service"]["ExecStart"].replace("%i", "staging")
    args = _relkit_args(command, tmp_path / "relkit.prom")
    assert args[:3] == ["health", "--env", "staging"]
    code, out = _run(example_project, args, capsys)
    assert code == 0 and "nothing switched in on staging yet" in out
    timer = configparser.ConfigParser(interpolation=None)
    timer.read(SCHEDULE / "relkit-health@.timer")
    assert timer["Timer"]["OnCalendar"] == "*:0/5"
    assert timer["Install"]["WantedBy"] == "timers.target"
