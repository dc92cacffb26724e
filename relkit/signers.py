"""The project's allowed-signers file and its pin in the ledger (see :mod:`relkit.pins`).

Signatures — approvals and signed acts — are checked against the *pinned* text, written to a
private temporary file for ``ssh-keygen``; the file in the repository only proposes a change.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from relkit import acts, pins
from relkit.chain import Entry
from relkit.errors import RelkitError
from relkit.loading import read_text
from relkit.pins import Pin
from relkit.project import Project

MAX_BYTES = 1024 * 1024


def path(project: Project) -> Path:
    """The allowed-signers file relkit.yml names (``approvals.allowed_signers``)."""
    return project.root / project.config.approvals.allowed_signers


def name(project: Project) -> str:
    """How messages name the file."""
    return project.config.approvals.allowed_signers


def read(project: Project) -> str | None:
    """The file's text; None when there is none (BadInput when it cannot be read as a file)."""
    file = path(project)
    if not file.exists() and not file.is_symlink():
        return None
    return read_text(file, "allowed-signers file", MAX_BYTES)


def pinned(project: Project) -> Pin | None:
    """The pin in force: the first pin, then each later one that follows a change signed by an
    admin of the pin before it. A pin row without one (appended by whoever can write the ledger)
    and every pin after it are ignored; ``relkit ledger verify`` names it."""
    rows = list(project.ledger.entries(kind=pins.PINNED))
    if not rows:
        if any(e.data.get("statement", {}).get("signers") for e in project.ledger.entries(kind="act.signed")):
            raise RelkitError(
                "the ledger holds acts signed under pinned allowed signers but no pin of them: it was "
                "rewritten (relkit ledger verify names the first bad row)"
            )
        return None
    changes = [
        e
        for e in project.ledger.entries(kind="act.signed")
        if (e.data.get("act"), e.data.get("role")) == (pins.CHANGE_ACT, pins.ADMIN_ROLE)
    ]
    current = pins.pin_of(rows[0])
    for row in rows[1:]:
        signed = [
            c.data["statement"] for c in changes if current.seq < c.seq < row.seq and _verifies(c, current)
        ]
        if pins.pin_problem(row, current, signed):
            break
        current = pins.pin_of(row)
    return current


def _verifies(entry: Entry, pin: Pin) -> bool:
    """True when the signed act ``entry`` holds against the allowed signers of ``pin``."""
    statement = entry.data.get("statement") or {}
    principal, signature, role = (str(entry.data.get(k)) for k in ("principal", "signature", "role"))
    with pinned_file(pin) as file:
        return acts.verify_signature(statement, signature, principal, role, file) is not None


def pin_on_first_use(project: Project) -> Pin | None:
    """The pin in force; pins the file as it is now when nothing is pinned yet (None: no file)."""
    pin = pinned(project)
    if pin is not None:
        return pin
    text = read(project)
    if text is None:
        return None
    return pin_text(project, text, first_use=True)


def pin_text(project: Project, text: str, first_use: bool, run_id: str = "") -> Pin:
    """Append a ``signers.pinned`` row for ``text``."""
    entry = project.ledger.append(
        pins.PINNED,
        run_id=run_id,
        data={"file": name(project), "sha256": pins.digest(text), "signers": text, "first_use": first_use},
    )
    return pins.pin_of(entry)


def problem(project: Project, pin: Pin | None) -> str:
    """Why the file in the repository is not ``pin``'s ('' when it is)."""
    return pins.file_problem(pin, read(project), name(project))


@dataclass(frozen=True)
class Verifier:
    """What signatures are checked against: a file for ``ssh-keygen``, the pin it holds and how
    messages name it. ``first_use``: nothing was pinned yet and this is the repository's file,
    to pin (:func:`commit`) once what it verified is accepted; ``pin`` is None only when there
    is neither a pin nor a file."""

    file: Path
    pin: Pin | None
    label: str
    first_use: bool = False


@contextmanager
def verifying(project: Project, first_use: bool = True) -> Iterator[Verifier]:
    """The pinned allowed signers as a private file. With nothing pinned: the repository's file
    as it is now, to be pinned on first use (``first_use``) by :func:`commit`."""
    pin = pinned(project)
    text = read(project) if pin is None and first_use else None
    if text is not None:
        pin = Pin(0, pins.digest(text), text, first_use=True)
    if pin is None:
        yield Verifier(path(project), None, name(project))
        return
    where = "pinned on this first use" if text is not None else f"as pinned in the ledger at row {pin.seq}"
    with pinned_file(pin) as file:
        yield Verifier(file, pin, f"{name(project)} ({where})", first_use=text is not None)


def commit(project: Project, verifier: Verifier) -> Pin | None:
    """Pin what ``verifier`` verified against when that was a first use; the pin in force."""
    if verifier.first_use and verifier.pin is not None:
        return pin_text(project, verifier.pin.text, first_use=True)
    return verifier.pin


@contextmanager
def pinned_file(pin: Pin) -> Iterator[Path]:
    """``pin``'s text in a file only this process's user can read, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="relkit-signers-") as tmp:
        file = Path(tmp) / "allowed_signers"
        file.write_text(pin.text)
        yield file


@contextmanager
def pin_files(project: Project) -> Iterator[Callable[[Pin | None], Path]]:
    """A function giving each pin's text as a private file (the repository's file for None),
    each written once, all removed afterwards (``relkit ledger verify``)."""
    with tempfile.TemporaryDirectory(prefix="relkit-signers-") as tmp:
        written: dict[str, Path] = {}

        def file_of(pin: Pin | None) -> Path:
            if pin is None:
                return path(project)
            if pin.sha256 not in written:
                written[pin.sha256] = Path(tmp) / pin.sha256
                written[pin.sha256].write_text(pin.text)
            return written[pin.sha256]

        yield file_of
