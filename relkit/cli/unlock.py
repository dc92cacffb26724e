"""``relkit unlock``: break a stale environment lock, on record."""

from __future__ import annotations

from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import ActKeyOpt, EnvOpt, example, state

HELP = (
    "Break a stale environment lock, recording who did it (signed with --key where "
    "policy.signed_acts says)." + example("relkit unlock --env production --key ~/.ssh/id_ed25519")
)


def unlock(
    ctx: typer.Context,
    env: EnvOpt,
    by: Annotated[str | None, typer.Option("--by", help="who breaks the lock")] = None,
    key: ActKeyOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="break even a lock whose holder looks alive")
    ] = False,
) -> None:
    st = state(ctx)
    holder = api.unlock(st.project(), env, by, force, key=key)
    st.output.emit({"unlocked": env, "holder": holder.__dict__})
    if not st.output.json:
        st.output.out.print(f"unlocked {env} (was: {holder.describe()})")
