"""``relkit rollback``: back to the previous (or a named) release, code and data."""

from __future__ import annotations

from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import ActKeyOpt, example, state

HELP = (
    "Switch back to the previous (or --to) release, restore its data snapshot (the data as it "
    "stands is saved first) and restart; needs --reason, and --by (who decided) unless signed. "
    "After a deploy that kept the host cards, the hosts are switched back over SSH without a play "
    "(--full-play runs it)."
    + " Where policy.signed_acts says (production by default) it is signed with your key (--key); "
    "--by then names who decided it (default: you)."
    + example('relkit rollback --env production --key ~/.ssh/id_ed25519 --by dewi --reason "login broken"')
)


def rollback(
    ctx: typer.Context,
    # --env, --reason and --by are checked together: every missing one is named at once (exit 2)
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="environment from relkit.yml  [required]")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="who decided the rollback  [required; signed with --key: default you]"),
    ] = None,
    key: ActKeyOpt = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="why the release is rolled back  [required]")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="version to roll back to")] = None,
    code_only: Annotated[
        bool, typer.Option("--code-only", help="switch code only; leave the data as it is")
    ] = False,
    full_play: Annotated[
        bool,
        typer.Option(
            "--full-play",
            help="roll back by the rollback play even when the last deploy's host cards allow it without one",
        ),
    ] = False,
) -> None:
    st = state(ctx)
    out = st.output
    if env:
        out.info.print(f"[bold]rollback[/] {env}")
    report = api.rollback(
        st.project(),
        env or "",
        by,
        reason,
        to,
        out.progress,
        code_only=code_only,
        key=key,
        claimed=st.actor,
        full_play=full_play,
    )
    out.emit(report.to_dict())
    if out.json:
        return
    targets = ", ".join(f"{h} → {v}" for h, v in report.rolled_back.items()) or "nothing to switch"
    out.out.print(f"[green]rolled back[/] {env}: {targets}")
    direct = report.details.get("direct") or {}
    if direct.get("used"):
        played = f"; played on {', '.join(direct['played'])} (no answer)" if direct.get("played") else ""
        out.out.print(f"  switched back over the host cards, without a play (--full-play runs it){played}")
    if already := report.details.get("already_live"):
        out.out.print(f"  {', '.join(already)}: already on {to}, smoke pass ok: left running")
    for host, data in sorted(report.details.get("data", {}).items()):
        if "restored" in data:
            out.out.print(
                f"  {host}: data restored from snapshot {data['restored']}; "
                f"the data as it stood is in snapshot {data.get('at_rollback', '?')}"
            )
