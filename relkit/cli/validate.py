"""``relkit validate``: a release manifest; inside a project, relkit.yml and the manifest against it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import example, state
from relkit.cli.output import escape

HELP = (
    "Validate a release manifest (exit 0, or 2 naming every bad field). Inside a project (-C DIR, "
    "$RELKIT_PROJECT or a relkit.yml here or above) relkit.yml is checked too, with the variables its "
    "strings use, and the manifest against it: its app, its artifact and the artifact's sha256; without a "
    "manifest, relkit.yml alone. Outside a project only the file is checked, and relkit says so."
    + example("relkit validate releases/2.0.0.yml")
)


def validate(
    ctx: typer.Context,
    manifest: Annotated[
        Path | None,
        typer.Argument(
            help="release manifest, e.g. releases/2.0.0.yml (none: relkit.yml only)", show_default=False
        ),
    ] = None,
) -> None:
    st = state(ctx)
    result = api.validate_release(st.project_if_any(), manifest)
    out = st.output
    out.emit(result.to_dict())
    if out.json:
        return
    what = f"{result.manifest.app} {result.manifest.version} ({manifest})" if result.manifest else ""
    if result.project is None:
        out.out.print(f"[green]valid[/]: {escape(what)}: [bold]only the file was checked[/]")
    else:
        subject = what or f"{result.project / 'relkit.yml'}"
        out.out.print(f"[green]valid[/]: {escape(subject)} against the project {escape(str(result.project))}")
        out.out.print(f"  checked: {escape('; '.join(result.checked))}")
    for note in result.notes:
        out.out.print(f"  note: {escape(note)}")
