"""Who may sign, on record: the allowed-signers file pinned in the ledger (pure, no I/O).

The first allowed-signers file relkit uses is pinned in the ledger (``signers.pinned``: its
text and sha256). From then on every signature is checked against the pinned text, not the
file in the repository; a changed file takes effect only through an ``act.signed`` of act
``signers`` by a principal the pinned file allows for ``relkit-admin``, naming the old and
the new sha256, followed by the new pin. Until then the ``signers`` gate refuses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from relkit.chain import Entry

PINNED = "signers.pinned"
"""The ledger kind of a pin."""
ADMIN_ROLE = "admin"
"""The role (namespace ``relkit-admin``) whose signers may change the allowed signers."""
CHANGE_ACT = "signers"
"""The signed act that changes the allowed signers."""


def digest(text: str) -> str:
    """The sha256 a pin records of an allowed-signers text."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Pin:
    """One ``signers.pinned`` row: the allowed-signers text in force from row ``seq`` on."""

    seq: int
    sha256: str
    text: str
    first_use: bool

    @property
    def short(self) -> str:
        """The sha256's first 12 characters, for messages."""
        return self.sha256[:12]


def pin_of(entry: Entry) -> Pin:
    """The pin a ``signers.pinned`` row records."""
    data = entry.data
    return Pin(
        entry.seq, str(data.get("sha256", "")), str(data.get("signers", "")), bool(data.get("first_use"))
    )


def pins(entries: Iterable[Entry]) -> list[Pin]:
    """Every pin, oldest first."""
    return [pin_of(e) for e in entries if e.kind == PINNED]


def latest(entries: Iterable[Entry]) -> Pin | None:
    """The pin in force now (the newest), or None when nothing was pinned yet."""
    found = pins(entries)
    return found[-1] if found else None


def file_problem(pin: Pin | None, text: str | None, name: str) -> str:
    """Why the allowed-signers file (``text``, None when missing) is not the pinned one; ''
    when it is, or when there is neither a file nor a pin."""
    if pin is None:
        return "" if text is None else f"{name} is not pinned in the ledger yet"
    if text is None:
        return f"{name} is missing; the ledger pins the file of sha256 {pin.short}… (row {pin.seq})"
    if digest(text) != pin.sha256:
        return (
            f"{name} (sha256 {digest(text)[:12]}…) is not the file pinned in the ledger at row {pin.seq} "
            f"(sha256 {pin.short}…): a change takes effect only once a signers admin signs it"
        )
    return ""


def change_statement(old: Pin, new_text: str) -> dict[str, Any]:
    """The fields of the signed act that moves the pin from ``old`` to ``new_text``."""
    return {"from_sha256": old.sha256, "to_sha256": digest(new_text)}


def pin_problem(entry: Entry, in_force: Pin | None, changes: Sequence[Mapping[str, Any]]) -> str:
    """Why the ``signers.pinned`` row ``entry`` does not hold ('' when it does).

    ``in_force`` is the pin before it; ``changes`` the statements of the verified ``signers``
    acts recorded since that pin. The first pin is taken on trust (first use); a later one
    either repeats the pin in force (two first uses at once) or follows a signed change from
    the pin in force to exactly this text."""
    pin = pin_of(entry)
    if digest(pin.text) != pin.sha256:
        return "the pinned text does not have the sha256 it was pinned with"
    if in_force is None or pin.sha256 == in_force.sha256:
        return ""
    wanted = {"from_sha256": in_force.sha256, "to_sha256": pin.sha256}
    if any({k: c.get(k) for k in wanted} == wanted for c in changes):
        return ""
    return (
        f"the allowed signers changed from sha256 {in_force.short}… to {pin.short}… with no change "
        f"signed by a signers admin ({ADMIN_ROLE}) of the file pinned at row {in_force.seq}"
    )
