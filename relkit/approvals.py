"""Signed approvals and verifications, kept beside the manifest so any operator can check them.

A record is ``<manifest>.approvals/<kind>-<role>-<by>-<time>.json``: a canonical payload
(kind, role, by, time, app, version, the manifest's digest — which covers the artifact
sha256) and an ``ssh-keygen -Y sign`` signature in the role's namespace (``relkit-qa``,
``relkit-po``). The project's allowed-signers file maps principals to the namespaces, i.e.
the roles, they may sign for; ``ssh-keygen -Y verify`` enforces it.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relkit.errors import BadInput
from relkit.gates import Signature
from relkit.hostrules import atomic_write
from relkit.loading import file_kind, read_text
from relkit.manifest import Manifest

SIGNING_ROLES = ("qa", "po")
KINDS = ("approval", "verification")
MAX_RECORD_BYTES = 64_000
"""A record is a payload and an SSH signature: well under 2 kB."""
RECORD_SHAPE = '{"payload": {...}, "signature": "..."}'
_PRINCIPAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


def namespace(role: str) -> str:
    """The ssh-keygen signature namespace of a role."""
    return f"relkit-{role}"


def manifest_digest(manifest: Manifest) -> str:
    """sha256 of the manifest's canonical JSON: any edit, artifact sha256 included, changes it."""
    canonical = json.dumps(manifest.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_dir(manifest_path: Path) -> Path:
    """Where a manifest's approvals live: beside it, ``<name>.approvals/``."""
    return manifest_path.with_name(manifest_path.stem + ".approvals")


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def _ssh_keygen(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["ssh-keygen", *args], input=stdin, capture_output=True, timeout=30, check=False
        )
    except FileNotFoundError:
        raise BadInput("ssh-keygen not found: install openssh-client") from None


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

    def result(valid: bool, problem: str = "") -> Signature:
        return Signature(role, by, at, valid, problem, kind, str(payload.get("env", "")))

    if role not in SIGNING_ROLES or kind not in KINDS or not _PRINCIPAL.fullmatch(by):
        return result(False, "malformed record")
    if not allowed_signers.is_file():
        return result(False, f"allowed-signers file {allowed_signers} not found")
    with tempfile.TemporaryDirectory(prefix="relkit-sig-") as tmp:
        sig = Path(tmp) / "sig"
        sig.write_text(str(record.get("signature", "")))
        proc = _ssh_keygen(
            ["-Y", "verify", "-f", str(allowed_signers), "-I", by, "-n", namespace(role), "-s", str(sig)],
            stdin=_canonical(payload),
        )
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        why = detail[-1] if detail else "verification failed"
        return result(False, f"signature rejected for {by} as {role}: {why}")
    if (payload.get("app"), payload.get("version")) != (manifest.app, manifest.version):
        return result(False, f"signed for another release ({payload.get('app')} {payload.get('version')})")
    if payload.get("digest") != manifest_digest(manifest):
        return result(False, "the manifest was edited after this was signed")
    return result(True)


def load(manifest_path: Path, manifest: Manifest, allowed_signers: Path) -> list[Signature]:
    """Every approval/verification beside the manifest, each verified.

    A ``*.json`` file there that is not a relkit record (not a regular file, too large, not JSON,
    not ``{"payload": {...}, "signature": "..."}``) is an invalid signature named by its file,
    which the gates report; files of other names are not looked at.
    """
    found = []
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
) -> tuple[Path, Signature]:
    """Sign the manifest's digest as ``by`` for ``role``; refuse what would not verify."""
    if role not in SIGNING_ROLES:
        raise BadInput(f"--role: expected one of {', '.join(SIGNING_ROLES)}, got {role!r}")
    check_principal(by)
    if not key.is_file():
        raise BadInput(f"--key: {key} is not a file (an SSH private key)")
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    payload = {
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
    with tempfile.TemporaryDirectory(prefix="relkit-sign-") as tmp:
        data = Path(tmp) / "payload"
        data.write_bytes(_canonical(payload))
        proc = _ssh_keygen(["-Y", "sign", "-q", "-f", str(key), "-n", namespace(role), str(data)])
        if proc.returncode != 0:
            raise BadInput(f"--key: ssh-keygen could not sign with {key}: {proc.stderr.decode().strip()}")
        record = {"payload": payload, "signature": (Path(tmp) / "payload.sig").read_text()}
    checked = verify_record(record, allowed_signers, manifest)
    if not checked.valid:
        raise BadInput(f"refused: {checked.problem} (check {allowed_signers} and --as)")
    folder = record_dir(manifest_path)
    folder.mkdir(exist_ok=True)
    path = folder / f"{kind}-{role}-{by}-{at.replace(':', '').replace('+0000', 'Z')}.json"
    atomic_write(path, json.dumps(record, indent=2) + "\n")
    return path, checked
