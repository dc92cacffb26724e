"""``relkit metrics``: the DORA figures of each environment, from the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from relkit import api
from relkit.cli.options import example, state
from relkit.cli.output import escape

HELP = (
    "DORA metrics from the ledger, per environment (production-like ones first): deployment "
    "frequency, lead time (code freeze, else build commit, to the first switch), change failure "
    "rate (deploys followed within the monitoring window by a rollback, a failed smoke test or a "
    "critical health result) and time to restore (failure to a healthy release live again). "
    "Definitions: docs/metrics.md."
    + example(
        "relkit metrics --env production --since 30d --prom-file /var/lib/node_exporter/relkit-dora.prom"
    )
)

HEADERS = ("env", "deploys", "per day", "lead time", "failure rate", "time to restore")


def percent(rate: float | None) -> str:
    """A rate as a table shows it: ``25%``, ``33.3%``; ``-`` for none."""
    return "-" if rate is None else f"{rate * 100:.1f}".removesuffix(".0") + "%"


def metrics_table(figures: api.Metrics) -> Table:
    """One row per environment: the four figures (fits 80 columns)."""
    table = Table(
        title=f"DORA metrics, {figures.since[:10]} to {figures.now[:10]} ({figures.days:.4g} days)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for header in HEADERS:
        table.add_column(header, overflow="fold")
    for m in figures.environments:
        failed = len(m.failures)
        table.add_row(
            escape(m.env),
            f"{m.successful} ok of {m.deploys}" + (f" (+{m.unfinished} open)" if m.unfinished else ""),
            "-" if m.deployment_frequency_per_day is None else f"{m.deployment_frequency_per_day:.3g}",
            api.duration(m.lead_time_seconds),
            percent(m.change_failure_rate) + (f" ({failed}/{m.deploys})" if m.deploys else ""),
            api.duration(m.time_to_restore_seconds) + (f" ({m.unrestored} open)" if m.unrestored else ""),
        )
    return table


def details(figures: api.Metrics) -> list[str]:
    """One line per release's lead time and per failed deploy, under the table."""
    lines = []
    for m in figures.environments:
        for lt in m.lead_times:
            source = "code freeze" if lt.source == "code_freeze" else "build commit"
            lines.append(
                f"{escape(m.env)} {escape(lt.version)}: lead time {api.duration(lt.seconds)} ({source})"
            )
        lines += [
            f"{escape(m.env)} {escape(v)}: lead time unknown (no code freeze or build commit time)"
            for v in m.without_start
        ]
        for f in m.failures:
            back = (
                f"restored after {api.duration(f.restore_seconds)}" if f.restored_at else "not restored yet"
            )
            lines.append(f"{escape(m.env)} {escape(f.version)}: failed ({f.what}, #{f.seq}), {back}")
    return lines


def metrics(
    ctx: typer.Context,
    env: Annotated[
        str | None,
        typer.Option("--env", "-e", help="only this environment (default: all, production-like first)"),
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="start of the period: Nd, Nh or an ISO date (e.g. 2026-09-01)")
    ] = "90d",
    prom_file: Annotated[
        Path | None,
        typer.Option(
            "--prom-file", help="also write Prometheus gauges here, atomically (textfile collector)"
        ),
    ] = None,
) -> None:
    st = state(ctx)
    out = st.output
    figures = api.metrics(st.project(), env, since, prom_file)
    if out.json:
        out.emit({**figures.to_dict(), "prom_file": str(prom_file) if prom_file else None})
        return
    out.out.print(metrics_table(figures))
    for line in details(figures):
        out.out.print(line)
    if prom_file is not None:
        out.out.print(f"metrics written to {escape(str(prom_file))}")
