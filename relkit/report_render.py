"""Rendering the release report: the model (:mod:`relkit.report`) in words and layout.

The words are :mod:`relkit.report_labels`; the layout is ``templates/report.md.j2`` and
``templates/report.html.j2`` (a project overrides them in ``<project>/templates/``). The use
case that loads the manifest and the ledger is :mod:`relkit.usecases.reports`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from relkit.errors import BadInput
from relkit.report import Fact, Report, describe
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
    # Markdown: every value a person typed, and every label filled with such values, escaped
    # here; HTML: autoescaped by the template engine on output
    text = md_cell if fmt == "md" else str

    def say(label: str, **values: object) -> str:
        return text(label.format(**values))

    def note(fact: Fact) -> str:
        return text(labels["notes"][fact.note].format(**fact.args)) if fact.note else ""

    env.filters["w"] = lambda value: labels["words"].get(str(value)) or text(value)
    env.filters["describe"] = lambda row: describe(row, labels)
    env.filters["cell"] = md_cell
    env.filters["md"] = md_cell
    env.filters["md_line"] = md_line
    env.filters["code"] = md_code
    env.filters["yesno"] = lambda value: "—" if value is None else labels["yes" if value else "no"]
    env.filters["say"] = say
    env.filters["note"] = note
    env.filters["mark"] = lambda state: f"{MARKS[state]} {labels['states'][state]}"
    template = env.get_template(f"report.{fmt}.j2")
    return template.render(r=report, L=labels, lang=lang)


MARKS = {"met": "✔", "not_met": "✘", "pending": "○", "na": "—"}
"""The sign of a criterion's or a stage's state (with its word: never a colour alone)."""

_MD_SPECIAL = re.compile(r"([`*_\[\]~&|<>])")
_MD_BLOCK_START = re.compile(r"[#>+=-]")
_MD_LIST_NUMBER = re.compile(r"(\d{1,9})([.)])")


def _md_escape(text: str) -> str:
    """``text`` on one line, shown as typed: what Markdown would read as emphasis, code, a link,
    an entity, raw HTML or an autolink backslash-escaped (``<script>`` is ``\\<script\\>``: no
    HTML entity in Markdown output)."""
    text = " ".join(text.split()).replace("\\", "\\\\")
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_cell(value: object) -> str:
    """A value safe in Markdown inline text and table cells (filters ``cell`` and ``md``).

    One line (newlines and runs of white space become one space: no forged heading, list or
    table row), pipes, backslashes and Markdown's inline syntax (angle brackets, ampersand,
    brackets, emphasis, strike-through, backticks) backslash-escaped; ``—`` for nothing.
    """
    text = "—" if value is None or value == "" else str(value)
    return _md_escape(text)


def md_line(value: object) -> str:
    """One line of a multi-line text (a retrospective's line in a blockquote), escaped like
    :func:`md_cell` and with nothing at its start that Markdown reads as a block (a heading,
    quote, list item, setext underline or thematic break)."""
    text = _md_escape(str(value))
    if _MD_BLOCK_START.match(text):
        return "\\" + text
    number = _MD_LIST_NUMBER.match(text)
    return f"{number[1]}\\{text[len(number[1]) :]}" if number else text


def md_code(value: object, table: bool = True) -> str:
    """A value as a Markdown code span (filter ``code``): shown verbatim, one line; the fence is
    longer than any run of backticks inside, and pipes are escaped in a table row (``table``)."""
    text = " ".join(str("" if value is None else value).split())
    if not text:
        return "—"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    if table:  # a pipe after an even number of backslashes would end the cell (GFM tables)
        text = re.sub(r"(\\*)\|", lambda m: m[1] + "\\" * (len(m[1]) % 2 == 0) + "|", text)
    return f"{fence}{text}{fence}"
