"""Locating an artifact on the controller and computing its checksum."""

from __future__ import annotations

import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from relkit.hostrules import sha256_file
from relkit.manifest import Manifest


@dataclass(frozen=True)
class ArtifactFile:
    """The artifact as found on the controller: its path and sha256, or why it is missing."""

    path: Path | None
    sha256: str | None
    problem: str = ""


def locate(manifest: Manifest, manifest_dir: Path, cache_dir: Path) -> ArtifactFile:
    """Find (or download into ``cache_dir``) the manifest's artifact and hash it."""
    spec = manifest.artifact
    if spec.path is not None:
        path = Path(spec.path)
        path = path if path.is_absolute() else (manifest_dir / path).resolve()
        if not path.is_file():
            return ArtifactFile(None, None, f"artifact {path} not found")
        return ArtifactFile(path, sha256_file(path))
    assert spec.url is not None
    cached = cache_dir / f"{spec.sha256}.artifact"
    if not cached.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        try:
            with (
                urllib.request.urlopen(spec.url, timeout=60) as response,
                partial.open("wb") as out,
            ):
                shutil.copyfileobj(response, out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            return ArtifactFile(None, None, f"cannot download {spec.url}: {exc}")
        partial.rename(cached)
    return ArtifactFile(cached, sha256_file(cached))
