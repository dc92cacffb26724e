"""The documents real runs print with ``--output json`` (real plays on the local staging host)
validate against the published schema (``relkit schema output``), in success and failure:
deploy (a play, the quick check, a failed smoke test rolled back), rollback, health, status and
gates; and a deploy's ``details.quick_check`` has the same keys in every outcome."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from relkit.project import Project
from tests.support.clirunner import Cli, Result, make_cli


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


@pytest.fixture
def validator(cli: Cli) -> jsonschema.Draft202012Validator:
    published = cli("schema", "output")
    assert published.code == 0, published.err
    return jsonschema.Draft202012Validator(json.loads(published.out))


def checked(
    result: Result, validator: jsonschema.Draft202012Validator, command: str, code: int
) -> dict[str, Any]:
    """The envelope on stdout: schema-valid, for ``command``, exiting ``code`` as the process did."""
    assert result.code == code, result.err
    doc = result.doc
    validator.validate(doc)
    assert doc["command"] == command
    return doc


def test_every_outcome_of_the_runs_matches_the_schema(
    local_staging: Project, cli: Cli, validator: jsonschema.Draft202012Validator
) -> None:
    root, releases = local_staging.root, local_staging.root / "releases"
    json_cli = ["-C", root, "--as", "ops", "-o", "json"]

    first = checked(cli(*json_cli, "deploy", releases / "1.0.0.yml", "-e", "staging"), validator, "deploy", 0)
    assert first["result"]["hosts"] == {"stage1": "ok"}
    played = first["result"]["details"]["quick_check"]
    assert played["used"] is False and played["host_cards"] == "kept"

    again = checked(cli(*json_cli, "deploy", releases / "1.0.0.yml", "-e", "staging"), validator, "deploy", 0)
    quick = again["result"]["details"]["quick_check"]
    assert quick["used"] is True and quick["found"] and quick["why_not"] is None

    failed = checked(
        cli(*json_cli, "deploy", releases / "3.0.0.yml", "-e", "staging"), validator, "deploy", 4
    )
    assert (
        failed["error"]["kind"] == "PlayFailed"
        and "rolled back stage1 to 1.0.0" in failed["error"]["message"]
    )
    assert failed["result"]["rolled_back"] == {"stage1": "1.0.0"} and failed["result"]["ok"] is False
    # the same keys whatever happened: a reader never meets a missing one
    for doc in (first, again, failed):
        assert list(doc["result"]["details"]) == ["quick_check", "downgrade", "rollout"]
        assert list(doc["result"]["details"]["quick_check"]) == ["used", "found", "why_not", "host_cards"]

    checked(cli(*json_cli, "deploy", releases / "2.0.0.yml", "-e", "staging"), validator, "deploy", 0)
    health = checked(cli(*json_cli, "health", "-e", "staging"), validator, "health", 0)
    assert health["result"]["status"] in ("ok", "warning") and "stage1" in health["result"]["hosts"]

    back = checked(
        cli(*json_cli, "rollback", "-e", "staging", "--by", "dewi", "--reason", "drill"),
        validator,
        "rollback",
        0,
    )
    assert (
        back["result"]["rolled_back"] == {"stage1": "1.0.0"} and back["result"]["details"]["refused"] is None
    )

    status = checked(cli(*json_cli, "status"), validator, "status", 0)
    assert status["result"]["live"]["staging"]["stage1"]["version"] == "1.0.0"

    passed = checked(cli(*json_cli, "gates", releases / "2.0.0.yml", "-e", "staging"), validator, "gates", 0)
    assert passed["result"]["passed"] is True
    blocked = checked(
        cli(*json_cli, "gates", releases / "2.0.0.yml", "-e", "production"), validator, "gates", 3
    )
    assert blocked["error"]["gates"]["passed"] is False

    usage = checked(cli(*json_cli, "rollback", "-e", "staging", "--to"), validator, "rollback", 2)
    assert usage["error"]["kind"] == "UsageError"
