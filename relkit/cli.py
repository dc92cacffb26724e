"""The ``relkit`` command line: parses arguments, calls :mod:`relkit.api`, renders results.

Exit codes: 0 done · 1 unexpected error · 2 bad input · 3 blocked by a gate ·
4 play failed · 5 rollback failed · 6 locked by another run.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

# typer >= 0.25 vendors click as typer._click: its exceptions are the ones raised here.
from typer._click import exceptions as click_exc

from relkit import __version__, api, gatekeeper
from relkit.errors import BadInput, GateBlocked, PlayFailed, RelkitError, RollbackFailed
from relkit.project import Project
from relkit.render import Output, entries_table, gate_table
from relkit.secrets import redact_text

app = typer.Typer(
    name="relkit",
    help=(
        "Release toolkit: gates, atomic deploys, rollback and a tamper-evident ledger.\n\n"
        "Example: relkit deploy releases/2.0.0.yml --env staging"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
ledger_app = typer.Typer(
    help="Show or verify the ledger.\n\nExample: relkit ledger verify", no_args_is_help=True
)
app.add_typer(ledger_app, name="ledger")


class State:
    """Options shared by every command."""

    project_path: Path | None = None
    output: Output = Output()
    actor: str | None = None

    def project(self) -> Project:
        return Project.load(self.project_path)


state = State()

ManifestArg = Annotated[
    Path, typer.Argument(help="release manifest, e.g. releases/2.0.0.yml", show_default=False)
]
EnvOpt = Annotated[str, typer.Option("--env", "-e", help="environment from relkit.yml", show_default=False)]


def _example(text: str) -> str:
    return f"\n\nExample: {text}"


@app.callback(invoke_without_command=True)
def _global(
    ctx: typer.Context,
    project: Annotated[
        Path | None,
        typer.Option("--project", "-C", help="relkit.yml or its directory [env RELKIT_PROJECT]"),
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
    actor: Annotated[str | None, typer.Option("--as", help="who acts [env RELKIT_USER, else login]")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="never prompt (CI)")] = False,
    version: Annotated[bool, typer.Option("--version", help="show relkit's version")] = False,
) -> None:
    """Options for every command."""
    if version:
        print(f"relkit {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit(0)
    if output not in ("text", "json"):
        raise BadInput(f"--output: expected 'text' or 'json', got {output!r}")
    state.project_path, state.output, state.actor = project, Output(output), actor


@app.command(
    help="Validate a release manifest (exit 0, or 2 naming every bad field)."
    + _example("relkit validate releases/2.0.0.yml")
)
def validate(manifest: ManifestArg) -> None:
    m = api.validate(manifest)
    out = state.output
    out.emit({"valid": True, "app": m.app, "version": m.version})
    if not out.json:
        out.out.print(f"[green]valid[/]: {m.app} {m.version} ({manifest})")


@app.command(
    help="Print the JSON Schema of release manifests." + _example("relkit schema > manifest.schema.json")
)
def schema() -> None:
    print(json.dumps(api.manifest_schema(), indent=2))


@app.command(
    help="Evaluate the gates for a stage (exit 0 all pass, 3 blocked)."
    + _example("relkit gates releases/2.0.0.yml --env production")
)
def gates(
    manifest: ManifestArg,
    env: EnvOpt,
    stage: Annotated[str, typer.Option("--stage", "-s", help="prepare or deploy")] = "deploy",
) -> None:
    _, report, _ = api.check_gates(state.project(), manifest, env, stage, actor=state.actor)
    _show_gates(report)
    if not report.passed:
        raise typer.Exit(3)


@app.command(
    help="Create the host layout and check hosts against a manifest's requirements."
    + _example("relkit prepare --env staging --manifest releases/2.0.0.yml")
)
def prepare(
    env: EnvOpt,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", "-m", help="check its host requirements")
    ] = None,
) -> None:
    out = state.output
    out.info.print(f"[bold]prepare[/] {env}")
    report = api.prepare(state.project(), env, manifest, state.actor, out.progress)
    out.emit(report.to_dict())
    if not out.json:
        out.out.print(f"[green]prepared[/] {', '.join(report.hosts)}")


@app.command(
    help="Deploy a release: gates, upload, unpack, switch atomically, restart, smoke. A release the "
    "ledger says every host already runs is verified on each host over SSH without a play (the quick "
    "check; --full-play runs the play anyway)." + _example("relkit deploy releases/2.0.0.yml --env staging")
)
def deploy(
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
    out = state.output
    project = state.project()
    overrides = gatekeeper.parse_overrides(project, override or [], by, reason)
    out.info.print(f"[bold]deploy[/] {manifest} → {env}")
    report = api.deploy(
        project, manifest, env, state.actor, out.progress, overrides=overrides, full_play=full_play
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


@app.command(
    help="Switch back to the previous (or --to) release, restore its data snapshot (the data as it "
    "stands is saved first) and restart; needs --by and --reason."
    + _example('relkit rollback --env production --by alice --reason "login broken"')
)
def rollback(
    env: EnvOpt,
    by: Annotated[str | None, typer.Option("--by", help="who decided the rollback")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="why")] = None,
    to: Annotated[str | None, typer.Option("--to", help="version to roll back to")] = None,
    code_only: Annotated[
        bool, typer.Option("--code-only", help="switch code only; leave the data as it is")
    ] = False,
) -> None:
    out = state.output
    out.info.print(f"[bold]rollback[/] {env}")
    report = api.rollback(state.project(), env, by, reason, to, out.progress, code_only=code_only)
    out.emit(report.to_dict())
    if not out.json:
        targets = ", ".join(f"{h} → {v}" for h, v in report.rolled_back.items()) or "nothing to switch"
        out.out.print(f"[green]rolled back[/] {env}: {targets}")
        if already := report.details.get("already_live"):
            out.out.print(f"  {', '.join(already)}: already on {to}, smoke pass ok: left running")
        for host, data in sorted(report.details.get("data", {}).items()):
            if "restored" in data:
                out.out.print(
                    f"  {host}: data restored from snapshot {data['restored']}; "
                    f"the data as it stood is in snapshot {data.get('at_rollback', '?')}"
                )


@app.command(
    help="What is live where, since when, deployed by whom; interrupted runs; locks."
    + _example("relkit status")
)
def status() -> None:
    view = api.status(state.project())
    out = state.output
    if out.json:
        out.emit(view.to_dict())
        return
    table = Table(title="live releases", title_justify="left")
    for col in ("env", "host", "version", "since (UTC)", "by", "how", "release"):
        table.add_column(col)
    for env, hosts in sorted(view.live.items()):
        for host, live in sorted(hosts.items()):
            phase = f"closed {live.closed[:16]}" if live.closed else "open"
            table.add_row(env, host, live.version, live.since[:19], live.by, live.action, phase)
    out.out.print(table if view.live else "nothing deployed yet")
    for env, holder in view.locks.items():
        out.out.print(f"[yellow]lock[/] {env}: {holder}")
    for run in view.interrupted:
        out.out.print(
            f"[red]interrupted[/] {run.action} run {run.run_id} on {run.env} by {run.by} "
            f"(pid {run.pid} on {run.controller}, started {run.started[:19]}Z) never finished"
        )


@app.command(
    help="Break a stale environment lock, recording who did it."
    + _example("relkit unlock --env production --by alice")
)
def unlock(
    env: EnvOpt,
    by: Annotated[str | None, typer.Option("--by", help="who breaks the lock")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="break even a lock whose holder looks alive")
    ] = False,
) -> None:
    holder = api.unlock(state.project(), env, by, force)
    state.output.emit({"unlocked": env, "holder": holder.__dict__})
    if not state.output.json:
        state.output.out.print(f"unlocked {env} (was: {holder.describe()})")


@ledger_app.command("show", help="Show ledger entries." + _example("relkit ledger show --kind 'host.*'"))
def ledger_show(
    kind: Annotated[str | None, typer.Option("--kind", help="kind, * as wildcard")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="environment")] = None,
    last: Annotated[int, typer.Option("--last", help="only the last N entries (0 = all)")] = 50,
) -> None:
    entries = api.ledger_entries(state.project(), kind, env)
    entries = entries[-last:] if last else entries
    if state.output.json:
        state.output.emit({"entries": [e.__dict__ for e in entries]})
    else:
        state.output.out.print(entries_table(entries))


@ledger_app.command(
    "verify",
    help="Verify the hash chain (exit 0, or 1 naming the first bad row)." + _example("relkit ledger verify"),
)
def ledger_verify() -> None:
    check = api.ledger_verify(state.project())
    state.output.emit(check.__dict__)
    if not check.ok:
        state.output.err.print(f"[bold red]ledger broken[/] at row {check.bad_seq}: {check.problem}")
        raise typer.Exit(1)
    if not state.output.json:
        state.output.out.print(f"[green]ledger ok[/]: {check.checked} rows, chain intact")


def _show_gates(report: object) -> None:
    out = state.output
    if out.json:
        out.emit(report.to_dict())  # type: ignore[attr-defined]
    else:
        out.out.print(gate_table(report))  # type: ignore[arg-type]


def _register_command_modules() -> None:
    import importlib

    from relkit.commands import MODULES

    for name in MODULES:
        importlib.import_module(f"relkit.commands.{name}").register(app, state)


_register_command_modules()


GLOBAL_ANYWHERE = {"--as": 1, "--project": 1, "-C": 1, "--yes": 0, "-y": 0}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Accept ``--as``, ``--project/-C``, ``--yes`` after the command too: ``relkit approve M --as sari``."""
    front, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if name in GLOBAL_ANYWHERE:
            width = 1 if "=" in arg else 1 + GLOBAL_ANYWHERE[name]
            front.extend(argv[i : i + width])
            i += width
            continue
        rest.append(arg)
        i += 1
    return front + rest


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code. Errors are mapped to codes here and nowhere else."""
    argv = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    command = typer.main.get_command(app)
    try:
        # standalone_mode=False: click returns an Exit's code instead of raising it
        returned = command.main(args=argv, prog_name="relkit", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        state.output.err.print("aborted")
        return 1
    except click_exc.NoArgsIsHelpError as exc:
        print(exc.format_message())
        return 0
    except click_exc.UsageError as exc:
        usage = f"\n{exc.ctx.get_usage()}" if exc.ctx else ""
        state.output.err.print(f"[red]error:[/] {_plain(exc.format_message())}{_plain(usage)}")
        return 2
    except RelkitError as exc:
        return _report_error(exc)
    except Exception:
        log = Path(tempfile.gettempdir()) / "relkit-debug.log"
        log.write_text(redact_text(traceback.format_exc()))
        logging.getLogger("relkit").debug("unexpected error", exc_info=True)
        state.output.err.print(f"[bold red]unexpected error[/]: {sys.exc_info()[1]!r} (traceback in {log})")
        return 1
    return returned if isinstance(returned, int) else 0


def _report_error(exc: RelkitError) -> int:
    out = state.output
    payload: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc), "exit_code": exc.exit_code}
    if isinstance(exc, GateBlocked):
        if out.json:
            payload = {**exc.report.to_dict(), **payload}  # type: ignore[attr-defined]
        else:
            _show_gates(exc.report)
    if isinstance(exc, BadInput):
        payload["problems"] = exc.problems
    if isinstance(exc, PlayFailed | RollbackFailed) and exc.result is not None:
        payload["result"] = exc.result.to_dict()  # type: ignore[attr-defined]
    out.emit(payload)
    out.err.print(f"[bold red]error[/] (exit {exc.exit_code}): {_plain(str(exc))}")
    return exc.exit_code


def _plain(text: str) -> str:
    return text.replace("[", r"\[")


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
