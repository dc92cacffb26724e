"""``relkit report``: the release report from the manifest, relkit.yml and the ledger."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import example, state

HELP = (
    "Write the release report of a release, section by section as the release report of the "
    "procedure (its table of contents and numbering), led by the outcome: per environment what "
    "is live now, whether this release was rolled back (by whom, why), open or closed. Then "
    "policy, process, scope, tests and success criteria, implementation (every run, failed ones "
    "too), hosts and install steps; relkit's record follows as appendices (approvals, gates, "
    "deployments, smoke and health, rollbacks, notifications, ledger). Markdown or one "
    "self-contained HTML file, taken from --out's extension (.md, .html/.htm); English or "
    "Bahasa Indonesia (--lang id). Without --out the report goes to standard output (Markdown "
    "unless --format html); with the global --output json, a JSON document instead."
    + example("relkit report releases/2.0.0.yml --lang id --out laporan-2.0.0.html")
)

SUFFIXES = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}
"""What each file extension of ``--out`` writes."""


def report(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="release manifest, e.g. releases/2.0.0.yml")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="md or html [default: from --out's extension; md on standard output]"
        ),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", "-l", help="en or id (Bahasa Indonesia)")] = "en",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="file to write, .md or .html (after the command, -o is --out; before it, the global "
            "-o is --output) [default: standard output]",
        ),
    ] = None,
) -> None:
    st = state(ctx)
    chosen = output_format(fmt, out)
    written = api.release_report(st.project(), manifest, chosen, lang)
    result = {
        "version": written.report.version,
        "format": written.fmt,
        "lang": written.lang,
        "entries": written.report.ledger["entries"],
        "path": str(out) if out else None,
        "text": None,
    }
    if out is None:
        if st.output.json:  # never bare Markdown on stdout: the report's text is in the document
            st.output.emit({**result, "text": written.text})
        else:
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


def output_format(fmt: str | None, out: Path | None) -> str:
    """The format to write: ``--format``, else ``--out``'s extension, else Markdown. ``--out``
    must end in .md or .html (.markdown, .htm) and agree with ``--format``: a report is never
    written in a format its file name does not say."""
    if fmt is not None and fmt not in ("md", "html"):
        raise api.BadInput(f"--format: expected one of md, html, got {fmt!r}")
    if out is None:
        return fmt or "md"
    by_suffix = SUFFIXES.get(out.suffix.lower())
    if by_suffix is None:
        hint = (
            " (for machine output write the global option before the command: relkit --output json report …)"
        )
        raise api.BadInput(
            f"--out: {out}: relkit writes Markdown (.md) or HTML (.html); name the file with one "
            f"of those extensions" + (hint if out.name in ("json", "text") else "")
        )
    if fmt is not None and fmt != by_suffix:
        raise api.BadInput(
            f"--format {fmt} does not match --out {out.name} ({by_suffix}): give one or the other"
        )
    return by_suffix
