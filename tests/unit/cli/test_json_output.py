"""``--output json`` in every outcome: exactly one document on stdout, the envelope of
relkit.cli.envelope, valid against the published schema (``relkit schema output``), its
``exit_code`` the process's. No play runs here: the outcomes reached without hosts (usage
errors, unexpected errors, blocked gates, a held lock, bad input, reads of the record); the
runs' own documents are checked in tests/usecases/test_json_output.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from relkit.project import Project
from relkit.store.sqlite import Ledger
from tests.support.clirunner import Cli, Result, make_cli
from tests.support.fixtures import PYTHON


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """The schema ``relkit schema output`` publishes, read through the command itself."""
    done = subprocess.run(
        [PYTHON, "-m", "relkit", "schema", "output"], capture_output=True, text=True, timeout=60, check=True
    )
    schema = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def manifest(example_project: Path) -> Path:
    return example_project / "releases" / "2.0.0.yml"


def envelope(
    result: Result, validator: jsonschema.Draft202012Validator, command: str | None
) -> dict[str, Any]:
    """The one document on stdout, checked against the schema, the exit code and the command."""
    doc = result.doc  # json.loads of the whole of stdout: exactly one document
    validator.validate(doc)
    assert doc["command"] == command
    return doc


# -- usage errors: before any option is parsed ------------------------------------------------

USAGE = [
    (["deploy", "releases/2.0.0.yml"], "deploy", "Missing option '--env'"),
    (["status", "--colour"], "status", "No such option: --colour"),
    (["health", "--env", "staging", "--wait", "abc"], "health", "Invalid value for '--wait'"),
    (["ledger", "show", "--last"], "ledger show", "Option '--last' requires an argument"),
    (["deploi"], None, "No such command 'deploi'"),
]


@pytest.mark.parametrize(("args", "command", "says"), USAGE, ids=[" ".join(a) for a, _, _ in USAGE])
@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_a_usage_error_is_one_json_document(
    cli: Cli,
    validator: jsonschema.Draft202012Validator,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    command: str | None,
    says: str,
    where: str,
) -> None:
    """JSON is asked before the command, after it, or by $RELKIT_OUTPUT: the usage error click
    raises before parsing any option still comes as the envelope (exit 2)."""
    if where == "env":
        monkeypatch.setenv("RELKIT_OUTPUT", "json")
    argv = {"before": ["--output", "json", *args], "after": [*args, "--output", "json"], "env": args}[where]
    result = cli(*argv)
    assert result.code == 2
    doc = envelope(result, validator, command)
    assert doc["error"]["kind"] == "UsageError" and says in doc["error"]["message"]
    assert doc["result"] is None
    assert says in result.err  # a person still reads it on stderr


def test_the_real_process_prints_one_document_for_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "relkit", "deploy", "releases/2.0.0.yml", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    doc = json.loads(done.stdout)
    assert (doc["exit_code"], doc["error"]["kind"]) == (2, "UsageError")


# -- unexpected errors ----------------------------------------------------------------------


def test_a_corrupt_ledger_is_one_json_document(
    cli: Cli, validator: jsonschema.Draft202012Validator, example_project: Path, state_dir: Path
) -> None:
    state_dir.mkdir()
    (state_dir / "ledger.db").write_bytes(b"this is not a database, it is " * 100)
    result = cli("-C", example_project, "status", "--output", "json")
    assert result.code == 1
    doc = envelope(result, validator, "status")
    assert doc["error"]["kind"] == "UnexpectedError" and "not a database" in doc["error"]["message"]
    assert doc["error"]["log"] and Path(doc["error"]["log"]).is_file()


def test_a_state_directory_that_is_a_file_is_one_json_document(
    cli: Cli,
    validator: jsonschema.Draft202012Validator,
    example_project: Path,
    state_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))  # where the debug log goes then
    state_dir.write_text("a file, not a directory\n")
    result = cli("-C", example_project, "-o", "json", "status")
    assert result.code == 1
    doc = envelope(result, validator, "status")
    assert doc["error"]["kind"] == "UnexpectedError" and "NotADirectoryError" in doc["error"]["message"]


# -- blocked, locked, bad input ---------------------------------------------------------------


def test_blocked_gates_carry_error_and_exit_code_as_a_blocked_deploy(
    cli: Cli, validator: jsonschema.Draft202012Validator, example_project: Path, manifest: Path
) -> None:
    gates = cli("-C", example_project, "-o", "json", "gates", manifest, "--env", "production")
    deploy = cli(
        "-C", example_project, "-o", "json", "deploy", manifest, "--env", "production", "--as", "ops"
    )
    assert (gates.code, deploy.code) == (3, 3)
    by_gates, by_deploy = envelope(gates, validator, "gates"), envelope(deploy, validator, "deploy")
    assert by_gates["error"]["kind"] == "GateBlocked"
    assert by_deploy["error"]["kind"] in ("GateBlocked", "Unsigned")  # production deploys are signed
    assert by_gates["result"] == by_gates["error"]["gates"], "gates: the report is the result"
    assert by_gates["result"]["passed"] is False
    blocked = [g["name"] for g in by_gates["result"]["gates"] if not g["passed"]]
    assert "promoted_from" in blocked and "promoted_from" in by_gates["error"]["message"]
    assert [p.split(":")[0] for p in by_gates["error"]["problems"]] == blocked


def test_gates_that_pass_put_the_same_report_under_result(
    cli: Cli, validator: jsonschema.Draft202012Validator, example_project: Path, manifest: Path
) -> None:
    result = cli("-C", example_project, "gates", manifest, "--env", "staging", "-o", "json")
    assert result.code == 0
    doc = envelope(result, validator, "gates")
    assert (doc["ok"], doc["error"], doc["result"]["passed"]) == (True, None, True)


def test_a_locked_environment_is_one_json_document(
    cli: Cli, validator: jsonschema.Draft202012Validator, example_project: Path, manifest: Path
) -> None:
    with Project.load(example_project) as project, project.ledger.hold("staging", "other-run", "deploy"):
        result = cli("-C", example_project, "-o", "json", "deploy", manifest, "--env", "staging")
    assert result.code == 6
    doc = envelope(result, validator, "deploy")
    assert doc["error"]["kind"] == "Locked" and "other-run" in doc["error"]["message"]


def test_bad_input_lists_its_problems(
    cli: Cli, validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("app: webapp\nversion: 1.0.0;reboot\n")
    result = cli("validate", bad, "--output", "json")
    assert result.code == 2
    doc = envelope(result, validator, "validate")
    assert doc["error"]["kind"] == "BadInput" and doc["error"]["problems"]
    assert not any(p in doc["error"]["message"] for p in doc["error"]["problems"]), "each problem once"


# -- ledger show --last ------------------------------------------------------------------------


def test_ledger_show_last_n_and_a_negative_n_is_bad_input(
    cli: Cli, validator: jsonschema.Draft202012Validator, example_project: Path, state_dir: Path
) -> None:
    ledger = Ledger(state_dir / "ledger.db")
    for n in range(8):
        ledger.append("note", env="staging", data={"n": n})
    ledger.close()
    last = cli("-C", example_project, "-o", "json", "ledger", "show", "--last", "3")
    assert [e["data"]["n"] for e in envelope(last, validator, "ledger show")["result"]["entries"]] == [
        5,
        6,
        7,
    ]
    every = cli("-C", example_project, "-o", "json", "ledger", "show", "--last", "0")
    assert len(every.payload["entries"]) == 8
    negative = cli("-C", example_project, "-o", "json", "ledger", "show", "--last", "-5")
    assert negative.code == 2
    message = envelope(negative, validator, "ledger show")["error"]["message"]
    assert message.startswith("--last: expected") and "0 or more" in message and "-5" in message
    assert "--last" in cli("-C", example_project, "ledger", "show", "--last", "-5").err  # text too


# -- every command answers in JSON where asked -------------------------------------------------


def test_output_json_after_the_command_and_from_the_environment(
    cli: Cli,
    validator: jsonschema.Draft202012Validator,
    example_project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    after = cli("-C", example_project, "status", "--output", "json")
    short = cli("-C", example_project, "status", "-o", "json")  # status has no -o of its own
    monkeypatch.setenv("RELKIT_OUTPUT", "json")
    from_env = cli("-C", example_project, "status")
    for result in (after, short, from_env):
        assert result.code == 0
        assert envelope(result, validator, "status")["result"] == {
            "live": {},
            "interrupted": [],
            "locks": {},
            "rollouts": {},
        }
    text = cli("-C", example_project, "status", "--output", "text")  # the option wins over the variable
    assert "nothing deployed yet" in text.out


def test_report_without_out_is_a_json_document_never_markdown(
    cli: Cli, validator: jsonschema.Draft202012Validator, example_project: Path, manifest: Path
) -> None:
    result = cli("-C", example_project, "report", manifest, "--output", "json")
    assert result.code == 0
    doc = envelope(result, validator, "report")
    assert not result.out.startswith("#")
    assert doc["result"]["text"].startswith("# Release and Deployment Report: webapp 2.0.0")
    assert (doc["result"]["format"], doc["result"]["path"]) == ("md", None)


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["schema", "output"], "schema"),
        (["validate", "{manifest}"], "validate"),
        (["signers", "show"], "signers show"),
        (["deploy", "--help"], "deploy"),
        (["--version"], None),
    ],
)
def test_other_commands_answer_with_the_envelope_too(
    cli: Cli,
    validator: jsonschema.Draft202012Validator,
    example_project: Path,
    manifest: Path,
    args: list[str],
    command: str | None,
) -> None:
    argv = [str(manifest) if a == "{manifest}" else a for a in args]
    result = cli("-C", example_project, "-o", "json", *argv)
    assert result.code == 0, result.err
    doc = envelope(result, validator, command)
    assert isinstance(doc["result"], dict) and doc["result"]
    if "--help" in args or "--version" in args:
        assert list(doc["result"]) == ["text"]  # help and version: their text inside the document


def test_the_published_schema_is_the_package_file(cli: Cli) -> None:
    published = cli("schema", "output")
    shipped = Path(__file__).parents[3] / "relkit" / "schemas" / "output.schema.json"
    assert json.loads(published.out) == json.loads(shipped.read_text())
    assert set(json.loads(published.out)["$defs"]) >= {"deploy", "rollback", "gates", "status", "health"}
