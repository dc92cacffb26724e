"""The ``relkit`` Typer app: global options, the commands (one module each), error mapping.

Exit codes: 0 done · 1 unexpected error · 2 bad input · 3 blocked by a gate ·
4 play failed · 5 rollback failed · 6 locked by another run.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, cast

import typer

# typer >= 0.25 vendors click as typer._click: its exceptions are the ones raised here.
from typer._click import Command as ClickCommand
from typer._click import exceptions as click_exc
from typer.core import TyperGroup

from relkit import api
from relkit.cli import (
    approve,
    close,
    deploy,
    envelope,
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
            envvar="RELKIT_OUTPUT",
            help="text or json: one JSON document on stdout, whatever happens (docs/ci.md); may also "
            "follow the command (-o there only where the command has no -o of its own) [env RELKIT_OUTPUT]",
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
    if state.output.json != (output == "json"):
        state.output = Output(output)
    state.project_path, state.actor = project, actor


GLOBAL_ANYWHERE = {"--as": 1, "--project": 1, "-C": 1, "--yes": 0, "-y": 0, "--output": 1}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Accept ``--as``, ``--project/-C``, ``--yes`` and ``--output`` after the command too:
    ``relkit approve M --as sari``. ``-o`` too, except after a command that has its own ``-o``
    (``relkit report M -o report.html`` is ``--out``)."""
    _, leaf, _ = resolve(argv)
    own = {opt for p in leaf.params for opt in getattr(p, "opts", [])} if leaf is not None else set()
    anywhere = {**GLOBAL_ANYWHERE, **({} if "-o" in own else {"-o": 1})}
    front, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if name in anywhere:
            width = 1 if "=" in arg else 1 + anywhere[name]
            front.extend(argv[i : i + width])
            i += width
            continue
        rest.append(arg)
        i += 1
    return front + rest


@functools.cache
def _click_app() -> ClickCommand:
    return typer.main.get_command(app)


def resolve(argv: list[str]) -> tuple[list[str], ClickCommand | None, dict[str, str]]:
    """The command ``argv`` names (``["ledger", "show"]``), its click command (None when it
    names none) and the values of the options given before it by name (``{"output": "json"}``),
    read without running anything: a usage error can happen before click parses a thing."""
    group: ClickCommand = _click_app()
    path: list[str] = []
    given: dict[str, str] = {}
    i = 0
    while i < len(argv) and isinstance(group, TyperGroup):
        arg = argv[i]
        if arg == "--":
            break
        if not arg.startswith("-"):
            sub = group.commands.get(arg)
            if sub is None:
                return path, None, given
            path.append(arg)
            group, i = sub, i + 1
            continue
        name, eq, value = arg.partition("=")
        if not eq and not name.startswith("--") and len(name) > 2:
            name, value, eq = name[:2], name[2:], "="  # -ojson
        option = next((p for p in group.params if name in getattr(p, "opts", [])), None)
        takes_value = option is not None and not getattr(option, "is_flag", False)
        if takes_value and not eq:
            value = argv[i + 1] if i + 1 < len(argv) else ""
            i += 1
        if option is not None and option.name:
            given[option.name] = value
        i += 1
    return path, (None if isinstance(group, TyperGroup) and not path else group), given


def wants_json(argv: list[str]) -> bool:
    """Whether this invocation asked for JSON: ``--output json`` (``-o json`` before the command;
    after it, once hoisted), else $RELKIT_OUTPUT."""
    _, _, given = resolve(argv)
    return given.get("output", os.environ.get("RELKIT_OUTPUT", "text")) == "json"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code. Errors are mapped to codes here and nowhere else.

    With ``--output json`` stdout carries exactly one document, the envelope
    (relkit.cli.envelope), whatever happens: anything else a command would print on stdout
    goes to the envelope's ``result.text`` (help) or to stderr."""
    argv = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    path, _, _ = resolve(argv)
    state = State(output=Output("json" if wants_json(argv) else "text"))
    if not state.output.json:
        return _run(argv, state)[0]
    stray = io.StringIO()
    with contextlib.redirect_stdout(stray):
        code, err = _run(argv, state)
    out = state.output
    if stray.getvalue() and out.result is None:
        out.result = {"text": stray.getvalue()}
    elif stray.getvalue():
        out.err.file.write(stray.getvalue())
    out.document(envelope.envelope(" ".join(path) or None, code, out.result, err))
    return code


def _run(argv: list[str], state: State) -> tuple[int, dict[str, Any] | None]:
    """Run the command: its exit code and, when it failed, the envelope's ``error``."""
    command = _click_app()
    try:
        # standalone_mode=False: click returns an Exit's code instead of raising it
        returned = command.main(args=argv, prog_name="relkit", standalone_mode=False, obj=state)
    except typer.Exit as exc:
        return exc.exit_code, None
    except typer.Abort:
        state.output.err.print("aborted")
        return 1, envelope.error("Aborted", "aborted")
    except click_exc.NoArgsIsHelpError as exc:
        print(exc.format_message())
        return 0, None
    except click_exc.UsageError as exc:
        usage = f"\n{exc.ctx.get_usage()}" if exc.ctx else ""
        state.output.err.print(f"[red]error:[/] {escape(exc.format_message())}{escape(usage)}")
        return 2, envelope.error("UsageError", exc.format_message())
    except envelope.Failed as exc:
        return exc.exit_code, envelope.error(exc.kind, exc.message, exc.problems, exc.gates)
    except api.RelkitError as exc:
        return _report_error(state.output, exc)
    except Exception:
        # a private file (0600) in the project's state directory, else the user's; never /tmp
        log = api.write_debug_log(api.redact_text(traceback.format_exc()), state.state_dir())
        logging.getLogger("relkit").debug("unexpected error", exc_info=True)
        what = repr(sys.exc_info()[1])
        where = f"traceback in {log}" if log else "no place to keep the traceback"
        state.output.err.print(f"[bold red]unexpected error[/]: {escape(what)} ({escape(where)})")
        return 1, envelope.error("UnexpectedError", what, log=str(log) if log else None)
    finally:
        state.close()
    return (returned if isinstance(returned, int) else 0), None


def _report_error(out: Output, exc: api.RelkitError) -> tuple[int, dict[str, Any]]:
    """Say what failed on stderr; the envelope's ``error``, and the payload the error carries
    (a failed play's run, a critical health report) as its ``result``."""
    gate_report = None
    if isinstance(exc, api.GateBlocked):
        gate_report = exc.report.to_dict()
        if not out.json:
            # errors.py imports nothing of relkit (so types the report as Reported); gates raise a GateReport
            gates.show_gates(out, cast("api.GateReport", exc.report))
    problems = exc.problems if isinstance(exc, api.BadInput) else []
    result = getattr(exc, "result", None)  # PlayFailed, RollbackFailed, RollbackRefused
    if result is not None:
        out.emit(result.to_dict())
    message = str(exc).split("\n  - ")[0] if problems else str(exc)
    out.err.print(f"[bold red]error[/] (exit {exc.exit_code}): {escape(str(exc))}")
    return exc.exit_code, envelope.error(type(exc).__name__, message, problems, gate_report)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
