"""``report``: the release report from the manifest, relkit.yml and the ledger."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from relkit.errors import BadInput
from relkit.hostrules import atomic_write
from relkit.loading import file_kind, load_manifest
from relkit.project import Project
from relkit.report import build_report
from relkit.report_render import Written, check_options, render_report
from relkit.secrets import redact_text
from relkit.usecases.playing import register_secrets


def release_report(
    project: Project, manifest_path: Path, fmt: str = "md", lang: str = "en", now: datetime | None = None
) -> Written:
    """Build and render the report of the release ``manifest_path`` describes."""
    check_options(fmt, lang)
    register_secrets(project)
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


def write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file beside it, then rename).

    Only a new name or a regular file (or a link to one) is replaced: renaming over a device,
    FIFO or socket would replace it with a file (``-o /dev/full`` as root).
    """
    if not path.parent.is_dir():
        raise BadInput(f"-o/--out: directory {path.parent} does not exist")
    try:
        mode = path.stat().st_mode  # follows a link: a link to a device is refused too
    except FileNotFoundError:
        mode = None  # a new file (or a dangling link, which the rename replaces)
    except OSError as exc:
        raise BadInput(f"-o/--out: cannot use {path}: {exc.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise BadInput(f"-o/--out: {path} is a directory; name a file")
    if mode is not None and not stat.S_ISREG(mode):
        raise BadInput(f"-o/--out: {path} is not a regular file ({file_kind(mode)}); name a file to write")
    atomic_write(path, text, 0o644)
