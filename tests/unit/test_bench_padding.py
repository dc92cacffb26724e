"""bench/deploy.py --artifact-mb: the example's artifacts padded into a heavier app's, each still a
valid release whose manifest names its sha256."""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

import yaml

from relkit.artifacts import locate
from relkit.loading import load_manifest
from tests.sshproject import EXAMPLE, PAD_FILE, build_artifacts, pad_artifacts


def test_padding_adds_incompressible_files_and_keeps_each_manifest_true(tmp_path: Path) -> None:
    built = build_artifacts(tmp_path / "dist")
    releases = tmp_path / "releases"
    releases.mkdir()
    for version, path in built.items():
        manifest = yaml.safe_load((EXAMPLE / "releases" / f"{version}.yml").read_text())
        manifest["artifact"]["path"] = str(path)
        (releases / f"{version}.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))

    size = pad_artifacts(tmp_path, 2)

    assert size > 2 * 2**20, "incompressible: the compressed artifact is at least the padding"
    fillers = set()
    for version, original in built.items():
        manifest = load_manifest(releases / f"{version}.yml")
        found = locate(manifest, releases, tmp_path / "cache")
        assert found.path is not None and found.path != original
        assert found.sha256 == manifest.artifact.sha256, "the manifest names the padded artifact"
        with tarfile.open(original) as before, tarfile.open(found.path) as after:
            kept = {m.name: before.extractfile(m).read() for m in before.getmembers() if m.isfile()}
            names = after.getnames()
            assert {n: after.extractfile(n).read() for n in kept} == kept, "the app is unchanged"
            padding = [n for n in names if n.startswith("padding/")]
            assert len(padding) == 2 * 2**20 // PAD_FILE
            fillers.add(after.extractfile(padding[0]).read())
        assert len(gzip.decompress(found.path.read_bytes())) > 2 * 2**20
    assert len(fillers) == len(built), "each release has its own filler"
