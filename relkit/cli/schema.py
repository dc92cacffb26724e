"""``relkit schema``: the JSON Schema of release manifests, of relkit.yml, or of relkit's JSON output."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from relkit import api
from relkit.cli.envelope import output_schema
from relkit.cli.options import example, state

HELP = (
    "Print a JSON Schema, for editors and other validators: of release manifests (the default), of "
    "relkit.yml (config, or --config) or of the one JSON document every command prints with "
    "--output json (output: the envelope and each command's result, docs/ci.md)."
    + example("relkit schema output > relkit-output.schema.json")
)

SCHEMAS = ("manifest", "config", "output")


def schema(
    ctx: typer.Context,
    what: Annotated[
        str, typer.Argument(help=f"which schema: {'|'.join(SCHEMAS)}", show_default=True)
    ] = "manifest",
    config: Annotated[bool, typer.Option("--config", help="the schema of relkit.yml (as: config)")] = False,
) -> None:
    if what not in SCHEMAS:
        raise api.BadInput(f"schema: expected one of {', '.join(SCHEMAS)}, got {what!r}")
    what = "config" if config else what
    found: dict[str, Any] = (
        api.config_schema()
        if what == "config"
        else output_schema()
        if what == "output"
        else api.manifest_schema()
    )
    out = state(ctx).output
    if out.json:
        out.emit(found)
    else:
        print(json.dumps(found, indent=2))
