"""``relkit status``: what is live where, interrupted runs, locks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import typer
from rich import box
from rich.table import Table

from relkit import api
from relkit.cli.options import example, state

HELP = "What is live where, since when, deployed by whom; interrupted runs; locks." + example("relkit status")


HEADERS = ("env", "host", "version", "since (UTC)", "by", "how", "release")
FLOORS = (7, 10, 7, 10, 6, 8, 10)
"""How far each column may shrink on a narrow terminal (a date is 10 characters)."""
TIMES = ((6, 17), (3, 10), (6, 10))
"""The columns that give up width first, and down to what: release (``closed`` above its time),
since (the date above the time of day), release again (its time on two lines); then the widest
of the others, one character at a time."""
GAP = 2
"""Characters between two columns."""


def utc_minute(ts: str) -> str:
    """A ledger time (ISO 8601, UTC) to the minute, as a table shows it: ``2026-12-02 10:15Z``."""
    return f"{ts[:10]} {ts[11:16]}Z" if len(ts) >= 16 else ts


def column_widths(rows: Sequence[tuple[str, ...]], room: int) -> list[int]:
    """Each column's width: its longest cell, shrunk to fit ``room`` characters: the times first
    (down to a date's width), then the widest other column, never below its floor."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(HEADERS)]
    excess = sum(widths) + GAP * (len(widths) - 1) - room
    for i, floor in TIMES:  # a time on one line or two, not cut in between
        give = max(0, widths[i] - floor) if excess > 0 else 0
        widths[i] -= give
        excess -= give
    while excess > 0:
        wide = [i for i in range(len(widths)) if widths[i] > FLOORS[i]]
        if not wide:
            break  # narrower than every floor: the terminal wraps the lines
        widths[max(wide, key=lambda i: widths[i])] -= 1
        excess -= 1
    return widths


def live_table(view: api.StatusView, room: int) -> Table:
    """One row per environment and host, fitted to ``room`` characters (80 columns and up).

    A narrow terminal wraps a time at its space (``2026-12-02`` over ``10:15Z``), ``closed``
    above its time, and folds a long name: nothing is cut short to ``2026-12-…``.
    """
    rows = [
        (
            env,
            host,
            release.version,
            utc_minute(release.since),
            release.by,
            release.action,
            f"closed {utc_minute(release.closed)}" if release.closed else "open",
        )
        for env, hosts in sorted(view.live.items())
        for host, release in sorted(hosts.items())
    ]
    table = Table(
        title="live releases",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, GAP // 2),
        collapse_padding=True,
    )
    for header, width in zip(HEADERS, column_widths(rows, room), strict=True):
        table.add_column(header, overflow="fold", width=width)
    for row in rows:
        table.add_row(*row)
    return table


def status(ctx: typer.Context) -> None:
    st = state(ctx)
    view = api.status(st.project())
    out = st.output
    if out.json:
        out.emit(view.to_dict())
        return
    table = live_table(view, out.out.width)
    out.out.print(table if view.live else "nothing deployed yet")
    for env, holder in view.locks.items():
        out.out.print(f"[yellow]lock[/] {env}: {holder}")
    for env, rollout in view.rollouts.items():
        for line in rollout_status(rollout, view.live.get(env, {})):
            out.out.print(line)
    for run in view.interrupted:
        out.out.print(
            f"[red]interrupted[/] {run.action} run {run.run_id} on {run.env} by {run.by} "
            f"(pid {run.pid} on {run.controller}, started {utc_minute(run.started)}) never finished"
        )


def rollout_status(rollout: dict[str, Any], live: Mapping[str, Any]) -> list[str]:
    """A rollout still open: where it stands, each batch with the version its hosts run, what is next."""
    env, version, batches, done = rollout["env"], rollout["version"], rollout["batches"], rollout["done"]
    status = rollout["status"]
    colour = "red" if status in ("interrupted", "waiting for decision") else "yellow"
    lines = [
        f"[{colour}]rollout[/] of {version} on {env}: {status}, batch {done} of {len(batches)} done "
        f"(run {rollout['rollout_id']}, started {utc_minute(rollout['started'])} by {rollout['by']})"
    ]
    for index, hosts in enumerate(batches):
        running = ", ".join(f"{h} {live[h].version if h in live else '-'}" for h in hosts)
        mark = "done" if index < done else ("next" if index == done else "to go")
        lines.append(f"  batch {index + 1} ({mark}): {running}")
    if rollout["reason"]:
        lines.append(f"  stopped: {rollout['reason']}")
    unwind = f"relkit rollback --env {env} --reason TEXT (--key KEY where signed)"
    if status == "waiting for approval":
        lines.append(f"  next: relkit deploy MANIFEST --env {env} --continue --key KEY, or unwind: {unwind}")
    elif status == "waiting for decision":
        lines.append(
            f"  next: go on with relkit deploy MANIFEST --env {env} --continue --key KEY, or {unwind}"
        )
    elif status == "interrupted":
        lines.append(f"  next: relkit deploy MANIFEST --env {env} resumes it, or unwind: {unwind}")
    return lines
