"""The command line (relkit.cli): exit codes, messages and output formats.

Most tests call ``relkit.cli.main([...])`` in-process and capture stdout/stderr; a few run the
installed ``relkit`` console script to check the real process exit code.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from relkit.config import ProjectConfig
from relkit.gates import SOP_PRODUCTION, STAGES
from relkit.loading import load_manifest
from relkit.manifest import Manifest
from relkit.store.locks import lock_path
from relkit.store.sqlite import Ledger
from tests.support.clirunner import Cli, make_cli
from tests.support.fixtures import EXAMPLE_PROJECT, PYTHON

RELKIT = Path(PYTHON).parent / "relkit"
COMMANDS = [
    ["validate"],
    ["schema"],
    ["gates"],
    ["prepare"],
    ["deploy"],
    ["rollback"],
    ["status"],
    ["unlock"],
    ["ledger"],
    ["ledger", "show"],
    ["ledger", "verify"],
]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("validate", path)`` runs relkit in-process and returns code, stdout, stderr."""
    return make_cli(capsys)


@pytest.fixture
def manifest(example_project: Path) -> Path:
    return example_project / "releases" / "2.0.0.yml"


# -- help ------------------------------------------------------------------------------


def test_top_level_help(cli: Cli) -> None:
    result = cli("--help")
    assert result.code == 0
    assert "Example:" in result.out
    for command in ("validate", "schema", "gates", "deploy", "rollback", "status", "unlock", "ledger"):
        assert command in result.out


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_command_help_has_example(cli: Cli, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.code == 0
    assert "Example:" in result.out
    assert f"Example: relkit {command[0]}" in result.out


def test_console_script_help_and_version() -> None:
    assert RELKIT.is_file(), f"console script not installed at {RELKIT}"
    helped = subprocess.run([RELKIT, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0
    assert "Example:" in helped.stdout
    version = subprocess.run([RELKIT, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0
    assert version.stdout.strip() == "relkit 0.1.0"


def test_console_script_exit_code_for_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("app: webapp\nversion: 1.0.0\n")
    done = subprocess.run([RELKIT, "validate", bad], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "artifact: required field is missing" in done.stderr


# -- validate / schema -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["1.0.0.yml", "2.0.0.yml", "3.0.0.yml"])
def test_validate_good_manifest(cli: Cli, name: str) -> None:
    result = cli("validate", EXAMPLE_PROJECT / "releases" / name)
    assert result.code == 0
    assert f"valid: webapp {name.removesuffix('.yml')}" in result.out
    assert result.err == ""


def test_validate_good_manifest_json(cli: Cli) -> None:
    result = cli("--output", "json", "validate", EXAMPLE_PROJECT / "releases" / "1.0.0.yml")
    assert result.code == 0
    payload = result.payload
    assert (payload["valid"], payload["app"], payload["version"]) == (True, "webapp", "1.0.0")
    assert (payload["project"], payload["checked"]) == (None, ["the manifest file"])  # run outside a project


def _bad_manifest(tmp_path: Path) -> Path:
    text = (EXAMPLE_PROJECT / "releases" / "1.0.0.yml").read_text()
    text = text.replace("  sha256:", "  shaa256:")
    text = text.replace("version: 1.0.0", "version: 1.0.0;reboot")
    text = text.replace("timezone: Asia/Jakarta", "timezone: Asia/Atlantis")
    text = text.replace("type: feature", "type: wish", 1)
    path = tmp_path / "bad.yml"
    path.write_text(text)
    return path


BAD_PATHS = ["version", "artifact.shaa256", "artifact.sha256", "schedule.timezone", "changes.0.type"]


def test_validate_bad_manifest_names_every_field(cli: Cli, tmp_path: Path) -> None:
    bad = _bad_manifest(tmp_path)
    result = cli("validate", bad)
    assert result.code == 2
    assert str(bad) in result.err
    for path in BAD_PATHS:
        assert f"  - {path}: " in result.err, path
    assert "artifact.shaa256: unknown key" in result.err
    assert result.out == ""


def test_validate_bad_manifest_json(cli: Cli, tmp_path: Path) -> None:
    result = cli("-o", "json", "validate", _bad_manifest(tmp_path))
    assert result.code == 2
    doc = result.doc
    assert doc["error"]["kind"] == "BadInput"
    assert doc["exit_code"] == 2
    assert sorted(p.split(":")[0] for p in doc["error"]["problems"]) == sorted(BAD_PATHS)


def test_validate_missing_file(cli: Cli, tmp_path: Path) -> None:
    result = cli("validate", tmp_path / "nope.yml")
    assert result.code == 2
    assert "not found" in result.err


def test_validate_yaml_bomb(cli: Cli, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yml"
    bomb.write_text('a: &a ["x","x"]\nb: &b [*a,*a]\nc: [*b,*b]\n')
    result = cli("validate", bomb)
    assert result.code == 2
    assert "aliases" in result.err


def test_validate_impossible_date_is_bad_input(cli: Cli, tmp_path: Path) -> None:
    text = (EXAMPLE_PROJECT / "releases" / "1.0.0.yml").read_text()
    path = tmp_path / "feb30.yml"
    path.write_text(text.replace("window_start: 2026-11-10T22:00:00", "window_start: 2026-02-30T22:00:00"))
    result = cli("validate", path)
    assert result.code == 2, result.err
    assert str(path) in result.err


def test_schema(cli: Cli) -> None:
    result = cli("schema")
    assert result.code == 0
    schema = json.loads(result.out)
    assert "artifact" in schema["properties"]
    assert schema == Manifest.model_json_schema()


def test_schema_of_relkit_yml(cli: Cli) -> None:
    result = cli("schema", "--config")
    assert result.code == 0
    schema = json.loads(result.out)
    assert {"app", "deploy_path", "environments", "smoke"} <= set(schema["required"])
    assert schema == ProjectConfig.model_json_schema()
    assert schema["properties"]["app"]["pattern"] == "^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"


# -- gates -----------------------------------------------------------------------------


def test_gates_production_blocked_by_promotion(cli: Cli, example_project: Path, manifest: Path) -> None:
    result = cli("-C", example_project, "gates", manifest, "--env", "production")
    assert result.code == 3
    lines = {line.split()[1]: line for line in result.out.splitlines() if line.count("│") >= 4}
    assert "pass" in lines["manifest_valid"]
    assert "pass" in lines["artifact_checksum"]
    assert "BLOCKED" in lines["promoted_from"]
    assert "--env staging" in result.out
    assert "gates: deploy 2.0.0 → production" in result.out


def test_gates_production_json(cli: Cli, example_project: Path, manifest: Path) -> None:
    result = cli("-C", example_project, "--output", "json", "gates", manifest, "--env", "production")
    assert result.code == 3
    report = result.payload
    assert report["passed"] is False
    assert report["env"] == "production"
    assert report["version"] == "2.0.0"
    verdicts = {g["name"]: g["passed"] for g in report["gates"]}
    assert list(verdicts) == SOP_PRODUCTION
    assert verdicts["manifest_valid"] is True
    assert verdicts["artifact_checksum"] is True
    assert verdicts["promoted_from"] is False


def test_gates_staging_pass(cli: Cli, example_project: Path, manifest: Path) -> None:
    result = cli("-C", example_project, "-o", "json", "gates", manifest, "--env", "staging")
    assert result.code == 0
    report = result.payload
    assert report["passed"] is True
    assert [g["name"] for g in report["gates"]] == [
        "signers",
        "manifest_valid",
        "plan_complete",
        "artifact_checksum",
    ]


def test_gates_production_promoted_after_staging_smoke(
    cli: Cli, example_project: Path, manifest: Path, state_dir: Path
) -> None:
    sha = load_manifest(manifest).artifact.sha256
    ledger = Ledger(state_dir / "ledger.db")
    ledger.append(
        "smoke.result",
        run_id="r-staging",
        env="staging",
        data={"version": "2.0.0", "sha256": sha, "passed": True},
    )
    getattr(ledger, "close", lambda: None)()
    # production needs the whole SOP (approvals, notice, ...); promotion is the part a staging smoke gives
    result = cli("-C", example_project, "-o", "json", "gates", manifest, "--env", "production")
    promoted = {g["name"]: g["passed"] for g in result.payload["gates"]}["promoted_from"]
    assert promoted is True, result.out
    # the same smoke record does not promote a different artifact
    other = example_project / "releases" / "1.0.0.yml"
    result = cli("-C", example_project, "-o", "json", "gates", other, "--env", "production")
    assert result.code == 3
    assert {g["name"]: g["passed"] for g in result.payload["gates"]}["promoted_from"] is False


def test_gates_missing_artifact_blocks(cli: Cli, example_project: Path, manifest: Path) -> None:
    (example_project.parent / "webapp" / "dist" / "webapp-2.0.0.tar.gz").unlink()
    result = cli("-C", example_project, "-o", "json", "gates", manifest, "--env", "staging")
    assert result.code == 3
    gates = {g["name"]: g for g in result.payload["gates"]}
    assert gates["artifact_checksum"]["passed"] is False
    assert "not found" in gates["artifact_checksum"]["reason"]


def test_gates_wrong_artifact_blocks(cli: Cli, example_project: Path, manifest: Path) -> None:
    dist = example_project.parent / "webapp" / "dist"
    shutil.copyfile(dist / "webapp-1.0.0.tar.gz", dist / "webapp-2.0.0.tar.gz")
    result = cli("-C", example_project, "-o", "json", "gates", manifest, "--env", "staging")
    assert result.code == 3
    gates = {g["name"]: g for g in result.payload["gates"]}
    assert gates["artifact_checksum"]["passed"] is False
    assert "differs" in gates["artifact_checksum"]["reason"]


def test_gates_prepare_stage_ignores_artifact(cli: Cli, example_project: Path, manifest: Path) -> None:
    (example_project.parent / "webapp" / "dist" / "webapp-2.0.0.tar.gz").unlink()
    result = cli("-C", example_project, "-o", "json", "gates", manifest, "-e", "production", "-s", "prepare")
    assert result.code == 0
    assert [g["name"] for g in result.payload["gates"]] == [
        "signers",
        "manifest_valid",
        "plan_complete",
    ]


def test_gates_unknown_stage(cli: Cli, example_project: Path, manifest: Path) -> None:
    result = cli("-C", example_project, "gates", manifest, "--env", "staging", "--stage", "ship")
    assert result.code == 2
    assert "--stage" in result.err


def test_gates_help_lists_every_stage(cli: Cli) -> None:
    """--stage's help names every stage the gates know (prepare, deploy and close), as the docs do."""
    result = cli("gates", "--help")
    assert result.code == 0
    assert STAGES == ("prepare", "deploy", "close")
    assert "prepare|deploy|close" in " ".join(result.out.split())


def test_gates_do_not_write_the_ledger(
    cli: Cli, example_project: Path, manifest: Path, state_dir: Path
) -> None:
    cli("-C", example_project, "gates", manifest, "--env", "production")
    assert list(Ledger(state_dir / "ledger.db").entries()) == []


# -- environments, rollback, unlock ------------------------------------------------------


def test_unknown_env_lists_known(cli: Cli, example_project: Path, manifest: Path) -> None:
    result = cli("-C", example_project, "gates", manifest, "--env", "qa")
    assert result.code == 2
    assert "unknown environment 'qa'" in result.err
    assert "known: production, staging" in result.err


def test_rollback_unknown_env_lists_known(cli: Cli, example_project: Path) -> None:
    result = cli("-C", example_project, "rollback", "--env", "qa", "--by", "alice", "--reason", "broken")
    assert result.code == 2
    assert "known: production, staging" in result.err


def test_rollback_needs_by(cli: Cli, example_project: Path, state_dir: Path) -> None:
    # staging need not be signed (policy.signed_acts: promoted): without --key, --by names who decided
    result = cli("-C", example_project, "rollback", "--env", "staging", "--reason", "broken")
    assert result.code == 2
    assert "--by: name the person who decided the rollback (or sign it: --key)" in result.err
    assert not lock_path(state_dir, "staging").exists()
    assert list(Ledger(state_dir / "ledger.db").entries()) == []


def test_rollback_of_production_needs_a_key(cli: Cli, example_project: Path, state_dir: Path) -> None:
    # production (promote_from) must be signed: a typed --by is not enough (exit 3)
    result = cli(
        "-C", example_project, "rollback", "--env", "production", "--by", "dewi", "--reason", "broken"
    )
    assert result.code == 3, result.err
    assert "rollback on production must be signed" in result.err
    assert "add --key" in result.err
    assert not lock_path(state_dir, "production").exists()
    assert list(Ledger(state_dir / "ledger.db").entries()) == []


@pytest.mark.parametrize("reason", [None, "", "   "], ids=["missing", "empty", "blank"])
def test_rollback_needs_reason(cli: Cli, example_project: Path, reason: str | None) -> None:
    extra = [] if reason is None else ["--reason", reason]
    result = cli("-C", example_project, "rollback", "--env", "staging", "--by", "alice", *extra)
    assert result.code == 2
    assert "--reason" in result.err


def test_rollback_to_unsafe_version(cli: Cli, example_project: Path) -> None:
    result = cli(
        "-C",
        example_project,
        "rollback",
        "--env",
        "staging",
        "--by",
        "a",
        "--reason",
        "r",
        "--to",
        "../../etc",
    )
    assert result.code == 2
    assert "--to" in result.err


def test_unlock_without_lock(cli: Cli, example_project: Path) -> None:
    result = cli("-C", example_project, "unlock", "--env", "staging", "--by", "x")
    assert result.code == 2
    assert "not locked" in result.err


def test_unlock_needs_by(cli: Cli, example_project: Path) -> None:
    result = cli("-C", example_project, "unlock", "--env", "staging")
    assert result.code == 2
    assert "--by" in result.err


def test_unlock_stale_lock_is_recorded(cli: Cli, example_project: Path, state_dir: Path) -> None:
    proc = subprocess.Popen([PYTHON, "-c", "pass"])
    proc.wait(timeout=30)
    path = lock_path(state_dir, "staging")
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "user": "bob",
                "host": socket.gethostname(),
                "pid": proc.pid,
                "started": "2026-11-10T15:00:00+00:00",
                "run_id": "dead-run",
                "action": "deploy",
            }
        )
    )
    result = cli("-C", example_project, "unlock", "--env", "staging", "--by", "alice")
    assert result.code == 0, result.err
    assert "dead-run" in result.out
    assert not path.exists()
    (broken,) = Ledger(state_dir / "ledger.db").entries(kind="lock.broken")
    assert broken.env == "staging"
    assert broken.data["by"] == "alice"
    assert broken.data["holder"]["run_id"] == "dead-run"
    assert broken.data["forced"] is False
    # the dead run never recorded its start here: nothing to end on its behalf
    assert not list(Ledger(state_dir / "ledger.db").entries(kind="run.finished"))


def test_unlock_ends_the_interrupted_run_on_record(cli: Cli, example_project: Path, state_dir: Path) -> None:
    ledger = Ledger(state_dir / "ledger.db")
    ledger.append("run.started", run_id="dead-run", env="staging", data={"action": "deploy", "by": "bob"})
    ledger.append("run.started", run_id="other-run", env="staging", data={"action": "deploy", "by": "eve"})
    proc = subprocess.Popen([PYTHON, "-c", "pass"])
    proc.wait(timeout=30)
    path = lock_path(state_dir, "staging")
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = {"user": "bob", "host": socket.gethostname(), "pid": proc.pid, "started": "2026-11-10T15:00"}
    path.write_text(json.dumps({**holder, "run_id": "dead-run", "action": "deploy"}))
    status = cli("-C", example_project, "--output", "json", "status")
    assert [r["run_id"] for r in status.payload["interrupted"]] == ["dead-run", "other-run"]
    assert cli("-C", example_project, "unlock", "--env", "staging", "--by", "alice").code == 0
    (ended,) = ledger.entries(kind="run.finished")
    assert (ended.run_id, ended.env) == ("dead-run", "staging")
    assert ended.data == {
        "action": "deploy",
        "status": "interrupted",
        "lock_broken_by": "alice",
        "forced": False,
    }
    status = cli("-C", example_project, "--output", "json", "status")
    assert [r["run_id"] for r in status.payload["interrupted"]] == ["other-run"]
    assert ledger.verify().ok


# -- ledger ----------------------------------------------------------------------------


def test_ledger_verify_new_ledger(cli: Cli, example_project: Path) -> None:
    result = cli("-C", example_project, "ledger", "verify")
    assert result.code == 0
    assert "0 rows" in result.out


def test_ledger_verify_after_tampering(cli: Cli, example_project: Path, state_dir: Path) -> None:
    ledger = Ledger(state_dir / "ledger.db")
    for n in range(3):
        ledger.append("note", env="staging", data={"n": n})
    getattr(ledger, "close", lambda: None)()
    ok = cli("-C", example_project, "-o", "json", "ledger", "verify")
    assert ok.code == 0
    expected = {"ok": True, "checked": 3, "bad_seq": None, "problem": "", "signed_acts": 0, "signer_pins": 0}
    expected["witnesses"] = None  # no --witnesses ENV asked
    assert ok.payload == expected
    with closing(sqlite3.connect(state_dir / "ledger.db")) as conn:
        conn.execute("""UPDATE entries SET data = '{"n": 7}' WHERE seq = 2""")
        conn.commit()
    result = cli("-C", example_project, "ledger", "verify")
    assert result.code == 1
    assert "row 2" in result.err
    assert "changed" in result.err


def test_ledger_show_json(cli: Cli, example_project: Path, state_dir: Path) -> None:
    ledger = Ledger(state_dir / "ledger.db")
    for kind in ("host.switched", "smoke.result", "host.switched"):
        ledger.append(kind, env="staging")
    getattr(ledger, "close", lambda: None)()
    result = cli("-C", example_project, "-o", "json", "ledger", "show", "--kind", "host.*")
    assert result.code == 0
    assert [e["seq"] for e in result.payload["entries"]] == [1, 3]


# -- global options and project discovery ------------------------------------------------


def test_output_yaml_rejected(cli: Cli, example_project: Path) -> None:
    result = cli("-C", example_project, "--output", "yaml", "status")
    assert result.code == 2
    assert "--output" in result.err
    assert "'yaml'" in result.err


def test_unknown_option_is_usage_error(cli: Cli) -> None:
    result = cli("validate", "--colour")
    assert result.code == 2
    assert "--colour" in result.err


def test_no_project_found(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("status")
    assert result.code == 2
    assert "no relkit.yml found" in result.err


def test_project_from_environment(
    cli: Cli, example_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELKIT_PROJECT", str(example_project))
    result = cli("-o", "json", "status")
    assert result.code == 0
    assert result.payload == {"live": {}, "interrupted": [], "locks": {}, "rollouts": {}}


def test_status_text_when_nothing_deployed(cli: Cli, example_project: Path) -> None:
    result = cli("-C", example_project, "status")
    assert result.code == 0
    assert "nothing deployed yet" in result.out
