"""The SOP's record-keeping steps (relkit.procedure and its CLI): approve, verify, close, overrides.

Each test works on its own copy of the example project (``example_project``) with its own
allowed-signers file: sari may sign for QA, dewi for PO, ops-demo for ops (deploys), mallory for
nothing. Nothing here runs a play: every deploy below is stopped by the gates or by its arguments.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from relkit import api, approvals
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
    """The gates of the JSON document on stdout: a blocked stage's ``error.gates``, else the result."""
    doc = result.doc
    report = (doc["error"] or {}).get("gates") or doc["result"]
    return {g["name"]: g for g in report["gates"]}


def _table(result: Result) -> dict[str, str]:
    """Gate name → its row in the text gate table (a long reason wraps onto lines without a name)."""
    rows = [line for line in result.out.splitlines() if line.count("│") >= 4]
    return {line.split("│")[1].strip(): line for line in rows if line.split("│")[1].strip()}


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
        "record": json.loads(signed.path.read_text()),  # the signed record itself, for every controller
    }
    allowed = project.root / project.config.approvals.allowed_signers
    assert [s.valid for s in approvals.load(manifest, m, allowed)] == [True]
    # the record in the ledger verifies on its own (a controller without the file), counted once
    signed.path.unlink()
    assert [s.valid for s in approvals.load(manifest, m, allowed, [entry.data["record"]])] == [True]
    assert approvals.load(manifest, m, allowed) == []


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
    procedure.approve(project, manifest, "qa", ssh_keys.key("sari"), "sari", now=NOW)  # the PO follows QA
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
    data = result.payload
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


def test_cli_approve_po_before_qa_exits_2(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    result = cli(
        "-C", project.root, "--as", "dewi", "approve", manifest, "--role", "po", "--key", ssh_keys.key("dewi")
    )
    assert result.code == 2
    assert "no valid QA approval of this manifest by its QA owner" in result.err
    assert "QA approves first" in result.err
    assert not approvals.record_dir(manifest).exists()
    assert _entries(project, "approval.recorded") == []


def test_owner_group_of_relkit_yml(cli: Cli, example_project: Path, ssh_keys: SshKeys) -> None:
    config_path = example_project / "relkit.yml"
    config = yaml.safe_load(config_path.read_text())
    config["approvals"]["groups"] = {"qa-team": ["sari", "mallory"]}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    manifest = example_project / "releases" / "2.0.0.yml"
    data = yaml.safe_load(manifest.read_text())
    data["owners"]["qa"] = "@qa-team"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    with Project.load(example_project) as project:
        signers = {"sari": "relkit-qa", "mallory": "relkit-qa", "dewi": "relkit-po"}
        ssh_keys.allowed_signers(project.root / project.config.approvals.allowed_signers, signers)
        procedure.approve(project, manifest, "qa", ssh_keys.key("mallory"), "mallory", now=NOW)
        procedure.approve(project, manifest, "po", ssh_keys.key("dewi"), "dewi", now=NOW + timedelta(hours=1))
        result = cli(
            "-C", project.root, "--as", "ops-demo", "-o", "json", "gates", manifest, "--env", "production"
        )
    gates = _gates(result)
    assert gates["approvals"]["passed"] is True, gates["approvals"]
    assert gates["approvals"]["reason"] == "QA: mallory, then PO: dewi"


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
    assert list(_gates(result)) == ["signers", "manifest_valid", "plan_complete", "artifact_checksum"]


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


# -- relkit override (a signed act of the PO) ------------------------------------------


def _fingerprint(keys: SshKeys, name: str) -> str:
    """``SHA256:…`` of ``name``'s key, as ssh-keygen prints it."""
    out = subprocess.run(
        ["ssh-keygen", "-l", "-f", f"{keys.key(name)}.pub"], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[1]


def _override(cli: Cli, project: Project, manifest: Path, *args: object) -> Result:
    return cli("-C", project.root, "override", manifest, "--env", "production", *args)


@pytest.mark.parametrize("gate", ["artifact_checksum", "promoted_from"])
def test_override_of_not_overridable_gate_exits_2(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, gate: str
) -> None:
    # even the PO, signing with her own key, cannot pass a policy.not_overridable gate
    result = _override(cli, project, manifest, "--gate", gate, "--reason", "y", "--key", ssh_keys.key("dewi"))
    assert result.code == 2
    assert "cannot be overridden" in result.err
    assert list(project.ledger.entries()) == []


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ([], "--reason"),
        (["--key", "dewi"], "--reason"),
        (["--reason", "PO agreed"], "--key"),
        (["--key", "dewi", "--reason", "   "], "--reason"),
    ],
    ids=["neither", "no-reason", "no-key", "blank-reason"],
)
def test_override_needs_a_key_and_a_reason(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, extra: list[str], names: str
) -> None:
    # who overrides is the signer of --key (no typed --by any more), and why must be said
    args = [ssh_keys.key("dewi") if a == "dewi" else a for a in extra]
    result = _override(cli, project, manifest, "--gate", "window", *args)
    assert result.code == 2
    assert names in result.err
    assert list(project.ledger.entries()) == []


def test_override_unknown_gate_exits_2(cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys) -> None:
    result = _override(
        cli, project, manifest, "--gate", "nonexistent", "--reason", "y", "--key", ssh_keys.key("dewi")
    )
    assert result.code == 2
    assert "unknown gate 'nonexistent'" in result.err
    assert list(project.ledger.entries()) == []


@pytest.mark.parametrize("signer", ["sari", "ops-demo", "mallory"])
def test_override_by_a_key_not_of_the_override_roles_exits_2(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, signer: str
) -> None:
    # policy.override_roles defaults to [po]: QA's and ops' keys, or a key nobody has, do not override
    result = _override(
        cli, project, manifest, "--gate", "notice_sent", "--reason", "y", "--key", ssh_keys.key(signer)
    )
    assert result.code == 2, result.err
    assert "policy.override_roles" in result.err
    assert list(project.ledger.entries()) == []


def test_override_claiming_another_principal_exits_2(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    # --as is only a claim: it must name the principal of the key
    result = cli(
        "-C", project.root, "--as", "dewi", "override", manifest, "--env", "production",
        "--gate", "notice_sent", "--reason", "y", "--key", ssh_keys.key("ops-demo"),
    )  # fmt: skip
    assert result.code == 2, result.err
    assert "'dewi' is not the signer" in result.err
    assert list(project.ledger.entries()) == []


def test_deploy_has_no_override_option_any_more(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    # the unsigned path (a typed --by on the deploy) is gone: an override is its own signed act
    result = cli(
        "-C", project.root, "deploy", manifest, "--env", "production", "--key", ssh_keys.key("ops-demo"),
        "--override", "notice_sent", "--by", "dewi", "--reason", "told users by phone",
    )  # fmt: skip
    assert result.code == 2
    assert "--override" in result.err
    assert list(project.ledger.entries()) == []


def test_override_is_recorded_even_when_other_gates_block(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    m = load_manifest(manifest)
    given = cli(
        "-C", project.root, "-o", "json", "override", manifest, "--env", "production",
        "--gate", "notice_sent", "--reason", "told users by phone", "--key", ssh_keys.key("dewi"),
    )  # fmt: skip
    assert given.code == 0, given.err
    # the signed act: the PO's principal and key, bound to this release on production
    [act] = _entries(project, "act.signed")
    assert act.env == "production"
    assert (act.data["act"], act.data["role"], act.data["principal"]) == ("override", "po", "dewi")
    assert act.data["key"] == _fingerprint(ssh_keys, "dewi")
    statement = act.data["statement"]
    assert (statement["env"], statement["gate"], statement["reason"]) == (
        "production",
        "notice_sent",
        "told users by phone",
    )
    assert (statement["version"], statement["sha256"]) == (m.version, m.artifact.sha256)
    assert given.payload["principal"] == "dewi"

    result = cli(
        "-C", project.root, "--as", "ops-demo", "-o", "json", "deploy", manifest, "--env", "production",
        "--key", ssh_keys.key("ops-demo"),
    )  # fmt: skip
    assert result.code == 3
    [override] = _entries(project, "gate.override")
    assert override.env == "production"
    assert override.data["gate"] == "notice_sent"
    # by: the principal of the key that signed the override, never a typed name
    assert (override.data["by"], override.data["reason"]) == ("dewi", "told users by phone")
    assert override.data["by"] == act.data["principal"]
    assert override.data["failed_because"] == "no successful announcement recorded"
    assert (override.data["version"], override.data["sha256"]) == (m.version, m.artifact.sha256)
    [evaluated] = _entries(project, "gate.evaluated")
    assert override.run_id == evaluated.run_id
    gates = {g["name"]: g for g in evaluated.data["gates"]}
    assert gates["notice_sent"]["passed"] is True
    assert gates["notice_sent"]["overridden_by"] == "dewi"
    assert gates["approvals"]["passed"] is False
    assert evaluated.data["by"] == "ops-demo"
    # the deploy itself was signed by ops-demo's key, for this run
    [deploy_act] = [e for e in _entries(project, "act.signed") if e.data["act"] == "deploy"]
    assert (deploy_act.data["principal"], deploy_act.run_id) == ("ops-demo", evaluated.run_id)
    assert _entries(project, "run.started") == []
    verified = api.ledger_verify(project)  # the chain, and both signatures against allowed_signers
    assert (verified.ok, verified.signed_acts) == (True, 2)


def test_override_of_another_release_does_not_apply(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    # signed for 1.0.0: a deploy of 2.0.0 does not get it
    other = project.root / "releases" / "1.0.0.yml"
    given = cli(
        "-C", project.root, "override", other, "--env", "production",
        "--gate", "notice_sent", "--reason", "told users by phone", "--key", ssh_keys.key("dewi"),
    )  # fmt: skip
    assert given.code == 0, given.err
    result = cli(
        "-C", project.root, "-o", "json", "deploy", manifest, "--env", "production",
        "--key", ssh_keys.key("ops-demo"),
    )  # fmt: skip
    assert result.code == 3
    assert _entries(project, "gate.override") == []
    [evaluated] = _entries(project, "gate.evaluated")
    gates = {g["name"]: g for g in evaluated.data["gates"]}
    assert gates["notice_sent"]["passed"] is False and not gates["notice_sent"]["overridden_by"]


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


def _close(
    cli: Cli, project: Project, manifest: Path, keys: SshKeys, retro: Path, json_out: bool = False
) -> Result:
    """``relkit close`` of production, signed with the PO's (dewi's) key."""
    output = ["-o", "json"] if json_out else []
    return cli("-C", project.root, *output, "close", manifest, "--retro", retro, "--key", keys.key("dewi"))


def test_close_refused_without_verification_and_monitoring(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, tmp_path: Path
) -> None:
    result = _close(cli, project, manifest, ssh_keys, _retro(tmp_path), json_out=True)
    assert result.code == 3
    gates = _gates(result)
    assert list(gates) == ["signers", "verified", "monitoring_elapsed", "retrospective"]
    assert gates["verified"]["passed"] is False
    assert gates["monitoring_elapsed"]["passed"] is False
    assert gates["retrospective"]["passed"] is True
    [evaluated] = _entries(project, "gate.evaluated")
    assert (evaluated.data["stage"], evaluated.env, evaluated.data["passed"]) == (
        "close",
        "production",
        False,
    )
    assert evaluated.data["by"] == "dewi"  # the principal of the key, never a typed name
    assert _entries(project, "release.closed") == []


def test_close_blocked_json_is_one_document(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, tmp_path: Path
) -> None:
    # --output json promises a JSON document on stdout; a blocked close must not print two
    result = _close(cli, project, manifest, ssh_keys, _retro(tmp_path), json_out=True)
    assert result.code == 3
    document = result.doc  # exactly one document: json.loads refuses two
    assert document["error"]["kind"] == "GateBlocked"
    assert "verified" in [g["name"] for g in document["error"]["gates"]["gates"]]


def test_close_text_output_shows_blocked_gates(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, tmp_path: Path
) -> None:
    result = _close(cli, project, manifest, ssh_keys, _retro(tmp_path))
    assert result.code == 3
    rows = _table(result)
    assert "BLOCKED" in rows["verified"]
    assert "BLOCKED" in rows["monitoring_elapsed"]


@pytest.mark.parametrize("text", ["", "  \n\n"])
def test_close_with_empty_retro_exits_2(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, tmp_path: Path, text: str
) -> None:
    result = _close(cli, project, manifest, ssh_keys, _retro(tmp_path, text))
    assert result.code == 2
    assert "is empty" in result.err
    assert list(project.ledger.entries()) == []


def test_close_with_missing_retro_exits_2(
    cli: Cli, project: Project, manifest: Path, ssh_keys: SshKeys, tmp_path: Path
) -> None:
    result = _close(cli, project, manifest, ssh_keys, tmp_path / "nothing.md")
    assert result.code == 2
    assert "not found" in result.err


def test_unsigned_close_of_production_exits_3(
    cli: Cli, project: Project, manifest: Path, tmp_path: Path
) -> None:
    # closing production is the PO's act, signed with her key: a typed --as is not enough
    result = cli("-C", project.root, "--as", "dewi", "close", manifest, "--retro", _retro(tmp_path))
    assert result.code == 3, result.err
    assert "close on production must be signed" in result.err
    assert "add --key" in result.err
    assert list(project.ledger.entries()) == []


@pytest.mark.parametrize(
    ("signer", "claimed", "says"),
    [
        ("sari", None, "is not allowed to sign as po"),  # QA's key: not relkit-po
        ("ops-demo", None, "is not allowed to sign as po"),  # ops' key: not relkit-po
        ("mallory", None, "is not allowed to sign as po"),  # nobody's key
        ("dewi", "sari", "'sari' is not the signer"),  # --as names someone else than the key's principal
    ],
)
def test_close_signed_by_someone_else_than_the_po_exits_2(
    cli: Cli,
    project: Project,
    manifest: Path,
    ssh_keys: SshKeys,
    tmp_path: Path,
    signer: str,
    claimed: str | None,
    says: str,
) -> None:
    who = ["--as", claimed] if claimed else []
    key = ssh_keys.key(signer)
    result = cli("-C", project.root, *who, "close", manifest, "--retro", _retro(tmp_path), "--key", key)
    assert result.code == 2, result.err
    assert says in result.err
    assert list(project.ledger.entries()) == []


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

    key = ssh_keys.key("dewi")
    with pytest.raises(GateBlocked) as info:
        procedure.close(
            project,
            manifest,
            "production",
            _retro(tmp_path),
            "dewi",
            now=since + timedelta(hours=23),
            key=key,
        )
    assert [r.name for r in info.value.report.failed] == ["monitoring_elapsed"]  # type: ignore[attr-defined]
    assert _entries(project, "release.closed") == []

    report = procedure.close(
        project,
        manifest,
        "production",
        _retro(tmp_path),
        None,  # who closes: the principal of the key
        now=since + timedelta(hours=24, minutes=1),
        key=key,
    )
    assert report.passed
    [closed] = _entries(project, "release.closed")
    assert closed.env == "production"
    assert closed.data["version"] == "2.0.0"
    assert closed.data["by"] == "dewi"
    assert closed.data["retro"] == "Went well; migrate step was slow.\n"
    assert closed.data["sha256"] == load_manifest(manifest).artifact.sha256
    # the close is the PO's signed act, bound to this release, and recorded before release.closed
    [act] = [e for e in _entries(project, "act.signed") if e.data["act"] == "close"]
    assert (act.env, act.data["role"], act.data["principal"]) == ("production", "po", "dewi")
    assert act.data["key"] == _fingerprint(ssh_keys, "dewi")
    assert (act.data["statement"]["version"], act.data["statement"]["sha256"]) == (
        "2.0.0",
        closed.data["sha256"],
    )
    assert act.seq < closed.seq
    verified = api.ledger_verify(project)
    assert (verified.ok, verified.signed_acts) == (True, 1)


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
            project,
            manifest,
            "production",
            _retro(tmp_path),
            "dewi",
            now=since + timedelta(hours=25),
            key=ssh_keys.key("dewi"),
        )
    assert [r.name for r in info.value.report.failed] == ["verified"]  # type: ignore[attr-defined]
