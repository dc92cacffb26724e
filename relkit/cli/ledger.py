"""``relkit ledger show|verify``: read and check the record."""

from __future__ import annotations

from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import example, state
from relkit.cli.output import entries_table

HELP = "Show or verify the ledger." + example("relkit ledger verify")

app = typer.Typer(help=HELP, no_args_is_help=True)


@app.command("show", help="Show ledger entries." + example("relkit ledger show --kind 'host.*'"))
def show(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", help="kind, * as wildcard")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="environment")] = None,
    last: Annotated[int, typer.Option("--last", help="only the last N entries (0 = all)")] = 50,
) -> None:
    st = state(ctx)
    entries = api.ledger_entries(st.project(), kind, env)
    entries = entries[-last:] if last else entries
    if st.output.json:
        st.output.emit({"entries": [e.__dict__ for e in entries]})
    else:
        st.output.out.print(entries_table(entries))


@app.command(
    "verify",
    help="Verify the hash chain (exit 0, or 1 naming the first bad row)." + example("relkit ledger verify"),
)
def verify(ctx: typer.Context) -> None:
    st = state(ctx)
    check = api.ledger_verify(st.project())
    st.output.emit(check.__dict__)
    if not check.ok:
        st.output.err.print(f"[bold red]ledger broken[/] at row {check.bad_seq}: {check.problem}")
        raise typer.Exit(1)
    if not st.output.json:
        signed = f", {check.signed_acts} signed acts verified" if check.signed_acts else ""
        st.output.out.print(f"[green]ledger ok[/]: {check.checked} rows, chain intact{signed}")
