"""Approvals bound to the plan: each attack on the signed QA and PO approvals, carried out for real.

Real ed25519 keys (``ssh_keys``: sari, dewi, mallory), the example project's allowed-signers
file written for each attack, records beside releases/2.0.0.yml (owners: QA sari, PO dewi) and
the gates evaluated by the gatekeeper as a production deploy would.

1. one principal listed in allowed_signers for both relkit-qa and relkit-po approved as both;
2. one key registered under two principals (sari for QA, dewi for PO) gave both approvals;
3. the PO signed first with a timestamp of her choosing (2030-01-01), QA later: "the PO approval
   is newer than the QA approval" held, since both clocks belong to the signers;
4. a signer allowed for the role but not the manifest's QA or PO owner approved.

Where relkit now refuses to write such an approval, the signer does what relkit would have
done with ``ssh-keygen -Y sign`` herself (the record format is public): the gates must refuse
the record, not only ``relkit approve``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from relkit import approvals, gatekeeper
from relkit.errors import BadInput
from relkit.gates import GateResult
from relkit.loading import load_manifest
from relkit.project import Project
from relkit.usecases import procedure
from tests.support.fixtures import SshKeys

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
CHOSEN = datetime(2030, 1, 1, tzinfo=UTC)
"""The date a PO who signs before QA writes into her approval."""
HONEST = (("sari", "relkit-qa", "sari"), ("dewi", "relkit-po", "dewi"))
"""allowed_signers lines as (principal, namespaces, whose key): the example's QA and PO."""


@pytest.fixture
def project(example_project: Path) -> Iterator[Project]:
    with Project.load(example_project) as loaded:
        yield loaded


@pytest.fixture
def manifest(project: Project) -> Path:
    return project.root / "releases" / "2.0.0.yml"


def _allow(project: Project, keys: SshKeys, *lines: tuple[str, str, str]) -> None:
    """The project's allowed-signers file: one ``principal namespaces="…" <key of whom>`` per line."""
    path = project.root / project.config.approvals.allowed_signers
    path.write_text("".join(f'{who} namespaces="{ns}" {keys.public(key)}\n' for who, ns, key in lines))


def _set_owner(manifest: Path, role: str, name: str) -> None:
    data = yaml.safe_load(manifest.read_text())
    data["owners"][role] = name
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))


def _fingerprint(keys: SshKeys, name: str) -> str:
    done = subprocess.run(
        ["ssh-keygen", "-l", "-f", f"{keys.key(name)}.pub"], capture_output=True, text=True, check=True
    )
    return done.stdout.split()[1]


def _records(manifest: Path) -> list[dict[str, Any]]:
    folder = approvals.record_dir(manifest)
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def _record_digest(record: dict[str, Any]) -> str:
    """The documented digest of a record: sha256 of ``{"payload", "signature"}`` as canonical JSON."""
    canonical = json.dumps(
        {"payload": record["payload"], "signature": record["signature"]},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _qa_digests(manifest: Path) -> list[str]:
    return sorted(
        _record_digest(r)
        for r in _records(manifest)
        if (r["payload"]["kind"], r["payload"]["role"]) == ("approval", "qa")
    )


def _forge(
    manifest: Path, keys: SshKeys, role: str, by: str, key: str, at: datetime, follows: Any = None
) -> Path:
    """What a signer makes without relkit: relkit's payload, signed with ``ssh-keygen -Y sign``."""
    m = load_manifest(manifest)
    payload: dict[str, Any] = {
        "kind": "approval",
        "role": role,
        "by": by,
        "at": at.isoformat(timespec="seconds"),
        "env": "",
        "app": m.app,
        "version": m.version,
        "sha256": m.artifact.sha256,
        "digest": approvals.manifest_digest(m),
    }
    if follows is not None:
        payload["follows"] = follows
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "payload"
        data.write_bytes(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
        subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-q", "-f", str(keys.key(key)), "-n", f"relkit-{role}", str(data)],
            check=True,
            capture_output=True,
        )
        record = {"payload": payload, "signature": Path(f"{data}.sig").read_text()}
    folder = approvals.record_dir(manifest)
    folder.mkdir(exist_ok=True)
    path = folder / f"approval-{role}-{by}-by-hand-{at:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(record, indent=2))
    return path


def _approve(
    project: Project, manifest: Path, keys: SshKeys, role: str, by: str, key: str, at: datetime
) -> bool:
    """``relkit approve`` as ``by`` with ``key``; when relkit refuses, the signer signs the same
    payload by hand (a PO following every QA record there is). True when relkit refused."""
    try:
        procedure.approve(project, manifest, role, keys.key(key), by, now=at)
    except BadInput:
        _forge(manifest, keys, role, by, key, at, _qa_digests(manifest) if role == "po" else None)
        return True
    return False


def _gates(project: Project, manifest: Path, actor: str = "ops-demo") -> dict[str, GateResult]:
    """The production deploy's gates as the gatekeeper evaluates them."""
    checked = gatekeeper.evaluate(
        project, manifest, "production", actor=actor, now=LATER + timedelta(hours=1)
    )
    return {r.name: r for r in checked.report.results}


# -- 1. one principal for both roles -------------------------------------------------------


@pytest.mark.parametrize("po_owner", ["dewi", "sari"], ids=["manifest-po-dewi", "manifest-po-sari"])
def test_one_principal_allowed_for_both_roles_cannot_approve_as_both(
    project: Project, manifest: Path, ssh_keys: SshKeys, po_owner: str
) -> None:
    _allow(project, ssh_keys, ("sari", "relkit-qa,relkit-po", "sari"), ("dewi", "relkit-po", "dewi"))
    _set_owner(manifest, "po", po_owner)  # even a manifest naming sari for both roles does not help
    assert not _approve(project, manifest, ssh_keys, "qa", "sari", "sari", NOW)
    refused = _approve(project, manifest, ssh_keys, "po", "sari", "sari", LATER)

    gates = _gates(project, manifest)
    assert not gates["approvals"].passed, gates["approvals"].reason
    assert "sari gave both the QA and the PO approval" in gates["approvals"].reason
    if po_owner == "dewi":
        assert "signed by sari, but the manifest names dewi as PO owner" in gates["approvals"].reason
    assert not gates["four_eyes"].passed, gates["four_eyes"].reason
    assert "sari gave both the QA and the PO approval" in gates["four_eyes"].reason
    assert refused, "relkit wrote a PO approval by the QA approver"


def test_one_principal_with_two_keys_cannot_approve_as_both(
    project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    # sari holds two keys, one registered for each role; the manifest names her for both
    _allow(project, ssh_keys, ("sari", "relkit-qa", "sari"), ("sari", "relkit-po", "mallory"))
    _set_owner(manifest, "po", "sari")
    assert not _approve(project, manifest, ssh_keys, "qa", "sari", "sari", NOW)
    refused = _approve(project, manifest, ssh_keys, "po", "sari", "mallory", LATER)

    gates = _gates(project, manifest)
    assert not gates["approvals"].passed, gates["approvals"].reason
    assert "sari gave both the QA and the PO approval" in gates["approvals"].reason
    assert not gates["four_eyes"].passed
    assert refused


# -- 2. one key under two principals ---------------------------------------------------------


@pytest.mark.parametrize("owner_of_key", ["sari", "dewi"])
def test_one_key_registered_under_two_principals_cannot_approve_as_both(
    project: Project, manifest: Path, ssh_keys: SshKeys, owner_of_key: str
) -> None:
    key = owner_of_key  # the one key both lines of allowed_signers carry
    _allow(project, ssh_keys, ("sari", "relkit-qa", key), ("dewi", "relkit-po", key))
    assert not _approve(project, manifest, ssh_keys, "qa", "sari", key, NOW)
    refused = _approve(project, manifest, ssh_keys, "po", "dewi", key, LATER)

    fingerprint = _fingerprint(ssh_keys, key)
    gates = _gates(project, manifest)
    assert not gates["approvals"].passed, gates["approvals"].reason
    expected = f"the QA approval by sari and the PO approval by dewi were signed with one key ({fingerprint})"
    assert expected in gates["approvals"].reason
    assert not gates["four_eyes"].passed, gates["four_eyes"].reason
    assert expected in gates["four_eyes"].reason
    assert refused, "relkit wrote a PO approval signed with the QA approver's key"


# -- 3. the PO signs first, with a date of her choosing ---------------------------------------


@pytest.mark.parametrize("how", ["relkit", "no-follows", "made-up-follows"])
def test_po_signing_before_qa_with_a_chosen_date_is_refused(
    project: Project, manifest: Path, ssh_keys: SshKeys, how: str
) -> None:
    _allow(project, ssh_keys, *HONEST)
    if how == "relkit":
        refused = _approve(project, manifest, ssh_keys, "po", "dewi", "dewi", CHOSEN)
        assert refused, "relkit wrote a PO approval with no QA approval to follow"
    else:  # the old record format, or a digest the PO made up: no QA record existed to name
        _forge(manifest, ssh_keys, "po", "dewi", "dewi", CHOSEN, None if how == "no-follows" else ["0" * 64])
    assert not _approve(project, manifest, ssh_keys, "qa", "sari", "sari", NOW)

    gates = _gates(project, manifest)
    assert not gates["approvals"].passed, gates["approvals"].reason
    assert "PO approval by dewi follows no valid QA approval of this manifest" in gates["approvals"].reason
    assert gates["approvals"].remedy == "PO: relkit approve MANIFEST --role po --key KEY (after QA)"

    # the way out: the PO approves after QA; relkit names the QA record in what she signs
    assert not _approve(project, manifest, ssh_keys, "po", "dewi", "dewi", LATER)
    gates = _gates(project, manifest)
    assert gates["approvals"].passed, gates["approvals"].reason
    assert gates["four_eyes"].passed, gates["four_eyes"].reason


# -- 4. a signer who is not the manifest's owner ------------------------------------------------


def test_qa_approval_by_someone_not_the_manifests_qa_owner_does_not_count(
    project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    _allow(project, ssh_keys, *HONEST, ("mallory", "relkit-qa", "mallory"))  # a QA, not this release's
    refused = _approve(project, manifest, ssh_keys, "qa", "mallory", "mallory", NOW)
    # relkit refuses the PO's approval as well (no QA approval by the QA owner to follow), so the
    # PO signs by hand, following mallory's record
    po_refused = _approve(project, manifest, ssh_keys, "po", "dewi", "dewi", LATER)

    gates = _gates(project, manifest)
    assert not gates["approvals"].passed, gates["approvals"].reason
    assert "signed by mallory, but the manifest names sari as QA owner" in gates["approvals"].reason
    assert "no valid QA approval" in gates["approvals"].reason
    assert refused, "relkit wrote a QA approval by someone the manifest does not name"
    assert po_refused, "relkit wrote a PO approval following only a non-owner's QA approval"


def test_po_approval_by_someone_not_the_manifests_po_owner_does_not_count(
    project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    _allow(project, ssh_keys, *HONEST, ("mallory", "relkit-po", "mallory"))
    assert not _approve(project, manifest, ssh_keys, "qa", "sari", "sari", NOW)
    refused = _approve(project, manifest, ssh_keys, "po", "mallory", "mallory", LATER)

    gates = _gates(project, manifest)
    assert not gates["approvals"].passed, gates["approvals"].reason
    assert "signed by mallory, but the manifest names dewi as PO owner" in gates["approvals"].reason
    assert "no valid PO approval" in gates["approvals"].reason
    assert refused


# -- the honest order -----------------------------------------------------------------------


def test_honest_order_passes_and_the_po_signs_the_qa_record_she_follows(
    project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    _allow(project, ssh_keys, *HONEST)
    assert not _approve(project, manifest, ssh_keys, "qa", "sari", "sari", NOW)
    assert not _approve(project, manifest, ssh_keys, "po", "dewi", "dewi", LATER)

    [qa] = [r for r in _records(manifest) if r["payload"]["role"] == "qa"]
    [po] = [r for r in _records(manifest) if r["payload"]["role"] == "po"]
    assert po["payload"]["follows"] == [_record_digest(qa)]
    assert "follows" not in qa["payload"]
    gates = _gates(project, manifest)
    assert gates["approvals"].passed, gates["approvals"].reason
    assert gates["approvals"].reason == "QA: sari, then PO: dewi"
    assert gates["four_eyes"].passed, gates["four_eyes"].reason
    for approver in ("sari", "dewi"):  # the typed deployer name is still compared
        assert "self-approval" in _gates(project, manifest, actor=approver)["four_eyes"].reason


def test_a_new_qa_approval_needs_a_new_po_approval(
    project: Project, manifest: Path, ssh_keys: SshKeys
) -> None:
    _allow(project, ssh_keys, *HONEST)
    _approve(project, manifest, ssh_keys, "qa", "sari", "sari", NOW)
    _approve(project, manifest, ssh_keys, "po", "dewi", "dewi", LATER)
    # QA approves again (a replaced QA approval), dated before the PO's: the date changes nothing
    assert not _approve(project, manifest, ssh_keys, "qa", "sari", "sari", NOW - timedelta(days=1))

    gate = _gates(project, manifest)["approvals"]
    assert not gate.passed, gate.reason
    assert "QA approval by sari (2026-11-15 10:00) is followed by no PO approval" in gate.reason
    assert gate.remedy == "PO: relkit approve MANIFEST --role po --key KEY (after QA)"

    assert not _approve(project, manifest, ssh_keys, "po", "dewi", "dewi", LATER + timedelta(minutes=5))
    assert _gates(project, manifest)["approvals"].passed
