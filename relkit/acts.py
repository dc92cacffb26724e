"""Signed acts: what the procedure attributes to a person, proven by that person's SSH key.

An act (a deploy, a rollback, an override, an unlock, a close) is a *statement* — what is
done, to which release and environment, and the ledger head it follows — signed with
``ssh-keygen -Y sign`` in the namespace of the role the act needs (``relkit-ops`` for deploys,
rollbacks and unlocks, ``relkit-po`` for overrides and closes by default). Who acted is the
principal the project's allowed-signers file gives the key, never a typed name: ``--as``, when
given, must name that principal. The ledger keeps the statement, the signature, the principal
and the key's fingerprint (``act.signed``); ``relkit ledger verify`` checks every one against
the allowed-signers file and that the ledger row it names still has the hash it signed, so
rewriting any row before a signed act breaks that act's signature.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relkit.chain import Entry
from relkit.errors import BadInput
from relkit.pins import ADMIN_ROLE, CHANGE_ACT

ACT_ROLES: dict[str, str] = {
    "deploy": "ops",
    "rollback": "ops",
    "unlock": "ops",
    "continue": "ops",
    "override": "po",
    "close": "po",
    CHANGE_ACT: ADMIN_ROLE,
}
"""The role (signature namespace ``relkit-<role>``) each act needs by default."""

_GOOD = re.compile(r'Good "[^"]+" signature for (\S+) with \S+ key (SHA256:\S+)')


def namespace(role: str) -> str:
    """The ssh-keygen signature namespace of a role."""
    return f"relkit-{role}"


def canonical(statement: Mapping[str, Any]) -> bytes:
    """The bytes a statement's signature covers."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class SignedAct:
    """A statement, its SSH signature, and who signed it according to the allowed signers."""

    statement: dict[str, Any]
    signature: str
    principal: str
    key: str
    role: str

    def record(self) -> dict[str, Any]:
        """What the ledger keeps (``act.signed``)."""
        return {
            "act": self.statement.get("act"),
            "role": self.role,
            "principal": self.principal,
            "key": self.key,
            "statement": self.statement,
            "signature": self.signature,
        }


def keygen(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``ssh-keygen`` (signatures of approvals and acts); BadInput when it is not installed."""
    try:
        return subprocess.run(
            ["ssh-keygen", *args], input=stdin, capture_output=True, timeout=30, check=False
        )
    except FileNotFoundError:
        raise BadInput("ssh-keygen not found: install openssh-client") from None


def sign(
    statement: Mapping[str, Any],
    role: str,
    key: Path,
    allowed_signers: Path,
    claimed: str | None = None,
    label: str | None = None,
) -> SignedAct:
    """Sign ``statement`` with ``key`` for ``role``; the signer is the key's principal.

    ``key`` is a private key file, or a public key whose private half is in ssh-agent.
    ``claimed`` (``--as``) must be that principal. Refused (BadInput): no such key, a key the
    allowed-signers file does not allow for the role, a principal other than the one claimed.
    ``label`` names the allowed signers in messages (default: the file's path).
    """
    label = label or str(allowed_signers)
    if not key.is_file():
        raise BadInput(f"--key: {key} is not a file (an SSH private key, or a public key in ssh-agent)")
    if not allowed_signers.is_file():
        raise BadInput(f"approvals.allowed_signers: {label} not found; signed acts are checked against it")
    data = canonical(statement)
    with tempfile.TemporaryDirectory(prefix="relkit-act-") as tmp:
        message = Path(tmp) / "statement"
        message.write_bytes(data)
        signed = keygen(["-Y", "sign", "-q", "-f", str(key), "-n", namespace(role), str(message)])
        sig_path = Path(tmp) / "statement.sig"
        if signed.returncode != 0 or not sig_path.is_file():
            detail = signed.stderr.decode(errors="replace").strip().splitlines()
            raise BadInput(
                f"--key: ssh-keygen could not sign with {key}: {detail[-1] if detail else 'failed'}"
            )
        signature = sig_path.read_text()
        found = keygen(["-Y", "find-principals", "-s", str(sig_path), "-f", str(allowed_signers)])
    candidates = found.stdout.decode(errors="replace").split() if found.returncode == 0 else []
    if claimed is not None and claimed not in candidates:
        raise BadInput(
            f"--as: {claimed!r} is not the signer: {label} gives this key to "
            f"{', '.join(candidates) or 'nobody'}"
        )
    checked = [
        act
        for principal in ([claimed] if claimed else candidates)
        if (act := verify_signature(statement, signature, principal, role, allowed_signers)) is not None
    ]
    if not checked:
        raise BadInput(
            f"--key: {key} is not allowed to sign as {role} ({namespace(role)}) in {label}"
            + (f" (it belongs to {', '.join(candidates)})" if candidates else " (no principal has this key)")
        )
    if len(checked) > 1:
        names = ", ".join(a.principal for a in checked)
        raise BadInput(f"--as: this key signs for {names}; say which one you are")
    return checked[0]


def verify_signature(
    statement: Mapping[str, Any], signature: str, principal: str, role: str, allowed_signers: Path
) -> SignedAct | None:
    """The act if ``signature`` over ``statement`` is ``principal``'s for ``role``, else None."""
    with tempfile.TemporaryDirectory(prefix="relkit-act-") as tmp:
        sig = Path(tmp) / "sig"
        sig.write_text(signature)
        proc = keygen(
            [
                "-Y",
                "verify",
                "-f",
                str(allowed_signers),
                "-I",
                principal,
                "-n",
                namespace(role),
                "-s",
                str(sig),
            ],
            stdin=canonical(statement),
        )
    good = _GOOD.search(proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace"))
    if proc.returncode != 0 or good is None or good.group(1) != principal:
        return None
    return SignedAct(dict(statement), signature, principal, good.group(2), role)


def check_recorded(
    entry: Entry, allowed_signers: Path, hashes: Mapping[int, str], pinned_sha256: str | None = None
) -> str:
    """Why an ``act.signed`` row does not hold ('' when it does): the signature against the
    allowed signers (``pinned_sha256``: the sha256 of the pin in force, which the statement
    names), and the ledger row its statement follows still having the signed hash."""
    data = entry.data
    statement = data.get("statement")
    if not isinstance(statement, dict) or not isinstance(data.get("signature"), str):
        return "malformed signed act"
    named = statement.get("signers")
    if pinned_sha256 is not None and named is not None and named != pinned_sha256:
        return (
            f"signed under the allowed signers of sha256 {str(named)[:12]}…, but the pin in force "
            f"then was {pinned_sha256[:12]}…"
        )
    act = verify_signature(
        statement, data["signature"], str(data.get("principal")), str(data.get("role")), allowed_signers
    )
    if act is None:
        return f"the signature of {data.get('principal')} ({data.get('role')}) does not verify"
    if act.key != data.get("key"):
        return f"signed with {act.key}, recorded as {data.get('key')}"
    head = statement.get("ledger_head") or {}
    seq, digest = head.get("seq"), head.get("hash")
    if not isinstance(seq, int) or seq >= entry.seq:
        return "the statement names no earlier ledger row"
    if seq and hashes.get(seq) != digest:
        return f"row {seq}, which this act signed as the ledger head, was rewritten"
    return ""
