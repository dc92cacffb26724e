"""``relkit ledger show|verify|init|export|import``: read, check, create and move the record."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from relkit import api
from relkit.cli.envelope import Failed
from relkit.cli.options import Command, Group, example, state
from relkit.cli.output import entries_table, escape

HELP = "Show, verify, create (init) or move (export/import) the ledger." + example("relkit ledger verify")

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


@app.command(
    "init",
    cls=Command,
    help="Create the ledger's schema, or migrate it to this relkit's (PostgreSQL: run once per database "
    "and after upgrading relkit; SQLite creates itself). Safe to run again."
    + example("RELKIT_LEDGER_URL=postgresql://relkit@db.example.com/relkit relkit ledger init"),
)
def init(ctx: typer.Context) -> None:
    st = state(ctx)
    done = api.ledger_init(st.project())
    st.output.emit({"ledger": done})
    if not st.output.json:
        st.output.out.print(escape(done))


@app.command(
    "export",
    cls=Command,
    help="Write the whole ledger as JSON lines (every field, hashes and signatures included), to move it "
    "to another backend with `relkit ledger import`." + example("relkit ledger export --out ledger.jsonl"),
)
def export(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", "-O", help="file to write (default: standard output)")
    ] = None,
) -> None:
    st = state(ctx)
    if out is None and st.output.json:
        raise api.BadInput(
            "--out: with --output json, write the export to a file (--out FILE); "
            "the JSON document is then the summary"
        )
    lines = api.ledger_export_lines(st.project())
    if out is None:  # the export itself is the output: JSON lines, with or without --output json
        for line in lines:
            sys.stdout.write(line + "\n")
        return
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        count = sum(1 for line in lines if handle.write(line + "\n"))
    partial.replace(out)
    st.output.emit({"exported": count, "out": str(out)})
    if not st.output.json:
        st.output.out.print(f"exported {count} rows to {escape(str(out))}")


@app.command(
    "import",
    cls=Command,
    help="Load an export into this project's empty ledger (e.g. a new PostgreSQL ledger after `relkit ledger "
    "init`). The whole chain is checked first: a broken chain is refused naming the row, and nothing "
    "is loaded." + example("relkit ledger import ledger.jsonl"),
)
def import_(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(metavar="FILE", help="a `relkit ledger export` file")],
) -> None:
    st = state(ctx)
    try:
        handle = source.open(encoding="utf-8")
    except OSError as exc:
        raise api.BadInput(f"FILE: cannot read {source}: {exc.strerror}") from None
    with handle:
        count = api.ledger_import(st.project(), handle, str(source))
    where = st.project().ledger.describe()
    st.output.emit({"imported": count, "into": where})
    if not st.output.json:
        st.output.out.print(f"[green]imported[/] {count} rows into {escape(where)}; chain intact")
