"""The ``relkit`` Typer app: global options, the commands (one module each), error mapping.

Exit codes: 0 done · 1 unexpected error · 2 bad input · 3 blocked by a gate ·
4 play failed · 5 rollback failed · 6 locked by another run.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, cast

import typer

# typer >= 0.25 vendors click as typer._click: its exceptions are the ones raised here.
from typer._click import exceptions as click_exc

from relkit import api
from relkit.cli import (
    approve,
    close,
    deploy,
    gates,
    health,
    ledger,
    metrics,
    notify,
    override,
    prepare,
    report,
    rollback,
    schema,
    signers,
    snapshots,
    status,
    unlock,
    validate,
    verify,
)
from relkit.cli.options import Command, Group, State
from relkit.cli.output import Output, escape

app = typer.Typer(
    name="relkit",
    help=(
        "Release toolkit: gates, atomic deploys, rollback and a tamper-evident ledger.\n\n"
        "Example: relkit deploy releases/2.0.0.yml --env staging"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"]},
)

COMMANDS = (
    validate.validate,
    schema.schema,
    gates.gates,
    prepare.prepare,
    deploy.deploy,
    rollback.rollback,
    status.status,
    unlock.unlock,
    approve.approve,
    verify.verify,
    close.close,
    override.override,
    health.health,
    metrics.metrics,
    notify.notify,
    report.report,
    snapshots.snapshots,
)
"""Each command is the function of the same name in its module; the module's HELP is its help."""

for _command in COMMANDS:
    app.command(help=sys.modules[_command.__module__].HELP, cls=Command)(_command)
app.add_typer(ledger.app, name="ledger")
app.add_typer(signers.app, name="signers")


@app.callback(invoke_without_command=True)
def _global(
    ctx: typer.Context,
    project: Annotated[
        Path | None,
        typer.Option("--project", "-C", help="relkit.yml or its directory [env RELKIT_PROJECT]"),
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="text or json; may also follow the command as --output (-o there is the command's own)",
        ),
    ] = "text",
    actor: Annotated[str | None, typer.Option("--as", help="who acts [env RELKIT_USER, else login]")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="never prompt (CI)")] = False,
    version: Annotated[bool, typer.Option("--version", help="show relkit's version")] = False,
) -> None:
    """Options for every command."""
    if version:
        print(f"relkit {api.__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit(0)
    if output not in ("text", "json"):
        hint = " (to write the report to a file: relkit report MANIFEST --out FILE)" if "." in output else ""
        raise api.BadInput(f"--output: expected 'text' or 'json', got {output!r}{hint}")
    state = ctx.ensure_object(State)
    state.project_path, state.output, state.actor = project, Output(output), actor


GLOBAL_ANYWHERE = {"--as": 1, "--project": 1, "-C": 1, "--yes": 0, "-y": 0, "--output": 1}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Accept ``--as``, ``--project/-C``, ``--yes`` and ``--output`` after the command too:
    ``relkit approve M --as sari``. Not ``-o``: after a command it is that command's own
    (``relkit report M -o report.html`` is ``--out``)."""
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
    state = State()
    try:
        # standalone_mode=False: click returns an Exit's code instead of raising it
        returned = command.main(args=argv, prog_name="relkit", standalone_mode=False, obj=state)
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
        state.output.err.print(f"[red]error:[/] {escape(exc.format_message())}{escape(usage)}")
        return 2
    except api.RelkitError as exc:
        return _report_error(state.output, exc)
    except Exception:
        # a private file (0600) in the project's state directory, else the user's; never /tmp
        log = api.write_debug_log(api.redact_text(traceback.format_exc()), state.state_dir())
        logging.getLogger("relkit").debug("unexpected error", exc_info=True)
        where = escape(f"traceback in {log}" if log else "no place to keep the traceback")
        state.output.err.print(f"[bold red]unexpected error[/]: {escape(repr(sys.exc_info()[1]))} ({where})")
        return 1
    finally:
        state.close()
    return returned if isinstance(returned, int) else 0


def _report_error(out: Output, exc: api.RelkitError) -> int:
    payload: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc), "exit_code": exc.exit_code}
    if isinstance(exc, api.GateBlocked):
        if out.json:
            payload = {**exc.report.to_dict(), **payload}
        else:
            # errors.py imports nothing of relkit (so types the report as Reported); gates raise a GateReport
            gates.show_gates(out, cast("api.GateReport", exc.report))
    if isinstance(exc, api.BadInput):
        payload["problems"] = exc.problems
    result = getattr(exc, "result", None)  # PlayFailed, RollbackFailed, RollbackRefused
    if result is not None:
        payload["result"] = result.to_dict()
    out.emit(payload)
    out.err.print(f"[bold red]error[/] (exit {exc.exit_code}): {escape(str(exc))}")
    return exc.exit_code


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
