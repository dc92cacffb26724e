"""``relkit snapshots``: the data snapshots of an environment, per host, from the ledger."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from relkit import api
from relkit.cli.options import example, state

HELP = (
    "List the data snapshots of an environment per host (from the ledger): those taken before "
    "a release switched in and those saving the data as it stood when a rollback replaced it, "
    "with their items, sizes and whether a rollback restored them. Snapshots live on each host "
    "under <deploy_path>/snapshots/<id>/." + example("relkit snapshots --env production")
)


def snapshots(
    ctx: typer.Context,
    env: Annotated[str, typer.Option("--env", "-e", help="environment from relkit.yml")],
    host: Annotated[str | None, typer.Option("--host", help="only this host")] = None,
    pruned: Annotated[bool, typer.Option("--pruned", help="also those removed by retention")] = False,
) -> None:
    st = state(ctx)
    out = st.output
    found = [r for r in api.snapshots(st.project(), env, pruned) if host in (None, r.host)]
    if out.json:
        out.emit({"env": env, "snapshots": [r.to_dict() for r in found]})
        return
    if not found:
        out.out.print(f"no snapshots recorded for {env}")
        return
    table = Table(title=f"snapshots: {env}", title_justify="left")
    table.add_column("host", no_wrap=True)
    table.add_column("snapshot", no_wrap=True)
    for col in ("items", "size", "restored (UTC)"):
        table.add_column(col, overflow="fold")
    if pruned:
        table.add_column("state")
    for r in found:
        last = r.restored_at[-1][:16].replace("T", " ") if r.restored_at else ""
        restored = f"{len(r.restored_at)}x, {last}" if r.restored_at else "-"
        row = [r.host, r.id, ", ".join(_item(i) for i in r.items), api.human_size(r.size), restored]
        table.add_row(*row, *([r.state] if pruned else []))
    out.out.print(table)


def _item(item: dict[str, Any]) -> str:
    return f"{item.get('name')}{' (absent)' if item.get('absent') else ''}"
