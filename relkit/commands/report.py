"""``relkit report``: the release report (seed 003) from the manifest and the ledger."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer, state: Any) -> None:
    """Add ``relkit report`` to the CLI."""

    @app.command(
        help=(
            "Write the release report: policy, scope, functionality, problems solved, features tested, "
            "test environment and success criteria, resources, schedule planned vs actual (timeline from "
            "the ledger), support contacts, hardware, installation steps, then relkit's record: "
            "approvals, gates and overrides, deployments per host, smoke and health results, rollbacks, "
            "notifications and the retrospective. Markdown or a single self-contained HTML file; "
            "English or Bahasa Indonesia (--lang id).\n\n"
            "Example: relkit report releases/2.0.0.yml --format html --lang id -o report-2.0.0.html"
        )
    )
    def report(
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
        chosen = fmt or ("html" if out is not None and out.suffix.lower() in (".html", ".htm") else "md")
        from relkit.report_render import release_report, write_file  # only this command needs it

        written = release_report(state.project(), manifest, chosen, lang)
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
        write_file(out, written.text)
        state.output.emit(result)
        if not state.output.json:
            r = written.report
            state.output.out.print(
                f"wrote {out} ({written.fmt}, {written.lang}): {r.app} {r.version}, "
                f"{r.ledger['entries']} ledger entries",
                markup=False,
            )
