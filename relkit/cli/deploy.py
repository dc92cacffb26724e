"""``relkit deploy``: gates, upload, unpack, atomic switch, restart, smoke."""

from __future__ import annotations

from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import EnvOpt, ManifestArg, example, state

HELP = (
    "Deploy a release: gates, upload, unpack, switch atomically, restart, smoke. A release the "
    "ledger says every host already runs is verified on each host over SSH without a play (the quick "
    "check; --full-play runs the play anyway)." + example("relkit deploy releases/2.0.0.yml --env staging")
)


def deploy(
    ctx: typer.Context,
    manifest: ManifestArg,
    env: EnvOpt,
    override: Annotated[
        list[str] | None,
        typer.Option("--override", help="pass a failed gate (repeatable; needs --by, --reason)"),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="who overrides")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="why the override")] = None,
    full_play: Annotated[
        bool,
        typer.Option(
            "--full-play",
            help="run the deploy play even when the quick check over SSH could show every host "
            "already runs this release",
        ),
    ] = False,
) -> None:
    st = state(ctx)
    out = st.output
    project = st.project()
    overrides = api.parse_overrides(project, override or [], by, reason)
    out.info.print(f"[bold]deploy[/] {manifest} → {env}")
    report = api.deploy(
        project, manifest, env, st.actor, out.progress, overrides=overrides, full_play=full_play
    )
    out.emit(report.to_dict())
    if not out.json:
        hosts = ", ".join(report.hosts)
        if report.details.get("quick_check", {}).get("used"):
            out.out.print(
                f"[green]already live[/] {report.version} on {env}: {hosts}, verified on every host "
                f"without a play (run {report.run_id}; --full-play runs it anyway)"
            )
        else:
            out.out.print(f"[green]deployed[/] {report.version} to {env}: {hosts} (run {report.run_id})")
