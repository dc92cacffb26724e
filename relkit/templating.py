"""Jinja2 templates: relkit's own (``templates/``) overridable by the project's (``<project>/templates/``).

A team overrides a template by putting a file of the same relative name in its project's
``templates/`` directory (e.g. ``templates/announcement.txt.j2`` or
``templates/notify/rollback.txt.j2``). Templates run in Jinja2's sandbox; ``.html.j2``
templates are HTML-escaped.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, Undefined
from jinja2.sandbox import SandboxedEnvironment

from relkit.assets import asset_root


def template_dirs(project_root: Path | None) -> list[Path]:
    """Where templates are looked up, first match wins: the project's, then relkit's."""
    dirs = [project_root / "templates"] if project_root is not None else []
    return [*dirs, asset_root() / "templates"]


def environment(project_root: Path | None, strict: bool = False) -> SandboxedEnvironment:
    """A sandboxed Jinja2 environment over :func:`template_dirs`.

    ``strict`` makes undefined variables errors (relkit's own report templates); message
    templates are lenient so a team's override may ignore or miss variables.
    """
    loader = ChoiceLoader([FileSystemLoader(str(d)) for d in template_dirs(project_root)])
    return SandboxedEnvironment(
        loader=loader,
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined if strict else Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
