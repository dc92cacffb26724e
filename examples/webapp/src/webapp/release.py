"""What this release is: its version, feature flags and target schema, read from its own files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from webapp import store


@dataclass(frozen=True)
class Release:
    """The release unpacked next to app.py."""

    version: str
    features: frozenset[str]
    healthy: bool
    migrations: tuple[store.Migration, ...]

    @property
    def schema(self) -> int:
        """The schema version this release needs (its highest migration)."""
        return self.migrations[-1].number if self.migrations else 0

    def has(self, feature: str) -> bool:
        """Whether a feature flag is on."""
        return feature in self.features


def load(root: Path) -> Release:
    """Read VERSION, release.json and migrations/ under ``root``."""
    version = (root / "VERSION").read_text(encoding="utf-8").strip()
    meta = json.loads((root / "release.json").read_text(encoding="utf-8"))
    if meta.get("version", version) != version:
        raise ValueError(f"release.json version {meta['version']!r} != VERSION {version!r}")
    return Release(
        version=version,
        features=frozenset(meta.get("features", ())),
        healthy=bool(meta.get("healthy", True)),
        migrations=tuple(store.discover(root / "migrations")),
    )
