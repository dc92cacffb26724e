"""Identity from keys, not names: each attack of a typed-name identity, carried out for real.

Real ed25519 keys made by ssh-keygen, the example project's real gates and ledger, the CLI run
in-process. Before signed acts, ``--as`` / ``--by`` decided who acted: the QA approver deployed
her own release as ``bob``, an override said ``--by dewi`` whoever typed it, and a script that
re-sealed the hash chain after renaming the deployer left ``relkit ledger verify`` saying
"chain intact".
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from relkit.chain import GENESIS, Entry, seal
from relkit.project import Project
from relkit.usecases import procedure, signers
from tests.support.clirunner import Cli, make_cli
from tests.support.fixtures import SshKeys

PEOPLE = ("sari", "dewi", "ops-demo", "bob")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> SshKeys:
    return SshKeys(tmp_path_factory.mktemp("act-keys"), PEOPLE)


@pytest.fixture
def project(example_project: Path, keys: SshKeys) -> Project:
    """The example project: sari may sign as QA and as ops, dewi as PO (and signers admin),
    ops-demo as ops; bob is nobody's. Both approvals of 2.0.0 given by their owners."""
    loaded = Project.load(example_project)
    keys.allowed_signers(
        loaded.root / loaded.config.approvals.allowed_signers,
        {"sari": "relkit-qa,relkit-ops", "dewi": "relkit-po,relkit-admin", "ops-demo": "relkit-ops"},
    )
    manifest = loaded.root / "releases" / "2.0.0.yml"
    procedure.approve(loaded, manifest, "qa", keys.key("sari"), "sari")
    procedure.approve(loaded, manifest, "po", keys.key("dewi"), "dewi")
    return loaded


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


def deploy_to_production(cli: Cli, project: Project, *args: str | Path) -> tuple[int, dict]:
    """The exit code and the JSON envelope's ``error`` (its kind, message and blocking gates)."""
    manifest = project.root / "releases" / "2.0.0.yml"
    done = cli("-C", project.root, "-o", "json", "deploy", manifest, "--env", "production", *args)
    return done.code, done.doc["error"] or {}


def failed_gates(payload: dict) -> dict[str, str]:
    return {g["name"]: g["reason"] for g in payload["gates"]["gates"] if not g["passed"]}


def gate(payload: dict, name: str) -> dict:
    return next(g for g in payload["gates"]["gates"] if g["name"] == name)


def test_an_unsigned_deploy_to_production_is_refused(cli: Cli, project: Project) -> None:
    code, payload = deploy_to_production(cli, project, "--as", "bob")
    assert code == 3
    assert payload["kind"] == "Unsigned" and "--key" in payload["message"]
    assert list(project.ledger.entries(kind="gate.evaluated")) == []  # refused before the gates


def test_the_qa_approver_cannot_deploy_her_release_as_bob(cli: Cli, project: Project, keys: SshKeys) -> None:
    code, payload = deploy_to_production(cli, project, "--as", "bob", "--key", str(keys.key("sari")))
    assert code == 2
    assert "'bob' is not the signer" in payload["message"] and "sari" in payload["message"]

    code, payload = deploy_to_production(cli, project, "--key", str(keys.key("sari")))
    assert code == 3
    assert "sari approved this release" in failed_gates(payload)["four_eyes"]
    [act] = project.ledger.entries(kind="act.signed")
    assert (act.data["act"], act.data["principal"], act.data["role"]) == ("deploy", "sari", "ops")


def test_a_key_nobody_allowed_signs_nothing(cli: Cli, project: Project, keys: SshKeys) -> None:
    code, payload = deploy_to_production(cli, project, "--as", "bob", "--key", str(keys.key("bob")))
    assert code == 2 and "nobody" in payload["message"]
    code, payload = deploy_to_production(cli, project, "--key", str(keys.key("dewi")))  # PO, not ops
    assert code == 2 and "not allowed to sign as ops" in payload["message"]
    assert list(project.ledger.entries(kind="act.signed")) == []


def test_an_override_is_the_signers_not_a_typed_name(cli: Cli, project: Project, keys: SshKeys) -> None:
    manifest = project.root / "releases" / "2.0.0.yml"
    args = ("-C", project.root, "override", manifest, "--env", "production", "--gate", "window")
    refused = cli(*args, "--reason", "hotfix", "--as", "dewi", "--key", str(keys.key("ops-demo")))
    assert refused.code == 2 and "is not the signer" in refused.err
    refused = cli(*args, "--reason", "hotfix", "--key", str(keys.key("ops-demo")))
    assert refused.code == 2 and "relkit-po signers may override" in refused.err
    assert list(project.ledger.entries(kind="act.signed")) == []

    done = cli(*args, "--reason", "hotfix", "--key", str(keys.key("dewi")))
    assert done.code == 0, done.err
    [act] = project.ledger.entries(kind="act.signed")
    assert (act.data["act"], act.data["principal"], act.data["role"]) == ("override", "dewi", "po")
    statement = act.data["statement"]
    assert (statement["gate"], statement["version"], statement["env"]) == ("window", "2.0.0", "production")

    _, payload = deploy_to_production(cli, project, "--key", str(keys.key("ops-demo")))
    window = gate(payload, "window")
    assert window["overridden_by"] == "dewi" and window["override_reason"] == "hotfix"


def test_an_approver_cannot_override_four_eyes_for_herself(
    cli: Cli, project: Project, keys: SshKeys, example_project: Path
) -> None:
    keys.allowed_signers(  # sari may also override (an approver and a PO-role signer)
        project.root / project.config.approvals.allowed_signers,
        {
            "sari": "relkit-qa,relkit-ops,relkit-po",
            "dewi": "relkit-po,relkit-admin",
            "ops-demo": "relkit-ops",
        },
    )
    signers.update(project, keys.key("dewi"), None, "sari may override")  # the admin signs the change
    manifest = project.root / "releases" / "2.0.0.yml"
    done = cli(
        "-C", project.root, "override", manifest, "--env", "production", "--gate", "four_eyes",
        "--reason", "nobody else is here", "--key", str(keys.key("sari")),
    )  # fmt: skip
    assert done.code == 0, done.err  # recorded, signed: but it cannot serve her own deploy
    code, payload = deploy_to_production(cli, project, "--key", str(keys.key("sari")))
    assert code == 3
    four_eyes = gate(payload, "four_eyes")
    assert not four_eyes["passed"] and four_eyes["overridden_by"] == ""
    assert "sari approved this release" in four_eyes["reason"]


def test_unsigned_rollback_unlock_and_close_of_production_are_refused(cli: Cli, project: Project) -> None:
    root = project.root
    rollback = cli("-C", root, "rollback", "--env", "production", "--by", "dewi", "--reason", "broken")
    assert rollback.code == 3 and "--key" in rollback.err
    unlock = cli("-C", root, "unlock", "--env", "production", "--by", "dewi")
    assert unlock.code == 3 and "--key" in unlock.err
    retro = root / "retro.md"
    retro.write_text("went well\n")
    close = cli("-C", root, "--as", "dewi", "close", root / "releases" / "2.0.0.yml", "--retro", retro)
    assert close.code == 3 and "--key" in close.err
    assert [
        e.kind for e in project.ledger.entries() if e.kind.startswith(("run.", "lock.", "release."))
    ] == []


def reseal_after(project: Project, rewrite: dict[int, dict]) -> None:
    """The attacker's script: rewrite rows' data, re-seal every row, rewrite the head file."""
    db = project.state_dir / "ledger.db"
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT seq, ts, run_id, kind, env, host, data FROM entries ORDER BY seq"
        ).fetchall()
        prev = GENESIS
        for seq, ts, run_id, kind, env, host, data in rows:
            entry = Entry(seq, ts, run_id, kind, env, host, rewrite.get(seq, json.loads(data)))
            sealed = seal(entry, prev)
            conn.execute(
                "UPDATE entries SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (json.dumps(sealed.data, sort_keys=True), sealed.prev_hash, sealed.hash, seq),
            )
            prev = sealed.hash
        conn.commit()
        last = conn.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
    (db.parent / "ledger.db.head").write_text(json.dumps({"seq": last[0], "hash": last[1]}))


def test_a_resealed_ledger_breaks_the_signed_acts_after_the_rewrite(
    cli: Cli, project: Project, keys: SshKeys
) -> None:
    project.ledger.append("gate.override", env="production", data={"gate": "window", "by": "dewi"})
    code, _ = deploy_to_production(cli, project, "--key", str(keys.key("ops-demo")))
    assert code == 3  # blocked, but the signed deploy act is on record
    assert cli("-C", project.root, "ledger", "verify").code == 0
    [override] = project.ledger.entries(kind="gate.override")
    [act] = project.ledger.entries(kind="act.signed")
    assert act.data["statement"]["ledger_head"]["seq"] >= override.seq
    project.close()

    reseal_after(project, {override.seq: {"gate": "window", "by": "nobody"}})
    assert Project.load(project.root).ledger.verify().ok  # the chain alone: "intact"
    verify = cli("-C", project.root, "ledger", "verify")
    assert verify.code == 1
    assert f"at row {act.seq}" in verify.err and "rewritten" in verify.err


def test_a_signed_act_whose_signer_was_renamed_does_not_verify(
    cli: Cli, project: Project, keys: SshKeys
) -> None:
    code, _ = deploy_to_production(cli, project, "--key", str(keys.key("ops-demo")))
    assert code == 3
    [act] = project.ledger.entries(kind="act.signed")
    project.close()
    reseal_after(project, {act.seq: {**act.data, "principal": "dewi"}})
    verify = cli("-C", project.root, "ledger", "verify")
    assert verify.code == 1 and f"at row {act.seq}" in verify.err and "does not verify" in verify.err
