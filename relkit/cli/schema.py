"""``relkit schema``: the JSON Schema of release manifests."""

from __future__ import annotations

import json

from relkit import api
from relkit.cli.options import example

HELP = "Print the JSON Schema of release manifests." + example("relkit schema > manifest.schema.json")


def schema() -> None:
    print(json.dumps(api.manifest_schema(), indent=2))
