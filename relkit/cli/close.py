"""``relkit close``: close a release after monitoring, verification and a retrospective."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import ActKeyOpt, ManifestArg, example, state
from relkit.cli.output import gate_table

HELP = "Close a release: monitoring window elapsed, PO verified, retrospective note given." + example(
    "relkit close releases/2.0.0.yml --retro retro-2.0.0.md --key ~/.ssh/po_key"
)


def close(
    ctx: typer.Context,
    manifest: ManifestArg,
    retro: Annotated[Path, typer.Option("--retro", help="retrospective note (text/markdown file)")],
    env: Annotated[str, typer.Option("--env", "-e", help="environment")] = "production",
    key: ActKeyOpt = None,
) -> None:
    st = state(ctx)
    by = st.actor if key else api.identity(st.actor)
    report = api.close(st.project(), manifest, env, retro, by, key=key)
    out = st.output
    out.emit({"closed": True, **report.to_dict()})
    if not out.json:
        out.out.print(gate_table(report))
        out.out.print(f"[green]closed[/] {report.version} on {env}")
