"""``relkit validate``: check a release manifest."""

from __future__ import annotations

import typer

from relkit import api
from relkit.cli.options import ManifestArg, example, state

HELP = "Validate a release manifest (exit 0, or 2 naming every bad field)." + example(
    "relkit validate releases/2.0.0.yml"
)


def validate(ctx: typer.Context, manifest: ManifestArg) -> None:
    m = api.validate(manifest)
    out = state(ctx).output
    out.emit({"valid": True, "app": m.app, "version": m.version})
    if not out.json:
        out.out.print(f"[green]valid[/]: {m.app} {m.version} ({manifest})")
