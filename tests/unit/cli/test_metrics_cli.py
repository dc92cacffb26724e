"""``relkit metrics``: its refusals (exit 2 naming the option and what it expects), an empty
ledger, and its help. The figures from real runs: tests/usecases/test_metrics_runs.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.clirunner import Cli, make_cli
from tests.support.fixtures import EXAMPLE_PROJECT


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


@pytest.mark.parametrize("since", ["1x", "90", "0d", "2026-02-30", "3000-01-01"])
def test_a_bad_since_is_refused_naming_the_option_and_the_form(cli: Cli, since: str) -> None:
    result = cli("-C", EXAMPLE_PROJECT, "metrics", "--since", since)
    assert result.code == 2, result.out
    message = " ".join(result.err.split())
    assert "--since: expected Nd, Nh or an ISO date (e.g. 90d, 12h, 2026-09-01)" in message
    assert repr(since) in message
    assert result.out == ""


def test_an_unknown_environment_and_a_prom_file_in_no_directory_are_refused(cli: Cli, tmp_path: Path) -> None:
    unknown = cli("-C", EXAMPLE_PROJECT, "metrics", "--env", "prod")
    assert unknown.code == 2
    assert "--env: unknown environment 'prod' (known: production, staging)" in unknown.err
    nowhere = tmp_path / "missing" / "relkit.prom"
    refused = cli("-C", EXAMPLE_PROJECT, "metrics", "--prom-file", nowhere)
    assert refused.code == 2
    assert f"--prom-file: directory {nowhere.parent} does not exist" in " ".join(refused.err.split())
    directory = cli("-C", EXAMPLE_PROJECT, "metrics", "--prom-file", tmp_path)
    assert directory.code == 2
    assert "is a directory; expected a file path" in " ".join(directory.err.split())


def test_an_empty_ledger_has_no_figures_but_says_so(cli: Cli, tmp_path: Path) -> None:
    shown = cli("-C", EXAMPLE_PROJECT, "-o", "json", "metrics", "--since", "2026-01-01")
    assert shown.code == 0, shown.err
    payload = shown.payload
    assert payload["since"] == "2026-01-01T00:00:00+00:00"
    assert [e["env"] for e in payload["environments"]] == ["production", "staging"]
    for env in payload["environments"]:
        assert (env["deploys"], env["deployment_frequency_per_day"]) == (0, 0.0)
        assert env["change_failure_rate"] is None
        assert env["lead_time"]["median_seconds"] is None
        assert env["time_to_restore"]["median_seconds"] is None
    assert payload["prom_file"] is None
    table = cli("-C", EXAMPLE_PROJECT, "metrics", "--env", "staging")
    assert table.code == 0, table.err
    [row] = [line.split() for line in table.out.splitlines() if line.startswith("staging")]
    assert row == ["staging", "0", "ok", "of", "0", "0", "-", "-", "-"]


def test_the_help_names_the_options_and_shows_an_example(cli: Cli) -> None:
    result = cli("metrics", "--help")
    assert result.code == 0
    text = " ".join(result.out.split())
    for words in ("--env", "--since", "--prom-file", "Nd, Nh or an ISO date", "docs/metrics.md"):
        assert words in text
    assert "Example: relkit metrics --env production --since 30d --prom-file" in text
