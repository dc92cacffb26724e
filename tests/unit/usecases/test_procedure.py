"""The SOP's record-keeping steps (relkit.procedure and its CLI): approve, verify, close, overrides.

Each test works on its own copy of the example project (``example_project``) with its own
allowed-signers file: sari may sign for QA, dewi for PO, mallory for nothing. Nothing here
runs a play: every deploy below is stopped by the gates or by its arguments.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relkit import approvals
from relkit.chain import Entry
from relkit.errors import BadInput, GateBlocked
from relkit.gates import SOP_PRODUCTION
from relkit.loading import load_manifest
from relkit.project import Project
from relkit.usecases import procedure
from tests.support.clirunner import Cli, Result, make_cli
from tests.support.fixtures import SshKeys

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("validate", path)`` runs relkit in-process and returns code, stdout, stderr."""
    return make_cli(capsys)


@pytest.fixture
def project(example_project: Path, ssh_keys: SshKeys) -> Project:
    """The example project with an allowed-signers file where relkit.yml says it is."""
    loaded = Project.load(example_project)
    ssh_keys.allowed_signers(loaded.root / loaded.config.approvals.allowed_signers)
    return loaded


@pytest.fixture
def manifest(project: Project) -> Path:
    return project.root / "releases" / "2.0.0.yml"


def _entries(project: Project, kind: str) -> list[Entry]:
    return [e for e in project.ledger.entries() if e.kind == kind]


def _gates(result: Result) -> dict[str, dict[str, object]]:
    """The gates of the (first) JSON document on stdout."""
    report, _ = json.JSONDecoder().raw_decode(result.out)
    return {g["name"]: g for g in report["gates"]}


def _table(result: Result) -> dict[str, str]:
    """Gate name → its row in the text gate table."""
    return {line.split()[1]: line for line in result.out.splitlines() if line.count("│") >= 4}


def _approve_both(project: Project, manifest: Path, keys: SshKeys) -> None:
    procedure.approve(project, manifest, "qa", keys.key("sari"), "sari", now=NOW)
    procedure.approve(project, manifest, "po", keys.key("dewi"), "dewi", now=NOW + timedelta(hours=1))


# -- approve ---------------------------------------------------------------------------


def test_approve_writes_record_beside_manifest_and_ledger_entry(
    project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    signed = procedure.approve(project, manifest, "qa", ssh_keys.key("sari"), "sari", now=NOW)
    assert signed.path.parent == manifest.parent / "2.0.0.approvals"
    assert signed.path.is_file()
    assert (signed.role, signed.by, signed.kind, signed.env) == ("qa", "sari", "approval", "")
    assert signed.at == "2026-11-16T10:00:00+00:00"
    assert json.loads(json.dumps(signed.to_dict()))["path"] == str(signed.path)

    m = load_manifest(manifest)
    [entry] = _entries(project, "approval.recorded")
    assert entry.data == {
        "role": "qa",
        "by": "sari",
        "at": "2026-11-16T10:00:00+00:00",
        "version": "2.0.0",
        "sha256": m.artifact.sha256,
        "digest": approvals.manifest_digest(m),
        "file": str(signed.path),
        "verified": True,
    }
    allowed = project.root / project.config.approvals.allowed_signers
    assert [s.valid for s in approvals.load(manifest, m, allowed)] == [True]


def test_refused_approval_writes_nothing(project: Project, manifest: Path, ssh_keys: SshKeys) -> None:
    with pytest.raises(BadInput, match="refused"):
        procedure.approve(project, manifest, "po", ssh_keys.key("sari"), "sari", now=NOW)
    assert not approvals.record_dir(manifest).exists()
    assert _entries(project, "approval.recorded") == []


def test_cli_approve_global_as(cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys) -> None:
    result = cli(
        "-C", project.root, "--as", "sari", "approve", manifest, "--role", "qa", "--key", ssh_keys.key("sari")
    )
    assert result.code == 0, result.err
    assert "approved" in result.out
    assert "by sari as qa" in result.out
    [record] = approvals.record_dir(manifest).glob("approval-qa-sari-*.json")
    assert json.loads(record.read_text())["payload"]["by"] == "sari"
    assert [e.data["by"] for e in _entries(project, "approval.recorded")] == ["sari"]


def test_cli_approve_as_after_the_command(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the form the approve/verify help shows: "relkit approve MANIFEST --role qa --key KEY --as sari"
    monkeypatch.setenv("RELKIT_PROJECT", str(project.root))
    result = cli("approve", manifest, "--role", "qa", "--key", ssh_keys.key("sari"), "--as", "sari")
    assert result.code == 0, result.err
    assert [e.data["by"] for e in _entries(project, "approval.recorded")] == ["sari"]


def test_cli_approve_json(cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys) -> None:
    result = cli(
        "-C",
        project.root,
        "-o",
        "json",
        "--as",
        "dewi",
        "approve",
        manifest,
        "-r",
        "po",
        "-k",
        ssh_keys.key("dewi"),
    )
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert (data["role"], data["by"], data["kind"]) == ("po", "dewi", "approval")
    assert Path(data["path"]).is_file()


@pytest.mark.parametrize(
    ("who", "role", "key", "says"),
    [
        ("dewi", "qa", "dewi", "refused"),  # dewi may only sign as PO
        ("sari", "po", "sari", "refused"),  # sari may only sign as QA
        ("sari", "qa", "mallory", "refused"),  # someone else's key in sari's name
        ("mallory", "qa", "mallory", "refused"),  # not in allowed_signers
        ("sari;id", "qa", "sari", "--as"),
        ("sari", "ops", "sari", "--role"),
    ],
)
def test_cli_approve_forged_or_unauthorised_exits_2(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, who: str, role: str, key: str, says: str
) -> None:
    result = cli(
        "-C", project.root, "--as", who, "approve", manifest, "--role", role, "--key", ssh_keys.key(key)
    )
    assert result.code == 2
    assert says in result.err
    assert not approvals.record_dir(manifest).exists()
    assert _entries(project, "approval.recorded") == []


def test_cli_approve_missing_key_exits_2(cli: Cli, project: Project, manifest: Path, tmp_path: Path) -> None:
    result = cli(
        "-C", project.root, "--as", "sari", "approve", manifest, "--role", "qa", "--key", tmp_path / "nokey"
    )
    assert result.code == 2
    assert "--key" in result.err


def test_cli_approve_without_allowed_signers_exits_2(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    (project.root / project.config.approvals.allowed_signers).unlink()
    result = cli(
        "-C", project.root, "--as", "sari", "approve", manifest, "--role", "qa", "--key", ssh_keys.key("sari")
    )
    assert result.code == 2
    assert "not found" in result.err


# -- gates for production ------------------------------------------------------------------


def test_gates_production_blocked_lists_the_sop(cli: Cli, project: Project, manifest: Path) -> None:
    result = cli("-C", project.root, "gates", manifest, "--env", "production")
    assert result.code == 3
    rows = _table(result)
    assert list(rows) == SOP_PRODUCTION
    for name in ("approvals", "infra_ready", "notice_sent", "promoted_from"):
        assert "BLOCKED" in rows[name], rows[name]
    for name in ("manifest_valid", "plan_complete", "test_evidence", "four_eyes", "freeze"):
        assert "pass" in rows[name], rows[name]
    assert "no valid QA approval" in rows["approvals"]


def test_gates_production_json_reasons(cli: Cli, project: Project, manifest: Path) -> None:
    result = cli("-C", project.root, "-o", "json", "gates", manifest, "--env", "production")
    assert result.code == 3
    gates = _gates(result)
    assert list(gates) == SOP_PRODUCTION
    assert gates["notice_sent"]["reason"] == "no successful announcement recorded"
    assert gates["infra_ready"]["passed"] is False
    assert gates["promoted_from"]["remedy"].endswith("--env staging")


def test_gates_staging_default(cli: Cli, project: Project, manifest: Path) -> None:
    result = cli("-C", project.root, "-o", "json", "gates", manifest, "--env", "staging")
    assert result.code == 0, result.out
    assert list(_gates(result)) == ["manifest_valid", "plan_complete", "artifact_checksum"]


def test_gates_after_approvals(cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys) -> None:
    _approve_both(project, manifest, ssh_keys)
    result = cli(
        "-C", project.root, "--as", "ops-demo", "-o", "json", "gates", manifest, "--env", "production"
    )
    gates = _gates(result)
    assert gates["approvals"]["passed"] is True
    assert gates["approvals"]["reason"] == "QA: sari, then PO: dewi"
    assert gates["four_eyes"]["passed"] is True


@pytest.mark.parametrize("approver", ["sari", "dewi"])
def test_gates_four_eyes_uses_as(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, approver: str
) -> None:
    _approve_both(project, manifest, ssh_keys)
    result = cli("-C", project.root, "--as", approver, "-o", "json", "gates", manifest, "--env", "production")
    four_eyes = _gates(result)["four_eyes"]
    assert four_eyes["passed"] is False, four_eyes["reason"]
    assert "self-approval" in str(four_eyes["reason"])


def test_gates_four_eyes_uses_relkit_user(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    _approve_both(project, manifest, ssh_keys)
    monkeypatch.setenv("RELKIT_USER", "dewi")
    result = cli("-C", project.root, "-o", "json", "gates", manifest, "--env", "production")
    four_eyes = _gates(result)["four_eyes"]
    assert four_eyes["passed"] is False
    assert "self-approval" in str(four_eyes["reason"])


def test_gates_after_manifest_edit_approvals_are_void(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    _approve_both(project, manifest, ssh_keys)
    manifest.write_text(manifest.read_text().replace("Filter notes by author", "Filter notes by anyone"))
    result = cli("-C", project.root, "-o", "json", "gates", manifest, "--env", "production")
    gate = _gates(result)["approvals"]
    assert gate["passed"] is False
    assert "qa approval by sari rejected: the manifest was edited after this was signed" in str(
        gate["reason"]
    )
    assert "po approval by dewi rejected" in str(gate["reason"])


# -- deploy --override -------------------------------------------------------------------


@pytest.mark.parametrize("gate", ["artifact_checksum", "promoted_from"])
def test_deploy_override_of_not_overridable_gate_exits_2(
    cli: Cli, project: Project, manifest: Path, gate: str
) -> None:
    result = cli(
        "-C", project.root, "deploy", manifest, "--env", "production",
        "--override", gate, "--by", "x", "--reason", "y",
    )  # fmt: skip
    assert result.code == 2
    assert "cannot be overridden" in result.err
    assert list(project.ledger.entries()) == []


@pytest.mark.parametrize(
    "extra",
    [[], ["--by", "dewi"], ["--reason", "PO agreed"], ["--by", "dewi", "--reason", "   "]],
    ids=["neither", "no-reason", "no-by", "blank-reason"],
)
def test_deploy_override_needs_by_and_reason(
    cli: Cli, project: Project, manifest: Path, extra: list[str]
) -> None:
    result = cli(
        "-C", project.root, "deploy", manifest, "--env", "production", "--override", "window", *extra
    )
    assert result.code == 2
    assert "--by" in result.err
    assert list(project.ledger.entries()) == []


def test_deploy_override_unknown_gate_exits_2(cli: Cli, project: Project, manifest: Path) -> None:
    result = cli(
        "-C", project.root, "deploy", manifest, "--env", "production",
        "--override", "nonexistent", "--by", "x", "--reason", "y",
    )  # fmt: skip
    assert result.code == 2
    assert "unknown gate 'nonexistent'" in result.err
    assert list(project.ledger.entries()) == []


def test_deploy_override_is_recorded_even_when_other_gates_block(
    cli: Cli, project: Project, manifest: Path
) -> None:
    result = cli(
        "-C", project.root, "--as", "ops-demo", "-o", "json", "deploy", manifest, "--env", "production",
        "--override", "notice_sent", "--by", "dewi", "--reason", "told users by phone",
    )  # fmt: skip
    assert result.code == 3
    [override] = _entries(project, "gate.override")
    assert override.env == "production"
    assert override.data["gate"] == "notice_sent"
    assert (override.data["by"], override.data["reason"]) == ("dewi", "told users by phone")
    assert override.data["failed_because"] == "no successful announcement recorded"
    [evaluated] = _entries(project, "gate.evaluated")
    gates = {g["name"]: g for g in evaluated.data["gates"]}
    assert gates["notice_sent"]["passed"] is True
    assert gates["notice_sent"]["overridden_by"] == "dewi"
    assert gates["approvals"]["passed"] is False
    assert evaluated.data["by"] == "ops-demo"
    assert _entries(project, "run.started") == []


# -- verify and close ---------------------------------------------------------------------


def _retro(tmp_path: Path, text: str = "Went well; migrate step was slow.\n") -> Path:
    path = tmp_path / "retro.md"
    path.write_text(text)
    return path


def test_cli_verify(cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys) -> None:
    result = cli(
        "-C",
        project.root,
        "--as",
        "dewi",
        "verify",
        manifest,
        "--env",
        "production",
        "--key",
        ssh_keys.key("dewi"),
    )
    assert result.code == 0, result.err
    assert "verified" in result.out
    [entry] = _entries(project, "release.verified")
    assert (entry.env, entry.data["by"], entry.data["role"], entry.data["verified"]) == (
        "production",
        "dewi",
        "po",
        True,
    )
    [record] = approvals.record_dir(manifest).glob("verification-po-dewi-*.json")
    assert json.loads(record.read_text())["payload"]["env"] == "production"


def test_cli_verify_by_qa_exits_2(cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys) -> None:
    result = cli("-C", project.root, "--as", "sari", "verify", manifest, "--key", ssh_keys.key("sari"))
    assert result.code == 2
    assert _entries(project, "release.verified") == []


def test_cli_verify_unknown_env_exits_2(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    result = cli(
        "-C", project.root, "--as", "dewi", "verify", manifest, "--env", "qa", "--key", ssh_keys.key("dewi")
    )
    assert result.code == 2
    assert "unknown environment 'qa'" in result.err


def test_close_refused_without_verification_and_monitoring(
    cli: Cli, project: Project, manifest: Path, tmp_path: Path
) -> None:
    result = cli("-C", project.root, "-o", "json", "close", manifest, "--retro", _retro(tmp_path))
    assert result.code == 3
    gates = _gates(result)
    assert list(gates) == ["verified", "monitoring_elapsed", "retrospective"]
    assert gates["verified"]["passed"] is False
    assert gates["monitoring_elapsed"]["passed"] is False
    assert gates["retrospective"]["passed"] is True
    [evaluated] = _entries(project, "gate.evaluated")
    assert (evaluated.data["stage"], evaluated.env, evaluated.data["passed"]) == (
        "close",
        "production",
        False,
    )
    assert _entries(project, "release.closed") == []


def test_close_blocked_json_is_one_document(
    cli: Cli, project: Project, manifest: Path, tmp_path: Path
) -> None:
    # --output json promises a JSON document on stdout; a blocked close must not print two
    result = cli("-C", project.root, "-o", "json", "close", manifest, "--retro", _retro(tmp_path))
    assert result.code == 3
    document = json.loads(result.out)
    assert "verified" in json.dumps(document)


def test_close_text_output_shows_blocked_gates(
    cli: Cli, project: Project, manifest: Path, tmp_path: Path
) -> None:
    result = cli("-C", project.root, "close", manifest, "--retro", _retro(tmp_path))
    assert result.code == 3
    rows = _table(result)
    assert "BLOCKED" in rows["verified"]
    assert "BLOCKED" in rows["monitoring_elapsed"]


@pytest.mark.parametrize("text", ["", "  \n\n"])
def test_close_with_empty_retro_exits_2(
    cli: Cli, project: Project, manifest: Path, tmp_path: Path, text: str
) -> None:
    result = cli("-C", project.root, "close", manifest, "--retro", _retro(tmp_path, text))
    assert result.code == 2
    assert "is empty" in result.err
    assert list(project.ledger.entries()) == []


def test_close_with_missing_retro_exits_2(cli: Cli, project: Project, manifest: Path, tmp_path: Path) -> None:
    result = cli("-C", project.root, "close", manifest, "--retro", tmp_path / "nothing.md")
    assert result.code == 2
    assert "not found" in result.err


def test_close_after_verification_and_monitoring(
    project: Project, manifest: Path, ssh_keys: SshKeys, tmp_path: Path
) -> None:
    switched = project.ledger.append(
        "host.switched", run_id="r1", env="production", host="web1", data={"version": "2.0.0"}
    )
    since = datetime.fromisoformat(switched.ts)
    procedure.verify(
        project, manifest, "production", ssh_keys.key("dewi"), "dewi", now=since + timedelta(hours=1)
    )

    with pytest.raises(GateBlocked) as info:
        procedure.close(
            project, manifest, "production", _retro(tmp_path), "dewi", now=since + timedelta(hours=23)
        )
    assert [r.name for r in info.value.report.failed] == ["monitoring_elapsed"]  # type: ignore[attr-defined]
    assert _entries(project, "release.closed") == []

    report = procedure.close(
        project, manifest, "production", _retro(tmp_path), "dewi", now=since + timedelta(hours=24, minutes=1)
    )
    assert report.passed
    [closed] = _entries(project, "release.closed")
    assert closed.env == "production"
    assert closed.data["version"] == "2.0.0"
    assert closed.data["by"] == "dewi"
    assert closed.data["retro"] == "Went well; migrate step was slow.\n"
    assert closed.data["sha256"] == load_manifest(manifest).artifact.sha256


def test_close_verification_for_staging_does_not_close_production(
    project: Project, manifest: Path, ssh_keys: SshKeys, tmp_path: Path
) -> None:
    switched = project.ledger.append(
        "host.switched", env="production", host="web1", data={"version": "2.0.0"}
    )
    since = datetime.fromisoformat(switched.ts)
    procedure.verify(project, manifest, "staging", ssh_keys.key("dewi"), "dewi", now=since)
    with pytest.raises(GateBlocked) as info:
        procedure.close(
            project, manifest, "production", _retro(tmp_path), "dewi", now=since + timedelta(hours=25)
        )
    assert [r.name for r in info.value.report.failed] == ["verified"]  # type: ignore[attr-defined]
