"""``relkit unlock``: break a stale environment lock, on record."""

from __future__ import annotations

from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import EnvOpt, example, state

HELP = "Break a stale environment lock, recording who did it." + example(
    "relkit unlock --env production --by alice"
)


def unlock(
    ctx: typer.Context,
    env: EnvOpt,
    by: Annotated[str | None, typer.Option("--by", help="who breaks the lock")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="break even a lock whose holder looks alive")
    ] = False,
) -> None:
    st = state(ctx)
    holder = api.unlock(st.project(), env, by, force)
    st.output.emit({"unlocked": env, "holder": holder.__dict__})
    if not st.output.json:
        st.output.out.print(f"unlocked {env} (was: {holder.describe()})")
