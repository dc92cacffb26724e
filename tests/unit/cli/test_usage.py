"""Usage lines and help in plain words: ``relkit deploy [OPTIONS] MANIFEST``, ``--env ENV``.

typer's own rendering shows ``{manifest}``, ``--env <str>`` and ``<list[str]>``; every command
and group of relkit must read naturally instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer

from relkit.cli.app import app
from relkit.store.sqlite import Ledger
from tests.support.clirunner import Cli, make_cli


def _commands() -> list[list[str]]:
    """Every command path of the app, groups included (``[]`` is ``relkit`` itself)."""
    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


COMMAND_PATHS = _commands()
TYPER_WORDS = re.compile(r"<(?:str|path|int|float|bool|datetime|list\[[^\]]*\]|[a-z_]+)>|\{[a-z_]+\}")
USAGE = re.compile(
    r"Usage: relkit(?: [a-z-]+)* \[OPTIONS\](?: [A-Z_]+(?:\.\.\.)?| \[[A-Z_]+\]| COMMAND \[ARGS\]\.\.\.)*"
)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


def test_every_command_is_walked() -> None:
    names = {" ".join(p) for p in COMMAND_PATHS}
    assert {"", "deploy", "validate", "rollback", "ledger show", "signers update"} <= names


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "relkit")
def test_help_reads_naturally(cli: Cli, path: list[str]) -> None:
    result = cli(*path, "--help")
    assert result.code == 0, result.err
    usage = result.out.splitlines()[0]
    assert USAGE.fullmatch(usage), usage
    # the argument and option lines (after "Arguments:" / "Options:"): no typer type words
    listing = result.out.split("\nArguments:", 1)[-1] if "\nArguments:" in result.out else ""
    listing += result.out.split("\nOptions:", 1)[-1]
    assert not TYPER_WORDS.search(listing), TYPER_WORDS.findall(listing)


def test_arguments_and_option_values_are_named(cli: Cli) -> None:
    deploy = cli("deploy", "--help").out
    assert deploy.startswith("Usage: relkit deploy [OPTIONS] MANIFEST\n")
    assert re.search(r"^  MANIFEST +release manifest", deploy, re.MULTILINE)
    assert "-e, --env ENV" in deploy and "-k, --key KEY" in deploy
    rollback = cli("rollback", "--help").out
    for words in ("--by NAME", "--reason TEXT", "--to VERSION"):
        assert words in rollback
    top = cli("--help").out
    assert "-C, --project PATH" in top and "-o, --output FORMAT" in top and "--as NAME" in top


def test_a_missing_argument_is_named_as_in_the_usage(cli: Cli) -> None:
    result = cli("deploy")  # (validate's MANIFEST is optional: without one it checks relkit.yml)
    assert result.code == 2
    assert "Missing argument 'MANIFEST'" in result.err
    assert "Usage: relkit deploy [OPTIONS] MANIFEST" in result.err


# -- rollback: its required options, named all at once -----------------------------------


def test_rollback_help_marks_env_by_and_reason_required(cli: Cli) -> None:
    options = " ".join(cli("rollback", "--help").out.split("\nOptions:", 1)[1].split())
    assert "-e, --env ENV environment from relkit.yml [required]" in options
    assert "--by NAME who decided the rollback [required; signed with --key: default you]" in options
    assert "--reason TEXT why the release is rolled back [required]" in options


def test_rollback_names_every_missing_option_at_once(
    cli: Cli, example_project: Path, state_dir: Path
) -> None:
    result = cli("-C", example_project, "rollback")
    assert result.code == 2, result.err
    assert "rollback: 3 problems with the arguments; nothing was changed" in result.err
    assert "  - --env: name the environment to roll back (known: production, staging)" in result.err
    assert "  - --reason: say why the release is rolled back" in result.err
    assert "  - --by: name the person who decided the rollback (or sign it: --key)" in result.err
    assert not (state_dir / "ledger.db").exists() or list(Ledger(state_dir / "ledger.db").entries()) == []


def test_rollback_of_a_signed_environment_names_the_key_with_the_rest(
    cli: Cli, example_project: Path
) -> None:
    result = cli("-C", example_project, "-o", "json", "rollback", "--env", "production")
    assert result.code == 2, result.err
    problems = result.doc["error"]["problems"]
    assert [p.split(":")[0] for p in problems] == ["--reason", "--key"]
    assert "a rollback of production must be signed" in problems[1]


def test_a_list_option_reads_naturally_too() -> None:
    # no relkit command takes a list today; one that does must not show typer's <list[str]>
    from typer.testing import CliRunner

    from relkit.cli.options import Command

    demo = typer.Typer(add_completion=False, rich_markup_mode=None)

    @demo.command(cls=Command)
    def tag(manifest: Path, label: Annotated[list[str] | None, typer.Option("--label")] = None) -> None:
        """Tag a release."""

    shown = CliRunner().invoke(demo, ["--help"]).output
    assert shown.startswith("Usage: tag [OPTIONS] MANIFEST\n"), shown
    assert "--label LABEL" in shown and "list[" not in shown
