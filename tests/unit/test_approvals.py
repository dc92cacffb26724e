"""Signed approvals (relkit.approvals): real ssh-keygen keys and an allowed-signers file in tmp_path.

sari may sign for QA (namespace relkit-qa), dewi for PO (relkit-po); mallory is in no file.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from relkit import approvals
from relkit.errors import BadInput
from relkit.loading import load_manifest
from relkit.manifest import Manifest
from tests.support.factories import SHA_B, full_manifest_data
from tests.support.fixtures import SshKeys

NOW = datetime(2026, 11, 9, 10, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 9, 11, 0, tzinfo=UTC)


@pytest.fixture
def allowed(tmp_path: Path, ssh_keys: SshKeys) -> Path:
    return ssh_keys.allowed_signers(tmp_path / "allowed_signers")


@pytest.fixture
def manifest_path(tmp_path: Path) -> Path:
    path = tmp_path / "releases" / "1.2.3.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(full_manifest_data(), sort_keys=False))
    return path


def _sign(
    manifest_path: Path,
    ssh_keys: SshKeys,
    allowed: Path,
    role: str,
    by: str,
    key: str | None = None,
    **kw: Any,
) -> tuple[Path, Any]:
    return approvals.sign(
        manifest_path,
        load_manifest(manifest_path),
        kind=kw.pop("kind", "approval"),
        role=role,
        by=by,
        key=ssh_keys.key(key or by),
        allowed_signers=allowed,
        now=kw.pop("now", NOW),
        **kw,
    )


def _load(manifest_path: Path, allowed: Path) -> list[Any]:
    return approvals.load(manifest_path, load_manifest(manifest_path), allowed)


def _ssh_sign(key: Path, namespace: str, payload: dict[str, Any], tmp: Path) -> str:
    """What ``ssh-keygen -Y sign`` makes of the canonical payload (sorted keys, no spaces)."""
    data = tmp / f"payload-{namespace}-{key.name}"
    data.write_bytes(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-f", str(key), "-n", namespace, str(data)], check=True)
    return Path(f"{data}.sig").read_text()


def _fingerprint(keys: SshKeys, name: str) -> str:
    done = subprocess.run(
        ["ssh-keygen", "-l", "-f", f"{keys.key(name)}.pub"], capture_output=True, text=True, check=True
    )
    return done.stdout.split()[1]


def _payload(manifest: Manifest, role: str, by: str, **overrides: Any) -> dict[str, Any]:
    payload = {
        "kind": "approval",
        "role": role,
        "by": by,
        "at": NOW.isoformat(),
        "env": "",
        "app": manifest.app,
        "version": manifest.version,
        "sha256": manifest.artifact.sha256,
        "digest": approvals.manifest_digest(manifest),
    }
    payload.update(overrides)
    return payload


def _edit(path: Path, **changes: Any) -> None:
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# -- sign and load ---------------------------------------------------------------------


def test_namespaces() -> None:
    assert approvals.namespace("qa") == "relkit-qa"
    assert approvals.namespace("po") == "relkit-po"


def test_record_dir_is_beside_the_manifest(manifest_path: Path) -> None:
    assert approvals.record_dir(manifest_path) == manifest_path.parent / "1.2.3.approvals"


def test_sign_and_load_round_trip(manifest_path: Path, ssh_keys: SshKeys, allowed: Path) -> None:
    path, sig = _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    assert path == manifest_path.parent / "1.2.3.approvals" / "approval-qa-sari-2026-11-09T100000Z.json"
    assert (sig.role, sig.by, sig.at, sig.valid, sig.kind, sig.problem) == (
        "qa",
        "sari",
        NOW,
        True,
        "approval",
        "",
    )
    loaded = _load(manifest_path, allowed)
    assert loaded == [sig]


def test_record_holds_payload_and_ssh_signature(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path
) -> None:
    # a PO approval follows a QA approval now (it was signed alone before): its payload names
    # the QA record's digest in ``follows``; a QA approval's payload is unchanged
    qa_path, qa_sig = _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    path, sig = _sign(manifest_path, ssh_keys, allowed, "po", "dewi", now=LATER)
    qa_record, record = json.loads(qa_path.read_text()), json.loads(path.read_text())
    manifest = load_manifest(manifest_path)
    assert qa_record["payload"] == _payload(manifest, "qa", "sari")
    digest = approvals.record_digest(qa_record)
    assert record["payload"] == _payload(manifest, "po", "dewi", at=LATER.isoformat(), follows=[digest])
    assert record["signature"].startswith("-----BEGIN SSH SIGNATURE-----")
    canonical = json.dumps(qa_record, sort_keys=True, separators=(",", ":")).encode()
    assert digest == qa_sig.digest == hashlib.sha256(canonical).hexdigest()
    assert (sig.follows, sig.digest) == ((digest,), approvals.record_digest(record))


def test_signature_names_the_signing_keys_fingerprint(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path
) -> None:
    _, sig = _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    [loaded] = _load(manifest_path, allowed)
    assert sig.key == loaded.key == _fingerprint(ssh_keys, "sari")
    assert sig.key.startswith("SHA256:")


def test_qa_and_po_and_verification_all_load(manifest_path: Path, ssh_keys: SshKeys, allowed: Path) -> None:
    _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    _sign(manifest_path, ssh_keys, allowed, "po", "dewi", now=datetime(2026, 11, 9, 11, tzinfo=UTC))
    _sign(
        manifest_path,
        ssh_keys,
        allowed,
        "po",
        "dewi",
        kind="verification",
        env="production",
        now=datetime(2026, 11, 11, 9, tzinfo=UTC),
    )
    loaded = _load(manifest_path, allowed)
    assert all(s.valid for s in loaded), [s.problem for s in loaded]
    assert sorted((s.kind, s.role, s.by, s.env) for s in loaded) == [
        ("approval", "po", "dewi", ""),
        ("approval", "qa", "sari", ""),
        ("verification", "po", "dewi", "production"),
    ]


def test_load_without_records(manifest_path: Path, allowed: Path) -> None:
    assert _load(manifest_path, allowed) == []


# -- what does not verify ---------------------------------------------------------------


def test_manifest_edited_after_approval(manifest_path: Path, ssh_keys: SshKeys, allowed: Path) -> None:
    _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    _edit(manifest_path, rollback_plan="a different plan, written after QA approved")
    [sig] = _load(manifest_path, allowed)
    assert not sig.valid
    assert "edited after" in sig.problem
    assert (sig.role, sig.by) == ("qa", "sari")


def test_artifact_sha_changed_after_approval(manifest_path: Path, ssh_keys: SshKeys, allowed: Path) -> None:
    _sign(manifest_path, ssh_keys, allowed, "qa", "sari")  # a PO approval follows a QA one now
    _sign(manifest_path, ssh_keys, allowed, "po", "dewi", now=LATER)
    data = yaml.safe_load(manifest_path.read_text())
    data["artifact"]["sha256"] = SHA_B
    manifest_path.write_text(yaml.safe_dump(data))
    loaded = _load(manifest_path, allowed)
    assert sorted(s.role for s in loaded) == ["po", "qa"]
    for sig in loaded:
        assert not sig.valid
        assert "edited after" in sig.problem


def test_reformatting_the_manifest_keeps_the_approval(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path
) -> None:
    _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    data = yaml.safe_load(manifest_path.read_text())
    manifest_path.write_text("# reviewed\n" + yaml.safe_dump(data, sort_keys=True, indent=4))
    [sig] = _load(manifest_path, allowed)
    assert sig.valid, sig.problem


def test_approval_copied_to_another_release(manifest_path: Path, ssh_keys: SshKeys, allowed: Path) -> None:
    path, _ = _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    other = manifest_path.with_name("1.2.4.yml")
    other.write_text(yaml.safe_dump(full_manifest_data(version="1.2.4")))
    approvals.record_dir(other).mkdir()
    (approvals.record_dir(other) / path.name).write_text(path.read_text())
    [sig] = _load(other, allowed)
    assert not sig.valid


def test_signature_from_another_key_is_rejected(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path, tmp_path: Path
) -> None:
    path, _ = _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    record = json.loads(path.read_text())
    record["signature"] = _ssh_sign(ssh_keys.key("mallory"), "relkit-qa", record["payload"], tmp_path)
    path.write_text(json.dumps(record))
    [sig] = _load(manifest_path, allowed)
    assert not sig.valid
    assert "signature rejected for sari as qa" in sig.problem


def test_signature_from_another_signer_is_rejected(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path, tmp_path: Path
) -> None:
    # dewi is a real signer, but not sari: dewi cannot approve in sari's name
    manifest = load_manifest(manifest_path)
    payload = _payload(manifest, "qa", "sari")
    forged = {
        "payload": payload,
        "signature": _ssh_sign(ssh_keys.key("dewi"), "relkit-qa", payload, tmp_path),
    }
    assert not approvals.verify_record(forged, allowed, manifest).valid


@pytest.mark.parametrize(
    "edit",
    [
        {"at": "2026-11-01T10:00:00+00:00"},
        {"by": "dewi"},
        {"role": "po"},
        {"kind": "verification"},
        {"env": "production"},
        {"sha256": SHA_B},
    ],
    ids=lambda e: next(iter(e)),
)
def test_payload_edited_in_the_record_is_rejected(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path, edit: dict[str, str]
) -> None:
    path, _ = _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    record = json.loads(path.read_text())
    record["payload"].update(edit)
    path.write_text(json.dumps(record))
    [sig] = _load(manifest_path, allowed)
    assert not sig.valid
    assert "signature rejected" in sig.problem


def test_garbled_signature_is_rejected(manifest_path: Path, ssh_keys: SshKeys, allowed: Path) -> None:
    path, _ = _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    record = json.loads(path.read_text())
    record["signature"] = "not a signature"
    path.write_text(json.dumps(record))
    [sig] = _load(manifest_path, allowed)
    assert not sig.valid


def test_unreadable_record(manifest_path: Path, allowed: Path) -> None:
    folder = approvals.record_dir(manifest_path)
    folder.mkdir()
    (folder / "approval-qa-sari-x.json").write_text("{not json")
    [sig] = _load(manifest_path, allowed)
    assert not sig.valid
    assert sig.problem == "unreadable record"


@pytest.mark.parametrize(
    "edit", [{"role": "admin"}, {"kind": "blessing"}, {"by": "sari dewi"}, {"by": "-sari"}], ids=str
)
def test_malformed_record(manifest_path: Path, allowed: Path, edit: dict[str, str]) -> None:
    manifest = load_manifest(manifest_path)
    record = {"payload": {**_payload(manifest, "qa", "sari"), **edit}, "signature": ""}
    sig = approvals.verify_record(record, allowed, manifest)
    assert not sig.valid
    assert sig.problem == "malformed record"


# -- wrong role, unknown signer -----------------------------------------------------------


def test_sign_refuses_wrong_role(manifest_path: Path, ssh_keys: SshKeys, allowed: Path) -> None:
    with pytest.raises(BadInput) as info:
        _sign(manifest_path, ssh_keys, allowed, "po", "sari")
    assert str(info.value).startswith("refused: signature rejected for sari as po")
    assert "relkit-po" in str(info.value)
    assert not approvals.record_dir(manifest_path).exists()


def test_handmade_wrong_role_record_is_rejected(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path, tmp_path: Path
) -> None:
    manifest = load_manifest(manifest_path)
    payload = _payload(manifest, "po", "sari")
    for namespace in ("relkit-po", "relkit-qa"):
        record = {
            "payload": payload,
            "signature": _ssh_sign(ssh_keys.key("sari"), namespace, payload, tmp_path),
        }
        sig = approvals.verify_record(record, allowed, manifest)
        assert not sig.valid, namespace
        assert "signature rejected for sari as po" in sig.problem


def test_signer_with_both_roles_may_not_sign_both(
    manifest_path: Path, ssh_keys: SshKeys, tmp_path: Path
) -> None:
    # was test_signer_with_both_roles_may_sign_both: sari, allowed for both namespaces, signed as
    # PO and the record counted. ssh-keygen still accepts such a signature (the record is valid);
    # relkit refuses to write it (she is not the PO owner; named PO owner too, she gave the QA
    # approval it follows) and the gates refuse it (tests/security/test_approvals_bound.py)
    both = ssh_keys.allowed_signers(tmp_path / "both", {"sari": "relkit-qa,relkit-po"})
    _sign(manifest_path, ssh_keys, both, "qa", "sari")
    with pytest.raises(BadInput, match="refused: signed by sari, but the manifest names dewi as PO owner"):
        _sign(manifest_path, ssh_keys, both, "po", "sari", now=LATER)
    _edit(manifest_path, owners={**full_manifest_data()["owners"], "po": "sari"})
    _sign(manifest_path, ssh_keys, both, "qa", "sari")  # the edit voided the first QA approval
    with pytest.raises(BadInput, match="refused: sari gave both the QA and the PO approval"):
        _sign(manifest_path, ssh_keys, both, "po", "sari", now=LATER)
    manifest = load_manifest(manifest_path)
    payload = _payload(manifest, "po", "sari")
    record = {
        "payload": payload,
        "signature": _ssh_sign(ssh_keys.key("sari"), "relkit-po", payload, tmp_path),
    }
    assert approvals.verify_record(record, both, manifest).valid  # the signature as such is good


def test_po_approval_needs_a_qa_approval_to_follow(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path
) -> None:
    with pytest.raises(BadInput, match="refused: no valid QA approval of this manifest by its QA owner"):
        _sign(manifest_path, ssh_keys, allowed, "po", "dewi")
    assert not approvals.record_dir(manifest_path).exists()
    _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    _edit(manifest_path, rollback_plan="edited after QA approved")  # voids the QA approval
    with pytest.raises(BadInput, match="refused: no valid QA approval"):
        _sign(manifest_path, ssh_keys, allowed, "po", "dewi")


def test_po_approval_follows_every_valid_qa_approval_of_the_qa_owner(
    manifest_path: Path, ssh_keys: SshKeys, tmp_path: Path
) -> None:
    allowed = ssh_keys.allowed_signers(
        tmp_path / "allowed", {"sari": "relkit-qa", "dewi": "relkit-po", "mallory": "relkit-qa"}
    )
    first, _ = _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    again, _ = _sign(manifest_path, ssh_keys, allowed, "qa", "sari", now=NOW + timedelta(minutes=5))
    manifest = load_manifest(manifest_path)
    payload = _payload(manifest, "qa", "mallory")  # a valid signature, but not by the QA owner
    folder = approvals.record_dir(manifest_path)
    stray = {
        "payload": payload,
        "signature": _ssh_sign(ssh_keys.key("mallory"), "relkit-qa", payload, tmp_path),
    }
    (folder / "approval-qa-mallory.json").write_text(json.dumps(stray))
    _, sig = _sign(manifest_path, ssh_keys, allowed, "po", "dewi", now=LATER)
    assert set(sig.follows) == {approvals.record_digest(json.loads(p.read_text())) for p in (first, again)}


def test_sign_refuses_one_key_for_both_roles(manifest_path: Path, ssh_keys: SshKeys, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.write_text(
        f'sari namespaces="relkit-qa" {ssh_keys.public("sari")}\n'
        f'dewi namespaces="relkit-po" {ssh_keys.public("sari")}\n'
    )
    _sign(manifest_path, ssh_keys, shared, "qa", "sari")
    fingerprint = _fingerprint(ssh_keys, "sari")
    with pytest.raises(BadInput) as info:
        _sign(manifest_path, ssh_keys, shared, "po", "dewi", key="sari", now=LATER)
    assert str(info.value) == (
        f"refused: the QA approval by sari and the PO approval by dewi were signed with one key "
        f"({fingerprint}): one key cannot fill two roles"
    )
    assert [s.role for s in _load(manifest_path, shared)] == ["qa"]


def test_sign_refuses_a_signer_who_is_not_the_owner(
    manifest_path: Path, ssh_keys: SshKeys, tmp_path: Path
) -> None:
    allowed = ssh_keys.allowed_signers(tmp_path / "allowed", {"mallory": "relkit-qa"})
    with pytest.raises(
        BadInput, match=r"refused: signed by mallory, but the manifest names sari as QA owner \(owners.qa\)"
    ):
        _sign(manifest_path, ssh_keys, allowed, "qa", "mallory")
    assert not approvals.record_dir(manifest_path).exists()


def test_sign_with_an_owner_group(manifest_path: Path, ssh_keys: SshKeys, tmp_path: Path) -> None:
    allowed = ssh_keys.allowed_signers(tmp_path / "allowed", {"mallory": "relkit-qa", "dewi": "relkit-po"})
    _edit(manifest_path, owners={**full_manifest_data()["owners"], "qa": "@qa-team"})
    with pytest.raises(BadInput, match=r"approvals\.groups defines no 'qa-team'"):
        _sign(manifest_path, ssh_keys, allowed, "qa", "mallory")
    with pytest.raises(BadInput, match="signed by mallory, who is not in @qa-team, the manifest's QA owner"):
        _sign(manifest_path, ssh_keys, allowed, "qa", "mallory", groups={"qa-team": ["sari"]})
    team = {"qa-team": ["sari", "mallory"]}
    _sign(manifest_path, ssh_keys, allowed, "qa", "mallory", groups=team)
    _, po = _sign(manifest_path, ssh_keys, allowed, "po", "dewi", now=LATER, groups=team)
    assert len(po.follows) == 1


@pytest.mark.parametrize(
    "follows",
    [["x"], "a" * 64, [1], ["A" * 64], ["a" * 64] * 101],
    ids=["short", "string", "int", "upper", "long"],
)
def test_malformed_follows_is_rejected(manifest_path: Path, allowed: Path, follows: Any) -> None:
    manifest = load_manifest(manifest_path)
    record = {"payload": _payload(manifest, "po", "dewi", follows=follows), "signature": ""}
    sig = approvals.verify_record(record, allowed, manifest)
    assert not sig.valid
    assert sig.problem == "malformed record (follows: expected a list of sha256 digests)"


def test_follows_in_a_qa_approval_is_rejected(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path, tmp_path: Path
) -> None:
    manifest = load_manifest(manifest_path)
    payload = _payload(manifest, "qa", "sari", follows=["a" * 64])
    record = {
        "payload": payload,
        "signature": _ssh_sign(ssh_keys.key("sari"), "relkit-qa", payload, tmp_path),
    }
    sig = approvals.verify_record(record, allowed, manifest)
    assert not sig.valid
    assert sig.problem == "malformed record (follows: only a PO approval names QA approvals)"


def test_sign_refuses_principal_not_in_allowed_signers(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path
) -> None:
    with pytest.raises(BadInput, match="refused: signature rejected for mallory as qa"):
        _sign(manifest_path, ssh_keys, allowed, "qa", "mallory")
    with pytest.raises(BadInput, match="refused: signature rejected for sari as qa"):
        _sign(manifest_path, ssh_keys, allowed, "qa", "sari", key="mallory")
    assert not approvals.record_dir(manifest_path).exists()


def test_handmade_record_of_unknown_principal_is_rejected(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path, tmp_path: Path
) -> None:
    manifest = load_manifest(manifest_path)
    payload = _payload(manifest, "qa", "mallory")
    record = {
        "payload": payload,
        "signature": _ssh_sign(ssh_keys.key("mallory"), "relkit-qa", payload, tmp_path),
    }
    sig = approvals.verify_record(record, allowed, manifest)
    assert not sig.valid
    assert "signature rejected for mallory as qa" in sig.problem


def test_removed_from_allowed_signers_voids_earlier_approval(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path
) -> None:
    _sign(manifest_path, ssh_keys, allowed, "qa", "sari")
    ssh_keys.allowed_signers(allowed, {"dewi": "relkit-po"})
    [sig] = _load(manifest_path, allowed)
    assert not sig.valid


def test_missing_allowed_signers_file(manifest_path: Path, ssh_keys: SshKeys, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "allowed_signers"
    with pytest.raises(BadInput, match="not found"):
        _sign(manifest_path, ssh_keys, missing, "qa", "sari")
    manifest = load_manifest(manifest_path)
    record = {"payload": _payload(manifest, "qa", "sari"), "signature": ""}
    sig = approvals.verify_record(record, missing, manifest)
    assert not sig.valid
    assert sig.problem == f"allowed-signers file {missing} not found"


# -- bad arguments -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sari", "dewi.k@example.org", "ops-demo", "a+b_c"])
def test_check_principal_accepts(name: str) -> None:
    assert approvals.check_principal(name) == name


@pytest.mark.parametrize(
    "name", ["", "sari ops", "sari;rm -rf /", "sari,dewi", "-sari", "sa*ri", "sari\n", "x" * 65, "../sari"]
)
def test_check_principal_refuses(name: str) -> None:
    with pytest.raises(BadInput, match="--as"):
        approvals.check_principal(name)


@pytest.mark.parametrize("name", ["sari dewi", "sari;id"])
def test_sign_refuses_invalid_principal(
    manifest_path: Path, ssh_keys: SshKeys, allowed: Path, name: str
) -> None:
    with pytest.raises(BadInput, match="--as"):
        _sign(manifest_path, ssh_keys, allowed, "qa", name, key="sari")
    assert not approvals.record_dir(manifest_path).exists()


def test_sign_refuses_unknown_role(manifest_path: Path, ssh_keys: SshKeys, allowed: Path) -> None:
    with pytest.raises(BadInput, match="--role"):
        _sign(manifest_path, ssh_keys, allowed, "ops", "sari")


@pytest.mark.parametrize("where", ["missing", "directory"])
def test_sign_refuses_missing_key(manifest_path: Path, allowed: Path, tmp_path: Path, where: str) -> None:
    key = tmp_path / "no-such-key"
    if where == "directory":
        key.mkdir()
    with pytest.raises(BadInput, match="--key"):
        approvals.sign(
            manifest_path,
            load_manifest(manifest_path),
            kind="approval",
            role="qa",
            by="sari",
            key=key,
            allowed_signers=allowed,
        )


def test_sign_refuses_a_file_that_is_not_a_key(manifest_path: Path, allowed: Path, tmp_path: Path) -> None:
    key = tmp_path / "not-a-key"
    key.write_text("hello\n")
    key.chmod(0o600)
    with pytest.raises(BadInput, match="--key"):
        approvals.sign(
            manifest_path,
            load_manifest(manifest_path),
            kind="approval",
            role="qa",
            by="sari",
            key=key,
            allowed_signers=allowed,
        )


# -- manifest_digest -----------------------------------------------------------------------


def test_manifest_digest_is_stable_and_hex() -> None:
    one = Manifest.model_validate(full_manifest_data())
    two = Manifest.model_validate(full_manifest_data())
    assert approvals.manifest_digest(one) == approvals.manifest_digest(two)
    assert len(approvals.manifest_digest(one)) == 64
    int(approvals.manifest_digest(one), 16)


def test_manifest_digest_changes_with_artifact_sha256() -> None:
    data = full_manifest_data()
    other = full_manifest_data(artifact={**data["artifact"], "sha256": SHA_B})
    assert approvals.manifest_digest(Manifest.model_validate(data)) != approvals.manifest_digest(
        Manifest.model_validate(other)
    )


def test_manifest_digest_changes_with_any_field() -> None:
    base = approvals.manifest_digest(Manifest.model_validate(full_manifest_data()))
    for change in ({"version": "1.2.4"}, {"rollback_plan": "other"}, {"changes": []}):
        assert approvals.manifest_digest(Manifest.model_validate(full_manifest_data(**change))) != base


def test_manifest_digest_of_a_manifest_without_provenance_is_what_earlier_releases_signed() -> None:
    """artifact.provenance and artifact.source came later: at their defaults they stay out of the
    digest, so approvals signed before they existed still hold (the value relkit signed then)."""
    manifest = Manifest.model_validate(full_manifest_data())
    assert (
        approvals.manifest_digest(manifest)
        == "e75a614a595b446f62a61bfbdf06c05a3ca3ac479b9dea2beb403e586f6ac98c"
    )
    explicit = full_manifest_data()
    explicit["artifact"] = {**explicit["artifact"], "provenance": "build"}
    assert approvals.manifest_digest(Manifest.model_validate(explicit)) == approvals.manifest_digest(manifest)


def test_manifest_digest_covers_provenance_and_source() -> None:
    data = full_manifest_data()
    third = {**data["artifact"], "provenance": "third_party"}
    digests = {
        approvals.manifest_digest(Manifest.model_validate(full_manifest_data(artifact=artifact)))
        for artifact in (
            data["artifact"],
            third,
            {**third, "source": "https://downloads.example.org/a.tar.gz"},
            {**third, "source": "https://mirror.example.net/a.tar.gz"},
        )
    }
    assert len(digests) == 4
