"""CLI: ``relkit health`` — scheduled post-release health checks (SOP 4.4.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from relkit import api
from relkit.cli.options import EnvOpt, example, state
from relkit.cli.output import escape

STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red", "skipped": "dim"}


def health_table(report: api.HealthReport) -> Table:
    """One row per host and check: severity, result, latency, detail."""
    table = Table(title=f"health: {report.env}", title_justify="left")
    for col in ("host", "version", "check", "severity", "result", "ms", "detail"):
        table.add_column(col, overflow="fold")
    for h in report.hosts.values():
        if not h.checks:
            table.add_row(
                h.host, h.version or "-", "-", "critical", "[bold red]critical[/]", "", escape(h.problem)
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
                escape(str(c.get("detail", ""))),
            )
    return table


HELP = (
    "Smoke + health checks of the live release on every host, over SSH with the last deploy's host cards "
    "(else in one play); ledger, optional "
    "Prometheus textfile, automatic rollback after health.critical_threshold critical runs in a row. "
    "Exit 0 healthy (warnings allowed) or skipped (window over, deploy running), 4 critical."
    + example("relkit health --env production --prom-file /var/lib/node_exporter/relkit.prom")
)


def health(
    ctx: typer.Context,
    env: EnvOpt,
    prom_file: Annotated[
        Path | None,
        typer.Option("--prom-file", help="write Prometheus metrics here, atomically (textfile collector)"),
    ] = None,
    always: Annotated[
        bool, typer.Option("--always", help="check even after the monitoring window has ended")
    ] = False,
    wait: Annotated[
        float, typer.Option("--wait", help="seconds to wait for a running deploy, then skip")
    ] = 10.0,
    full_play: Annotated[
        bool,
        typer.Option(
            "--full-play",
            help="check by the health play even when the last deploy's host cards allow the direct check",
        ),
    ] = False,
) -> None:
    st = state(ctx)
    out = st.output
    report = api.health(
        st.project(),
        env,
        by=st.actor,
        always=always,
        prom_file=prom_file,
        wait=wait,
        progress=out.progress,
        full_play=full_play,
    )
    if report.skipped:
        out.emit(report.to_dict())
        if not out.json:
            out.out.print(f"[dim]skipped[/] {env}: {escape(report.skipped)}")
        return
    if not out.json:
        out.out.print(health_table(report))
        for note in report.notes:
            out.out.print(f"[yellow]note[/]: {escape(note)}")
    if report.critical:
        raise api.HealthCritical(report.summary(), report)  # its report is the envelope's result
    out.emit(report.to_dict())
    if not out.json:
        word = report.status
        out.out.print(
            f"[{STYLE[word]}]{word}[/] {env}: {len(report.hosts)} host(s) "
            f"checked in {report.seconds:.2f} s"
            + (f", metrics in {report.prom_file}" if report.prom_file else "")
        )
