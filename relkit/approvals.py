"""Signed approvals and verifications, kept beside the manifest so any operator can check them.

A record is ``<manifest>.approvals/<kind>-<role>-<by>-<time>.json``: a canonical payload
(kind, role, by, time, app, version, the manifest's digest — which covers the artifact
sha256) and an ``ssh-keygen -Y sign`` signature in the role's namespace (``relkit-qa``,
``relkit-po``). The project's allowed-signers file maps principals to the namespaces, i.e.
the roles, they may sign for; ``ssh-keygen -Y verify`` enforces it and names the signing
key's fingerprint. A PO approval's payload also holds ``follows``: the digests
(:func:`record_digest`) of the valid QA approvals of the manifest's QA owner it follows, so
its order after QA is proven by the signatures, not by a time either signer chose.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relkit.acts import keygen, namespace
from relkit.errors import BadInput
from relkit.gates import Signature, owner_problem, separation_problems
from relkit.hostrules import atomic_write
from relkit.loading import file_kind, read_text
from relkit.manifest import Manifest

SIGNING_ROLES = ("qa", "po")
KINDS = ("approval", "verification")
MAX_RECORD_BYTES = 64_000
"""A record is a payload and an SSH signature: well under 2 kB."""
RECORD_SHAPE = '{"payload": {...}, "signature": "..."}'
_PRINCIPAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
MAX_FOLLOWS = 100
_GOOD = re.compile(r'^Good "[^"]*" signature for \S+ with \S+ key (\S+)$')
"""``ssh-keygen -Y verify``'s line for a good signature, naming the key's fingerprint."""


LATER_FIELDS: dict[tuple[str, str], object] = {
    ("artifact", "provenance"): "build",
    ("artifact", "source"): None,
}
"""Manifest fields added after approvals were first signed, with their defaults: left out of the
digest while at the default, so approvals signed before they existed stay valid."""


def manifest_digest(manifest: Manifest) -> str:
    """sha256 of the manifest's canonical JSON: any edit, artifact sha256 included, changes it."""
    data = manifest.model_dump(mode="json")
    for (section, key), default in LATER_FIELDS.items():
        if data[section].get(key, default) == default:
            data[section].pop(key, None)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_dir(manifest_path: Path) -> Path:
    """Where a manifest's approvals live: beside it, ``<name>.approvals/``."""
    return manifest_path.with_name(manifest_path.stem + ".approvals")


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def record_digest(record: Mapping[str, Any]) -> str:
    """sha256 of a record's canonical JSON (``{"payload": …, "signature": …}``, sorted keys, no
    spaces): the name a PO approval's ``follows`` gives the QA approval it follows."""
    return hashlib.sha256(
        _canonical({"payload": record.get("payload"), "signature": record.get("signature")})
    ).hexdigest()


def _follows(payload: Mapping[str, Any]) -> tuple[str, ...] | None:
    """A PO approval's ``follows`` (absent: none); None when it is not a list of digests."""
    value = payload.get("follows", [])
    if not isinstance(value, list) or len(value) > MAX_FOLLOWS:
        return None
    if not all(isinstance(d, str) and _DIGEST.fullmatch(d) for d in value):
        return None
    return tuple(value)


def check_principal(name: str) -> str:
    """A signer name usable as an allowed-signers principal."""
    if not _PRINCIPAL.fullmatch(name):
        raise BadInput(f"--as: {name!r} is not a valid principal (letters, digits, . _ @ + -)")
    return name


def verify_record(record: dict[str, Any], allowed_signers: Path, manifest: Manifest) -> Signature:
    """Check one record's signature, signer, role and that it is for this exact manifest."""
    payload = record.get("payload") if isinstance(record, dict) else None
    payload = payload if isinstance(payload, dict) else {}
    role, by, kind = str(payload.get("role", "?")), str(payload.get("by", "?")), str(payload.get("kind", "?"))
    try:
        at = datetime.fromisoformat(str(payload.get("at")))
    except ValueError:
        at = datetime.fromtimestamp(0, UTC)
    at = at if at.tzinfo else at.replace(tzinfo=UTC)  # the gates compare it with aware times

    follows = _follows(payload)
    digest = record_digest(record) if isinstance(record, dict) else ""
    key = ""

    def result(valid: bool, problem: str = "") -> Signature:
        env = str(payload.get("env", ""))
        return Signature(role, by, at, valid, problem, kind, env, key, digest, follows or ())

    if role not in SIGNING_ROLES or kind not in KINDS or not _PRINCIPAL.fullmatch(by):
        return result(False, "malformed record")
    if follows is None:
        return result(False, "malformed record (follows: expected a list of sha256 digests)")
    if follows and (kind, role) != ("approval", "po"):
        return result(False, "malformed record (follows: only a PO approval names QA approvals)")
    if not allowed_signers.is_file():
        return result(False, f"allowed-signers file {allowed_signers} not found")
    with tempfile.TemporaryDirectory(prefix="relkit-sig-") as tmp:
        sig = Path(tmp) / "sig"
        sig.write_text(str(record.get("signature", "")))
        proc = keygen(
            ["-Y", "verify", "-f", str(allowed_signers), "-I", by, "-n", namespace(role), "-s", str(sig)],
            stdin=_canonical(payload),
        )
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        why = detail[-1] if detail else "verification failed"
        return result(False, f"signature rejected for {by} as {role}: {why}")
    good = [
        m for line in proc.stdout.decode(errors="replace").splitlines() if (m := _GOOD.match(line.strip()))
    ]
    if not good:
        return result(False, f"ssh-keygen accepted the signature of {by} as {role} but named no key")
    key = good[0].group(1)
    if (payload.get("app"), payload.get("version")) != (manifest.app, manifest.version):
        return result(False, f"signed for another release ({payload.get('app')} {payload.get('version')})")
    if payload.get("digest") != manifest_digest(manifest):
        return result(False, "the manifest was edited after this was signed")
    return result(True)


def load(
    manifest_path: Path,
    manifest: Manifest,
    allowed_signers: Path,
    recorded: Sequence[Mapping[str, Any]] = (),
) -> list[Signature]:
    """Every approval/verification beside the manifest, and those ``recorded`` in the (shared)
    ledger that are not beside it, each verified the same way.

    A ``*.json`` file there that is not a relkit record (not a regular file, too large, not JSON,
    not ``{"payload": {...}, "signature": "..."}``) is an invalid signature named by its file,
    which the gates report; files of other names are not looked at. A recorded record of another
    shape is skipped (the ledger row that holds it is signed by nobody).
    """
    found = _beside(manifest_path, manifest, allowed_signers)
    seen = {s.digest for s in found if s.digest}
    for record in recorded:
        if not (isinstance(record.get("payload"), dict) and isinstance(record.get("signature"), str)):
            continue
        if record_digest(record) not in seen:
            seen.add(record_digest(record))
            found.append(verify_record(dict(record), allowed_signers, manifest))
    return found


def _beside(manifest_path: Path, manifest: Manifest, allowed_signers: Path) -> list[Signature]:
    found: list[Signature] = []
    folder = record_dir(manifest_path)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        name = path.name if path.name.isprintable() else repr(path.name)

        def stray(problem: str, name: str = name) -> Signature:
            return Signature("?", name, datetime.fromtimestamp(0, UTC), False, problem)

        try:
            mode = path.stat().st_mode
            if not stat.S_ISREG(mode):
                found.append(stray(f"not a relkit record ({file_kind(mode)}): remove it"))
                continue
            record = json.loads(read_text(path, "approval record", MAX_RECORD_BYTES))
        except (OSError, BadInput, ValueError, RecursionError):
            found.append(stray("unreadable record"))
            continue
        if not (
            isinstance(record, dict)
            and isinstance(record.get("payload"), dict)
            and isinstance(record.get("signature"), str)
        ):
            found.append(stray(f"not a relkit record (expected {RECORD_SHAPE}): remove it"))
            continue
        found.append(verify_record(record, allowed_signers, manifest))
    return found


def sign(
    manifest_path: Path,
    manifest: Manifest,
    *,
    kind: str,
    role: str,
    by: str,
    key: Path,
    allowed_signers: Path,
    env: str = "",
    now: datetime | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    label: str | None = None,
) -> tuple[Path, Signature]:
    """Sign the manifest's digest as ``by`` for ``role``; refuse what would not verify or count.

    Refused: a signature ssh-keygen rejects, a signer who is not the manifest's owner of the
    role (``owners.<role>``, or a member of the ``@group`` it names: ``groups``), a PO approval
    with no valid QA approval of the QA owner to follow, and an approval by the person or with
    the key of an approval of the other role. A PO approval's payload names (``follows``) the QA
    approvals it follows. ``label`` names the allowed signers in messages (default: the path).
    """
    if role not in SIGNING_ROLES:
        raise BadInput(f"--role: expected one of {', '.join(SIGNING_ROLES)}, got {role!r}")
    check_principal(by)
    if not key.is_file():
        raise BadInput(f"--key: {key} is not a file (an SSH private key)")
    groups = groups or {}
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    payload: dict[str, Any] = {
        "kind": kind,
        "role": role,
        "by": by,
        "at": at,
        "env": env,
        "app": manifest.app,
        "version": manifest.version,
        "sha256": manifest.artifact.sha256,
        "digest": manifest_digest(manifest),
    }
    others = [s for s in load(manifest_path, manifest, allowed_signers) if s.kind == "approval" and s.valid]
    follows = sorted(
        {
            s.digest
            for s in others
            if s.role == "qa" and s.digest and not owner_problem(manifest, "qa", s.by, groups)
        }
    )
    if (kind, role) == ("approval", "po"):
        payload["follows"] = follows
    with tempfile.TemporaryDirectory(prefix="relkit-sign-") as tmp:
        data = Path(tmp) / "payload"
        data.write_bytes(_canonical(payload))
        proc = keygen(["-Y", "sign", "-q", "-f", str(key), "-n", namespace(role), str(data)])
        if proc.returncode != 0:
            raise BadInput(f"--key: ssh-keygen could not sign with {key}: {proc.stderr.decode().strip()}")
        record = {"payload": payload, "signature": (Path(tmp) / "payload.sig").read_text()}
    checked = verify_record(record, allowed_signers, manifest)
    if not checked.valid:
        raise BadInput(f"refused: {checked.problem} (check {label or allowed_signers} and --as)")
    problem = owner_problem(manifest, role, by, groups)
    if problem:
        raise BadInput(f"refused: {problem} (owners.{role})")
    if (kind, role) == ("approval", "po") and not follows:
        raise BadInput(
            "refused: no valid QA approval of this manifest by its QA owner for the PO approval to "
            "follow: QA approves first (relkit approve MANIFEST --role qa)"
        )
    if kind == "approval":
        before = separation_problems(others)
        shared = [p for p in separation_problems([*others, checked]) if p not in before]
        if shared:
            raise BadInput("refused: " + "; ".join(shared))
    folder = record_dir(manifest_path)
    folder.mkdir(exist_ok=True)
    path = folder / f"{kind}-{role}-{by}-{at.replace(':', '').replace('+0000', 'Z')}.json"
    atomic_write(path, json.dumps(record, indent=2) + "\n")
    return path, checked
