"""Writing the release report: load the manifest and the ledger, build the model, render it.

The model is :mod:`relkit.report` (pure); the words are :mod:`relkit.report_labels`; the
layout is ``templates/report.md.j2`` and ``templates/report.html.j2`` (a project overrides
them in ``<project>/templates/``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from relkit.errors import BadInput
from relkit.loading import load_manifest
from relkit.project import Project
from relkit.report import Report, build_report, describe
from relkit.report_labels import LABELS, LANGS
from relkit.secrets import redact_text
from relkit.templating import environment

FORMATS = ("md", "html")


@dataclass(frozen=True)
class Written:
    """A report produced by :func:`release_report`."""

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


def release_report(
    project: Project, manifest_path: Path, fmt: str = "md", lang: str = "en", now: datetime | None = None
) -> Written:
    """Build and render the report of the release ``manifest_path`` describes."""
    check_options(fmt, lang)
    manifest = load_manifest(manifest_path)
    if manifest.app != project.config.app:
        raise BadInput(f"app: manifest is for {manifest.app!r}, this project deploys {project.config.app!r}")
    entries = list(project.ledger.entries())
    report = build_report(
        manifest,
        project.config,
        entries,
        manifest_ref=str(manifest_path),
        generated_at=now or datetime.now(UTC),
        chain=project.ledger.verify(),
    )
    text = redact_text(render_report(report, fmt, lang, project.root))  # no secret in a report
    return Written(report, text, fmt, lang)


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


def write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file beside it, then rename)."""
    if not path.parent.is_dir():
        raise BadInput(f"-o/--out: directory {path.parent} does not exist")
    if path.is_dir():
        raise BadInput(f"-o/--out: {path} is a directory; name a file")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
