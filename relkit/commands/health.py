"""CLI: ``relkit health`` — scheduled post-release health checks (SOP 4.4.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from relkit import api
from relkit.errors import HealthCritical
from relkit.health import HealthReport

STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red", "skipped": "dim"}


def _esc(text: str) -> str:
    return text.replace("[", r"\[")


def health_table(report: HealthReport) -> Table:
    """One row per host and check: severity, result, latency, detail."""
    table = Table(title=f"health: {report.env}", title_justify="left")
    for col in ("host", "version", "check", "severity", "result", "ms", "detail"):
        table.add_column(col, overflow="fold")
    for h in report.hosts.values():
        if not h.checks:
            table.add_row(
                h.host, h.version or "-", "-", "critical", "[bold red]critical[/]", "", _esc(h.problem)
            )
        for c in h.checks:
            word = c["status"]
            table.add_row(
                h.host,
                h.version or "-",
                c["name"],
                c["severity"],
                f"[{STYLE[word]}]{word}[/]",
                f"{float(c.get('latency_ms') or 0):.0f}",
                _esc(str(c.get("detail", ""))),
            )
    return table


def register(app: typer.Typer, state: Any) -> None:
    """Add ``health`` to the CLI."""

    @app.command(
        help="Smoke + health checks of the live release on every host, in one play; ledger, optional "
        "Prometheus textfile, automatic rollback after health.critical_threshold critical runs in a row. "
        "Exit 0 healthy (warnings allowed) or skipped (window over, deploy running), 4 critical."
        "\n\nExample: relkit health --env production --prom-file /var/lib/node_exporter/relkit.prom"
    )
    def health(
        env: Annotated[
            str, typer.Option("--env", "-e", help="environment from relkit.yml", show_default=False)
        ],
        prom_file: Annotated[
            Path | None,
            typer.Option(
                "--prom-file", help="write Prometheus metrics here, atomically (textfile collector)"
            ),
        ] = None,
        always: Annotated[
            bool, typer.Option("--always", help="check even after the monitoring window has ended")
        ] = False,
        wait: Annotated[
            float, typer.Option("--wait", help="seconds to wait for a running deploy, then skip")
        ] = 10.0,
    ) -> None:
        out = state.output
        report = api.health(
            state.project(),
            env,
            by=state.actor,
            always=always,
            prom_file=prom_file,
            wait=wait,
            progress=out.progress,
        )
        if report.skipped:
            out.emit(report.to_dict())
            if not out.json:
                out.out.print(f"[dim]skipped[/] {env}: {_esc(report.skipped)}")
            return
        if not out.json:
            out.out.print(health_table(report))
            for note in report.notes:
                out.out.print(f"[yellow]note[/]: {_esc(note)}")
        if report.critical:
            raise HealthCritical(report.summary(), report)
        out.emit(report.to_dict())
        if not out.json:
            word = report.status
            out.out.print(
                f"[{STYLE[word]}]{word}[/] {env}: {len(report.hosts)} host(s) "
                f"checked in {report.seconds:.2f} s"
                + (f", metrics in {report.prom_file}" if report.prom_file else "")
            )
