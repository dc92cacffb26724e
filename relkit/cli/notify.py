"""``relkit notify``: send and record a release's announcement or rollback notice."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import example, state
from relkit.cli.output import escape

HELP = (
    "Render, send and record a release notice: the announcement of its schedule and downtime "
    "(SOP 4.3.1) or the notice of a rollback (SOP 4.4.2). Sends to every channel of relkit.yml "
    "subscribed to it; with none, the notice is printed and recorded. A failed send is reported "
    "and recorded, and does not fail the command."
    + example("relkit notify releases/2.0.0.yml --kind announcement --env production")
)


def notify(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="release manifest, e.g. releases/2.0.0.yml")],
    kind: Annotated[str, typer.Option("--kind", "-k", help="announcement or rollback")] = "announcement",
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="environment (required for rollback)")
    ] = None,
) -> None:
    st = state(ctx)
    out = st.output
    notice = api.send_notice(st.project(), manifest, kind, env, api.identity(st.actor))
    for warning in notice.warnings:
        out.err.print(f"[yellow]warning[/]: {escape(warning)}")
    out.emit(notice.to_dict())
    if out.json:
        return
    out.out.print(notice.message.text.rstrip(), markup=False, highlight=False)
    out.out.print()
    for d in notice.deliveries:
        where = f"{d.channel} ({d.type} {d.target})"
        if d.ok and d.type == "record":
            out.out.print(
                f"[green]recorded[/]: {kind} {notice.version} in the ledger; no notification channel "
                "is configured (relkit.yml notifications:), so pass the text above on yourself"
            )
        elif d.ok:
            out.out.print(f"[green]sent[/]: {kind} {notice.version} → {escape(where)}")
        else:
            out.err.print(
                f"[bold red]not sent[/]: {kind} {notice.version} → {escape(where)}: {escape(d.error)}"
            )
