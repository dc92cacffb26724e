"""``relkit deploy``: gates, upload, unpack, atomic switch, restart, smoke."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from relkit import api
from relkit.cli.options import ActKeyOpt, EnvOpt, ManifestArg, example, state

HELP = (
    "Deploy a release: gates, upload, unpack, switch atomically, restart, smoke. A release the "
    "ledger says every host already runs is verified on each host over SSH without a play (the quick "
    "check; --full-play runs the play anyway). Where policy.signed_acts says (production by default) the "
    "deploy is signed with your key (--key); a gate is passed only by a signed `relkit override`. With "
    "environments.<env>.rollout the hosts switch in batches; a rollout left open is resumed by deploying "
    "its release again, and one paused for approval moves on with --continue --key."
    + example(
        "relkit deploy releases/2.0.0.yml --env production --key ~/.ssh/id_ed25519 "
        "(a paused rollout: add --continue)"
    )
)


def deploy(
    ctx: typer.Context,
    manifest: ManifestArg,
    env: EnvOpt,
    key: ActKeyOpt = None,
    full_play: Annotated[
        bool,
        typer.Option(
            "--full-play",
            help="run the deploy play even when the quick check over SSH could show every host "
            "already runs this release",
        ),
    ] = False,
    allow_downgrade: Annotated[
        bool,
        typer.Option(
            "--allow-downgrade",
            help="deploy a release older than the live one (refused otherwise: relkit rollback --to "
            "goes back with the data it had); recorded in the ledger",
        ),
    ] = False,
    go_on: Annotated[
        bool,
        typer.Option(
            "--continue",
            help="move a rollout on past its pause for approval (or a failure it kept): a signed act, "
            "needs --key",
        ),
    ] = False,
) -> None:
    st = state(ctx)
    out = st.output
    project = st.project()
    out.info.print(f"[bold]deploy[/] {manifest} → {env}")
    report = api.deploy(
        project,
        manifest,
        env,
        st.actor,
        out.progress,
        full_play=full_play,
        key=key,
        allow_downgrade=allow_downgrade,
        go_on=go_on,
    )
    out.emit(report.to_dict())
    if not out.json:
        hosts = ", ".join(report.hosts)
        if rollout := report.details.get("rollout"):
            for line in rollout_lines(rollout, str(manifest)):
                out.out.print(line)
        elif (report.details.get("quick_check") or {}).get("used"):
            out.out.print(
                f"[green]already live[/] {report.version} on {env}: {hosts}, verified on every host "
                f"without a play (run {report.run_id}; --full-play runs it anyway)"
            )
        else:
            out.out.print(f"[green]deployed[/] {report.version} to {env}: {hosts} (run {report.run_id})")
        if down := report.details.get("downgrade"):
            was = ", ".join(f"{h} from {v}" for h, v in down["from"].items())
            out.out.print(f"  [yellow]downgraded[/] {was} (--allow-downgrade, recorded in the ledger)")


def rollout_lines(rollout: dict[str, Any], manifest: str) -> list[str]:
    """How a rollout stands, for the terminal: its batches, then what comes next."""
    env, version, done, batches = rollout["env"], rollout["version"], rollout["done"], rollout["batches"]
    lines = []
    for index, hosts in enumerate(batches):
        mark = "[green]switched[/]" if index < done else "[dim]to go[/]"
        lines.append(f"  batch {index + 1}/{len(batches)} {mark}: {', '.join(hosts)}")
    if rollout["waiting_for"] == "approval":
        head = f"[yellow]paused[/] rollout of {version} on {env} after batch {done}/{len(batches)}"
        step = f"  waiting for a signed continue: relkit deploy {manifest} --env {env} --continue --key KEY"
        return [head, *lines, step]
    return [f"[green]deployed[/] {version} to {env} in {len(batches)} batches (rollout complete)", *lines]
