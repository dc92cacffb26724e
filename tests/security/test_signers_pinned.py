"""Who may sign is itself on record: the allowed-signers file is pinned in the ledger.

Each attack carried out for real with ssh-keygen keys and the example project's gates and
ledger, the CLI run in-process. Before the pin, whoever could write ``allowed_signers`` (anyone
with a shell on the controller or a commit to the repository) made any key a PO or an operator:
mallory added her key and signed production deploys and overrides as herself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from relkit import pins
from relkit.errors import BadInput
from relkit.project import Project
from relkit.store.sqlite import Ledger
from relkit.usecases import procedure
from tests.support.clirunner import Cli, make_cli
from tests.support.fixtures import SshKeys

PEOPLE = ("sari", "dewi", "ops-demo", "mallory", "rina")
SIGNERS = {"sari": "relkit-qa,relkit-ops", "dewi": "relkit-po,relkit-admin", "ops-demo": "relkit-ops"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> SshKeys:
    return SshKeys(tmp_path_factory.mktemp("signer-keys"), PEOPLE)


@pytest.fixture
def project(example_project: Path, keys: SshKeys) -> Project:
    """The example project; dewi is PO and signers admin. QA's approval of 2.0.0 pins the file."""
    loaded = Project.load(example_project)
    keys.allowed_signers(signers_file(loaded), SIGNERS)
    procedure.approve(loaded, manifest(loaded), "qa", keys.key("sari"), "sari")
    return loaded


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


def signers_file(project: Project) -> Path:
    return project.root / project.config.approvals.allowed_signers


def manifest(project: Project) -> Path:
    return project.root / "releases" / "2.0.0.yml"


def add_signer(project: Project, keys: SshKeys, name: str, namespaces: str) -> None:
    """What an attacker with write access to the repository (or the controller) does."""
    with signers_file(project).open("a") as handle:
        handle.write(f'{name} namespaces="{namespaces}" {keys.public(name)}\n')


def gates(cli: Cli, project: Project, env: str = "production") -> tuple[int, dict]:
    done = cli("-C", project.root, "-o", "json", "gates", manifest(project), "--env", env)
    return done.code, done.payload


def signers_gate(payload: dict) -> dict:
    return next(g for g in payload["gates"] if g["name"] == "signers")


def test_the_first_allowed_signers_is_pinned_on_first_use(cli: Cli, project: Project) -> None:
    [pin] = project.ledger.entries(kind=pins.PINNED)
    text = signers_file(project).read_text()
    assert pin.data["sha256"] == pins.digest(text) and pin.data["signers"] == text and pin.data["first_use"]
    code, payload = gates(cli, project, "staging")
    assert code == 0
    assert signers_gate(payload)["passed"] and pin.data["sha256"][:12] in signers_gate(payload)["reason"]
    shown = cli("-C", project.root, "signers", "show")
    assert shown.code == 0 and f"pinned at ledger row {pin.seq}" in shown.out


def test_a_key_added_to_allowed_signers_signs_nothing_and_the_gates_refuse(
    cli: Cli, project: Project, keys: SshKeys
) -> None:
    add_signer(project, keys, "mallory", "relkit-ops,relkit-po,relkit-qa")

    deploy = cli(
        "-C", project.root, "-o", "json", "deploy", manifest(project), "--env", "production",
        "--key", keys.key("mallory"),
    )  # fmt: skip
    assert deploy.code == 2
    assert "no principal has this key" in deploy.doc["error"]["message"]
    override = cli(
        "-C", project.root, "override", manifest(project), "--env", "production", "--gate", "window",
        "--reason", "urgent", "--key", keys.key("mallory"),
    )  # fmt: skip
    assert override.code == 2
    with pytest.raises(BadInput, match=r"signature rejected"):
        procedure.approve(project, manifest(project), "po", keys.key("mallory"), "mallory")
    assert [e.data["principal"] for e in project.ledger.entries(kind="act.signed")] == []

    for env in ("staging", "production"):
        code, payload = gates(cli, project, env)
        assert code == 3
        gate = signers_gate(payload)
        assert not gate["passed"] and "is not the file pinned in the ledger" in gate["reason"]
        assert "relkit signers update" in gate["remedy"]
    shown = cli("-C", project.root, "signers", "show")
    assert shown.code == 1 and "+mallory" in shown.out.replace(" ", "")


def test_no_override_passes_the_signers_gate(cli: Cli, project: Project, keys: SshKeys) -> None:
    add_signer(project, keys, "mallory", "relkit-ops")
    done = cli(
        "-C", project.root, "override", manifest(project), "--env", "production", "--gate", "signers",
        "--reason", "let me", "--key", keys.key("dewi"),
    )  # fmt: skip
    assert done.code == 2 and "cannot be overridden" in done.err


def test_only_a_signers_admin_of_the_pinned_file_changes_it(
    cli: Cli, project: Project, keys: SshKeys
) -> None:
    add_signer(project, keys, "rina", "relkit-qa")
    refused = cli(
        "-C", project.root, "signers", "update", "--key", keys.key("sari"), "--reason", "rina joins"
    )
    assert refused.code == 2 and "not allowed to sign as admin" in refused.err
    assert gates(cli, project, "staging")[0] == 3

    # mallory makes herself admin in the file: the pinned file, not the proposed one, decides
    add_signer(project, keys, "mallory", "relkit-admin")
    refused = cli("-C", project.root, "signers", "update", "--key", keys.key("mallory"), "--reason", "me")
    assert refused.code == 2
    assert len(list(project.ledger.entries(kind=pins.PINNED))) == 1

    lines = signers_file(project).read_text().splitlines()
    signers_file(project).write_text("\n".join(line for line in lines if "mallory" not in line) + "\n")
    done = cli(
        "-C", project.root, "-o", "json", "signers", "update", "--key", keys.key("dewi"), "--reason", "rina"
    )
    assert done.code == 0, done.err
    first, second = project.ledger.entries(kind=pins.PINNED)
    [change] = project.ledger.entries(kind="act.signed")
    assert (change.data["act"], change.data["principal"], change.data["role"]) == ("signers", "dewi", "admin")
    assert change.data["statement"]["from_sha256"] == first.data["sha256"]
    assert (
        change.data["statement"]["to_sha256"]
        == second.data["sha256"]
        == pins.digest(signers_file(project).read_text())
    )
    code, payload = gates(cli, project, "staging")
    assert code == 0 and signers_gate(payload)["passed"]
    verified = cli("-C", project.root, "-o", "json", "ledger", "verify")
    assert verified.code == 0
    assert verified.payload["signer_pins"] == 2 and verified.payload["signed_acts"] == 1


def test_a_pin_appended_to_the_ledger_without_a_signed_change_counts_for_nothing(
    cli: Cli, project: Project, keys: SshKeys
) -> None:
    add_signer(project, keys, "mallory", "relkit-ops,relkit-admin")
    text = signers_file(project).read_text()
    store = Ledger(project.state_dir / "ledger.db")  # a valid chain row: anyone can compute one
    forged = store.append(pins.PINNED, data={"sha256": pins.digest(text), "signers": text, "first_use": True})
    store.close()

    code, payload = gates(cli, project, "staging")
    assert code == 3 and not signers_gate(payload)["passed"]
    deploy = cli(
        "-C", project.root, "deploy", manifest(project), "--env", "production", "--key", keys.key("mallory")
    )
    assert deploy.code == 2
    broken = cli("-C", project.root, "ledger", "verify")
    assert broken.code == 1
    assert f"row {forged.seq}" in broken.err and "no change signed by a signers admin" in broken.err


def test_a_signed_act_names_the_pinned_signers_it_was_made_under(
    cli: Cli, project: Project, keys: SshKeys
) -> None:
    done = cli(
        "-C", project.root, "override", manifest(project), "--env", "production", "--gate", "window",
        "--reason", "hotfix", "--key", keys.key("dewi"),
    )  # fmt: skip
    assert done.code == 0, done.err
    [pin] = project.ledger.entries(kind=pins.PINNED)
    [act] = project.ledger.entries(kind="act.signed")
    assert act.data["statement"]["signers"] == pin.data["sha256"]
