"""``relkit approve``: the QA or PO approval, signed with the approver's SSH key."""

from __future__ import annotations

from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import KeyOpt, ManifestArg, State, example, state

HELP = "Sign the manifest as QA or PO (ssh-keygen -Y sign); editing the manifest later voids it." + example(
    "relkit approve releases/2.0.0.yml --role qa --key ~/.ssh/id_ed25519 --as sari"
)


def show_signed(st: State, signed: api.Signed, what: str) -> None:
    """One line (or JSON) for a new signed record."""
    out = st.output
    out.emit(signed.to_dict())
    if not out.json:
        out.out.print(f"[green]{what}[/] by {signed.by} as {signed.role} at {signed.at}: {signed.path}")


def approve(
    ctx: typer.Context,
    manifest: ManifestArg,
    role: Annotated[str, typer.Option("--role", "-r", help="qa or po", show_default=False)],
    key: KeyOpt,
) -> None:
    st = state(ctx)
    show_signed(st, api.approve(st.project(), manifest, role, key, api.identity(st.actor)), "approved")
