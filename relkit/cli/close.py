"""``relkit close``: close a release after monitoring, verification and a retrospective."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import ManifestArg, example, state
from relkit.cli.output import gate_table

HELP = "Close a release: monitoring window elapsed, PO verified, retrospective note given." + example(
    "relkit close releases/2.0.0.yml --retro retro-2.0.0.md"
)


def close(
    ctx: typer.Context,
    manifest: ManifestArg,
    retro: Annotated[Path, typer.Option("--retro", help="retrospective note (text/markdown file)")],
    env: Annotated[str, typer.Option("--env", "-e", help="environment")] = "production",
) -> None:
    st = state(ctx)
    report = api.close(st.project(), manifest, env, retro, api.identity(st.actor))
    out = st.output
    out.emit({"closed": True, **report.to_dict()})
    if not out.json:
        out.out.print(gate_table(report))
        out.out.print(f"[green]closed[/] {report.version} on {env}")
