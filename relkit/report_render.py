"""Rendering the release report: the model (:mod:`relkit.report`) in words and layout.

The words are :mod:`relkit.report_labels`; the layout is ``templates/report.md.j2`` and
``templates/report.html.j2`` (a project overrides them in ``<project>/templates/``). The use
case that loads the manifest and the ledger is :mod:`relkit.usecases.reports`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from relkit.errors import BadInput
from relkit.report import Report, describe
from relkit.report_labels import LABELS, LANGS
from relkit.templating import environment

FORMATS = ("md", "html")


@dataclass(frozen=True)
class Written:
    """A rendered report with its model."""

    report: Report
    text: str
    fmt: str
    lang: str


def check_options(fmt: str, lang: str) -> None:
    """Refuse an unknown format or language, naming the option."""
    if fmt not in FORMATS:
        raise BadInput(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if lang not in LANGS:
        raise BadInput(f"--lang: expected one of {', '.join(LANGS)}, got {lang!r}")


def render_report(report: Report, fmt: str, lang: str, project_root: Path | None = None) -> str:
    """The report as Markdown or self-contained HTML, in English or Bahasa Indonesia."""
    check_options(fmt, lang)
    labels = LABELS[lang]
    env = environment(project_root, strict=True)
    env.filters["w"] = lambda value: labels["words"].get(str(value), str(value))
    env.filters["describe"] = lambda row: describe(row, labels)
    env.filters["cell"] = md_cell
    env.filters["yesno"] = lambda value: "—" if value is None else labels["yes" if value else "no"]
    template = env.get_template(f"report.{fmt}.j2")
    return template.render(r=report, L=labels, lang=lang)


def md_cell(value: object) -> str:
    """A value safe inside a Markdown table cell (one line, pipes and '<' escaped)."""
    text = "—" if value is None or value == "" else str(value)
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
