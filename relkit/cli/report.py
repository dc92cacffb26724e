"""``relkit report``: the release report from the manifest and the ledger."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import example, state

HELP = (
    "Write the release report: policy, scope, functionality, problems solved, features tested, "
    "test environment and success criteria, resources, schedule planned vs actual (timeline from "
    "the ledger), support contacts, hardware, installation steps, then relkit's record: "
    "approvals, gates and overrides, deployments per host, smoke and health results, rollbacks, "
    "notifications and the retrospective. Markdown or a single self-contained HTML file; "
    "English or Bahasa Indonesia (--lang id)."
    + example("relkit report releases/2.0.0.yml --format html --lang id -o report-2.0.0.html")
)


def report(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="release manifest, e.g. releases/2.0.0.yml")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="md or html [default: from the -o suffix, else md]"),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", "-l", help="en or id (Bahasa Indonesia)")] = "en",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="file to write [default: standard output]")
    ] = None,
) -> None:
    st = state(ctx)
    chosen = fmt or ("html" if out is not None and out.suffix.lower() in (".html", ".htm") else "md")
    written = api.release_report(st.project(), manifest, chosen, lang)
    result = {
        "version": written.report.version,
        "format": written.fmt,
        "lang": written.lang,
        "entries": written.report.ledger["entries"],
        "path": str(out) if out else None,
    }
    if out is None:
        sys.stdout.write(written.text)
        return
    api.write_file(out, written.text)
    st.output.emit(result)
    if not st.output.json:
        r = written.report
        st.output.out.print(
            f"wrote {out} ({written.fmt}, {written.lang}): {r.app} {r.version}, "
            f"{r.ledger['entries']} ledger entries",
            markup=False,
        )
