"""``relkit verify``: the PO's verification of the release in an environment, signed."""

from __future__ import annotations

from typing import Annotated

import typer

from relkit import api
from relkit.cli.approve import show_signed
from relkit.cli.options import KeyOpt, ManifestArg, example, state

HELP = "PO verification of the release in an environment (SOP 4.3.4), signed like an approval." + example(
    "relkit verify releases/2.0.0.yml --env production --key ~/.ssh/po_key --as dewi"
)


def verify(
    ctx: typer.Context,
    manifest: ManifestArg,
    key: KeyOpt,
    env: Annotated[str, typer.Option("--env", "-e", help="environment")] = "production",
) -> None:
    st = state(ctx)
    show_signed(st, api.verify(st.project(), manifest, env, key, api.identity(st.actor)), "verified")
