"""``relkit status``: what is live where, interrupted runs, locks."""

from __future__ import annotations

import typer
from rich.table import Table

from relkit import api
from relkit.cli.options import example, state

HELP = "What is live where, since when, deployed by whom; interrupted runs; locks." + example("relkit status")


def status(ctx: typer.Context) -> None:
    st = state(ctx)
    view = api.status(st.project())
    out = st.output
    if out.json:
        out.emit(view.to_dict())
        return
    table = Table(title="live releases", title_justify="left")
    for col in ("env", "host", "version", "since (UTC)", "by", "how", "release"):
        table.add_column(col)
    for env, hosts in sorted(view.live.items()):
        for host, live in sorted(hosts.items()):
            phase = f"closed {live.closed[:16]}" if live.closed else "open"
            table.add_row(env, host, live.version, live.since[:19], live.by, live.action, phase)
    out.out.print(table if view.live else "nothing deployed yet")
    for env, holder in view.locks.items():
        out.out.print(f"[yellow]lock[/] {env}: {holder}")
    for run in view.interrupted:
        out.out.print(
            f"[red]interrupted[/] {run.action} run {run.run_id} on {run.env} by {run.by} "
            f"(pid {run.pid} on {run.controller}, started {run.started[:19]}Z) never finished"
        )
