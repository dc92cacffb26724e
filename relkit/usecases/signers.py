"""Who may sign: the allowed signers as pinned in the ledger, and changing them by a signed act."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relkit import acts, pins, signers
from relkit.errors import BadInput
from relkit.project import Project
from relkit.usecases import signing


@dataclass
class SignersView:
    """The pinned allowed signers and how the repository's file differs from them."""

    file: str
    pinned_at: int | None
    pinned_sha256: str | None
    file_sha256: str | None
    problem: str
    pinned_text: str
    changes: list[str] = field(default_factory=list)
    """Lines the file adds (``+``) or drops (``-``) against the pinned text."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def show(project: Project) -> SignersView:
    """The pin in force and whether the repository's file is it (nothing is written)."""
    pin = signers.pinned(project)
    text = signers.read(project)
    pinned_text = pin.text if pin else ""
    changes = [
        line
        for line in difflib.unified_diff(
            pinned_text.splitlines(), (text or "").splitlines(), lineterm="", n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return SignersView(
        file=signers.name(project),
        pinned_at=pin.seq if pin else None,
        pinned_sha256=pin.sha256 if pin else None,
        file_sha256=pins.digest(text) if text is not None else None,
        problem=signers.problem(project, pin),
        pinned_text=pinned_text,
        changes=changes if pin else [],
    )


def update(
    project: Project, key: Path, claimed: str | None, reason: str
) -> tuple[acts.SignedAct | None, pins.Pin]:
    """Pin the repository's allowed-signers file in place of the pinned one: an act signed by a
    principal the *pinned* file allows for ``relkit-admin``, naming both sha256s. Returns the
    signed act (None when the file is the pinned one already: nothing to sign) and the new pin."""
    if not reason.strip():
        raise BadInput("--reason: say why the allowed signers change")
    pin = signers.pin_on_first_use(project)
    text = signers.read(project)
    if text is None or pin is None:
        raise BadInput(f"approvals.allowed_signers: {signers.name(project)} not found; nothing to pin")
    if pins.digest(text) == pin.sha256:
        return None, pin
    signed = signing.sign(
        project, pins.CHANGE_ACT, "", key, claimed, **pins.change_statement(pin, text), reason=reason.strip()
    )
    signing.record(project, signed)
    return signed, signers.pin_text(project, text, first_use=False)
