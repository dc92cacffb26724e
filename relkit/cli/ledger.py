"""``relkit ledger show|verify``: read and check the record."""

from __future__ import annotations

from typing import Annotated

import typer

from relkit import api
from relkit.cli.envelope import Failed
from relkit.cli.options import Command, Group, example, state
from relkit.cli.output import entries_table, escape

HELP = "Show or verify the ledger." + example("relkit ledger verify")

app = typer.Typer(help=HELP, no_args_is_help=True, cls=Group)


@app.command("show", cls=Command, help="Show ledger entries." + example("relkit ledger show --kind 'host.*'"))
def show(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", help="kind, * as wildcard")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="environment")] = None,
    last: Annotated[int, typer.Option("--last", help="only the last N entries (0 = all)")] = 50,
) -> None:
    if last < 0:
        raise api.BadInput(f"--last: expected a number of entries, 0 or more (0 = all), got {last}")
    st = state(ctx)
    entries = api.ledger_entries(st.project(), kind, env)
    entries = entries[-last:] if last else entries
    if st.output.json:
        st.output.emit({"entries": [e.__dict__ for e in entries]})
    else:
        st.output.out.print(entries_table(entries))


@app.command(
    "verify",
    cls=Command,
    help="Verify the hash chain, the pinned signers and every signed act (exit 0, or 1 naming the first "
    "bad row). With --witnesses ENV, also compare the ledger with what each host of ENV recorded at its "
    "switches (exit 1 when a host contradicts it: a deleted, truncated or rewritten ledger, a switch "
    "missing on either side, a forged smoke result; 5 when a host could not be read)."
    + example("relkit ledger verify --witnesses production"),
)
def verify(
    ctx: typer.Context,
    witnesses: Annotated[
        str | None,
        typer.Option("--witnesses", "-w", help="also check the ledger against this environment's hosts"),
    ] = None,
) -> None:
    st = state(ctx)
    out = st.output
    check = api.ledger_verify(st.project())
    found = api.witness_check(st.project(), witnesses) if witnesses and check.ok else None
    out.emit({**check.__dict__, "witnesses": found.to_dict() if found else None})
    if not check.ok:
        message = f"ledger broken at row {check.bad_seq}: {check.problem}"
        out.err.print(f"[bold red]ledger broken[/] at row {check.bad_seq}: {escape(str(check.problem))}")
        raise Failed(1, "LedgerBroken", message)
    if not out.json:
        signed = f", {check.signed_acts} signed acts verified" if check.signed_acts else ""
        pins = f", {check.signer_pins} pins of the allowed signers" if check.signer_pins else ""
        out.out.print(f"[green]ledger ok[/]: {check.checked} rows, chain intact{signed}{pins}")
    if found is None:
        return
    for problem in found.problems:
        out.err.print(f"[bold red]witness[/]: {escape(problem)}", highlight=False)
    for host in found.unreachable:
        out.err.print(f"[yellow]not checked[/]: {escape(host)} could not be read")
    if found.problems:
        raise Failed(1, "WitnessMismatch", f"hosts of {witnesses} contradict the ledger", found.problems)
    if not out.json:
        seen = ", ".join(f"{h} ({n})" for h, n in found.hosts.items()) or "none"
        out.out.print(f"[green]witnesses agree[/] on {witnesses}: switches checked per host: {seen}")
    if found.unreachable:
        raise Failed(
            5,
            "HostUnreachable",
            f"not checked: {', '.join(found.unreachable)} could not be read",
            found.unreachable,
        )
