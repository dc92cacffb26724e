"""Where relkit's playbooks, roles, templates and example inventories are on this machine."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def asset_root() -> Path:
    """The directory holding playbooks/ and roles/ (wheel: relkit/_assets; checkout: repo root)."""
    bundled = _PACKAGE / "_assets"
    return bundled if (bundled / "playbooks").is_dir() else _PACKAGE.parent


def playbooks_dir() -> Path:
    """playbooks/ (with library/ and ansible.cfg)."""
    return asset_root() / "playbooks"


def roles_dir() -> Path:
    """roles/."""
    return asset_root() / "roles"
