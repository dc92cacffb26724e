"""``relkit schema``: the JSON Schema of release manifests, or of relkit.yml."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import example

HELP = (
    "Print the JSON Schema of release manifests (--config: of relkit.yml), for editors and other "
    "validators." + example("relkit schema > manifest.schema.json")
)


def schema(
    config: Annotated[bool, typer.Option("--config", help="the schema of relkit.yml instead")] = False,
) -> None:
    print(json.dumps(api.config_schema() if config else api.manifest_schema(), indent=2))
