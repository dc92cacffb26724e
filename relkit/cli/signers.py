"""``relkit signers show|update``: who may sign, as pinned in the ledger, and changing it."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from relkit import api
from relkit.cli.envelope import Failed
from relkit.cli.options import Command, Group, KeyOpt, example, state

HELP = (
    "Show or change the allowed signers pinned in the ledger. The first allowed_signers file relkit "
    "uses is pinned on first use; every signature is checked against the pinned file, and a changed "
    "file takes effect only once a signers admin (relkit-admin in the pinned file) signs it: until "
    "then the signers gate blocks."
    + example("relkit signers update --key ~/.ssh/id_ed25519 --reason 'rina joins QA'")
)

app = typer.Typer(help=HELP, no_args_is_help=True, cls=Group)


@app.command(
    "show",
    cls=Command,
    help="Show the pinned allowed signers and how the file differs (exit 0; 1 when it differs)."
    + example("relkit signers show"),
)
def show(
    ctx: typer.Context,
    pinned: Annotated[
        bool, typer.Option("--pinned", help="print the pinned file's text only (to put it back)")
    ] = False,
) -> None:
    st = state(ctx)
    view = api.signers_show(st.project())
    out = st.output
    if pinned and view.pinned_at is None:
        nothing = "nothing is pinned yet: the first gate check or signed act pins the file"
        out.err.print(nothing)
        out.emit(view.to_dict())
        raise Failed(1, "NotPinned", nothing)
    if pinned and not out.json:  # with --output json the view's pinned_text is the file's text
        sys.stdout.write(view.pinned_text)
        return
    out.emit(view.to_dict())
    if not out.json:
        if view.pinned_at is None:
            out.out.print(f"{view.file}: not pinned yet (the first gate check or signed act pins it)")
        else:
            out.out.print(f"pinned at ledger row {view.pinned_at}: sha256 {view.pinned_sha256}")
            for line in view.pinned_text.splitlines():
                out.out.print(f"  {line}", markup=False, highlight=False)
        if view.problem:
            out.out.print(f"[yellow]{view.problem}[/]")
            for line in view.changes:
                out.out.print(f"  {line}", markup=False, highlight=False)
    if view.problem:
        raise Failed(1, "SignersChanged", view.problem, view.changes)


@app.command(
    "update",
    cls=Command,
    help="Pin the allowed_signers file as it is now: an act signed by a signers admin of the pinned "
    "file (relkit-admin), naming the old and new sha256."
    + example("relkit signers update --key ~/.ssh/id_ed25519 --reason 'rina joins QA'"),
)
def update(
    ctx: typer.Context,
    key: KeyOpt,
    reason: Annotated[str, typer.Option("--reason", help="why the signers change", show_default=False)],
) -> None:
    st = state(ctx)
    signed, pin = api.signers_update(st.project(), key, st.actor, reason)
    out = st.output
    out.emit({"pinned_at": pin.seq, "sha256": pin.sha256, "signed": signed.record() if signed else None})
    if out.json:
        return
    if signed is None:
        out.out.print(
            f"nothing to change: the file is the one pinned at ledger row {pin.seq} (sha256 {pin.short}…)"
        )
    else:
        out.out.print(
            f"[green]pinned[/] the new allowed signers at ledger row {pin.seq} (sha256 {pin.short}…), "
            f"signed by {signed.principal} (key {signed.key})"
        )
