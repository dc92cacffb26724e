"""``relkit prepare``: create the host layout and check host requirements."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import EnvOpt, example, state

HELP = "Create the host layout and check hosts against a manifest's requirements." + example(
    "relkit prepare --env staging --manifest releases/2.0.0.yml"
)


def prepare(
    ctx: typer.Context,
    env: EnvOpt,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", "-m", help="check its host requirements")
    ] = None,
) -> None:
    st = state(ctx)
    out = st.output
    out.info.print(f"[bold]prepare[/] {env}")
    report = api.prepare(st.project(), env, manifest, st.actor, out.progress)
    out.emit(report.to_dict())
    if not out.json:
        out.out.print(f"[green]prepared[/] {', '.join(report.hosts)}")
