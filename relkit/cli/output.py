"""Terminal and JSON rendering of relkit's results (rich on a TTY, plain when piped)."""

from __future__ import annotations

import json
import sys
from typing import IO, Any, cast

from rich.console import Console
from rich.table import Table

from relkit.api import Entry, GateReport, RedactingStream, TaskOutcome, redact, redact_text

STYLE = {
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "unreachable": "bold red",
    "skipped": "dim",
}


class Output:
    """Where results go: human text on stdout, or JSON on stdout with progress on stderr."""

    def __init__(self, fmt: str = "text") -> None:
        self.json = fmt == "json"
        self.result: dict[str, Any] | None = None
        """The command's payload (``emit``): the envelope's ``result`` (relkit.cli.envelope)."""
        # every character printed passes relkit.secrets' redactor (secret values become ********);
        # RedactingStream is a duck-typed text stream (write redacts, the rest is delegated)
        out, err = (cast("IO[str]", RedactingStream(name)) for name in ("stdout", "stderr"))
        self.out = Console(file=out, highlight=False, soft_wrap=True, emoji=False)
        self.err = Console(file=err, stderr=True, highlight=False, soft_wrap=True, emoji=False)

    @property
    def info(self) -> Console:
        """Console for progress and notes (stderr in JSON mode)."""
        return self.err if self.json else self.out

    def emit(self, payload: dict[str, Any]) -> None:
        """Keep the command's payload: relkit.cli.app prints it once, in the envelope, when
        the command has ended (JSON mode)."""
        self.result = payload

    def document(self, payload: dict[str, Any]) -> None:
        """Print one JSON document on stdout, secrets redacted."""
        sys.stdout.write(redact_text(json.dumps(redact(payload), indent=2, default=str)) + "\n")
        sys.stdout.flush()

    def progress(self, outcome: TaskOutcome) -> None:
        """One line per host and task, as results arrive."""
        quiet_ok = outcome.status == "ok" and outcome.action.endswith("validate_argument_spec")
        if outcome.status == "skipped" or quiet_ok:
            return
        word = "changed" if outcome.status == "ok" and outcome.changed else outcome.status
        line = f"  [{STYLE[word]}]{word:<11}[/] {outcome.host:<14} {outcome.task}"
        if outcome.status in ("failed", "unreachable") and outcome.msg:
            line += f"\n      [red]{escape(outcome.msg)}[/]"
        self.info.print(line)


def gate_table(report: GateReport) -> Table:
    """The gate table: gate, result, reason, what to do."""
    table = Table(title=f"gates: {report.stage} {report.version} → {report.env}", title_justify="left")
    for col in ("gate", "result", "reason", "what to do"):
        table.add_column(col, overflow="fold")
    for r in report.results:
        if r.overridden:
            verdict = f"[yellow]OVERRIDDEN[/] by {escape(r.overridden_by)}"
            reason = f"{r.reason} — override: {r.override_reason}"
        else:
            verdict = "[green]pass[/]" if r.passed else "[bold red]BLOCKED[/]"
            reason = r.reason
        table.add_row(r.name, verdict, escape(reason), escape(r.remedy))
    return table


def entries_table(entries: list[Entry]) -> Table:
    """Ledger rows."""
    table = Table(title="ledger", title_justify="left")
    for col in ("#", "time (UTC)", "kind", "env", "host", "data"):
        table.add_column(col, overflow="fold")
    for e in entries:
        data = json.dumps(e.data, sort_keys=True, default=str)
        table.add_row(str(e.seq), e.ts[:19], e.kind, e.env, e.host, escape(data[:160]))
    return table


def escape(text: str) -> str:
    """Text shown literally by rich (no markup)."""
    return text.replace("[", r"\[")
