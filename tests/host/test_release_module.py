"""The host-side release module's logic, run directly on a temporary deploy path.

The module is plain Python; its helpers are exercised here without Ansible: unpacking,
atomic switch, retention, history and refusal of unsafe archives.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.support.hostmodules import library
from tests.support.hostmodules import release_params as params

release = library("relkit_release")


def make_tar(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> str:
    """Write a .tar.gz with ``files`` (and symlinks), return its sha256."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install(root: Path, tmp: Path, version: str) -> str:
    upload = tmp / f"{version}.tar.gz"
    sha = make_tar(upload, {"app.py": f"VERSION = {version!r}\n".encode(), "VERSION": version.encode()})
    changed, info = release.install(params(root, version=version, sha256=sha, upload=str(upload)))
    assert changed and info["installed"] == version
    return sha


def test_install_is_complete_and_links_shared(tmp_path: Path) -> None:
    root = tmp_path / "app"
    sha = install(root, tmp_path, "1.0.0")
    rel = root / "releases" / "1.0.0"
    assert json.loads((rel / release.MARKER).read_text())["sha256"] == sha
    assert (rel / "data").is_symlink() and (rel / "data").resolve() == (root / "shared" / "data").resolve()
    assert not [p for p in (root / "releases").iterdir() if p.name.startswith(".partial")]
    assert not (tmp_path / "1.0.0.tar.gz").exists(), "the upload is consumed"


def test_install_refuses_checksum_mismatch_and_removes_upload(tmp_path: Path) -> None:
    root = tmp_path / "app"
    upload = tmp_path / "x.tar.gz"
    make_tar(upload, {"app.py": b"x"})
    with pytest.raises(release.ReleaseError, match="does not match"):
        release.install(params(root, version="1.0.0", sha256="0" * 64, upload=str(upload)))
    assert not upload.exists()
    assert not (root / "releases" / "1.0.0").exists()


@pytest.mark.parametrize(
    ("files", "links"),
    [({"../evil": b"x"}, None), ({"/etc/evil": b"x"}, None), ({"ok": b"x"}, {"link": "../../etc/passwd"})],
)
def test_unsafe_archives_never_reach_releases(tmp_path: Path, files: dict, links: dict | None) -> None:
    root = tmp_path / "app"
    upload = tmp_path / "bad.tar.gz"
    sha = make_tar(upload, files, links)
    with pytest.raises(release.ReleaseError):
        release.install(params(root, version="6.6.6", sha256=sha, upload=str(upload)))
    assert sorted(p.name for p in (root / "releases").iterdir()) == []


def test_activate_switches_atomically_and_records_history(tmp_path: Path) -> None:
    root = tmp_path / "app"
    for version in ("1.0.0", "2.0.0"):
        install(root, tmp_path, version)
    release.activate(params(root, version="1.0.0"), "deploy")
    changed, info = release.activate(params(root, version="2.0.0"), "deploy")
    assert changed and info["switched"] and info["previous"] == "1.0.0"
    assert (root / "current").readlink() == Path("releases/2.0.0")
    history = [json.loads(line) for line in (root / ".relkit" / "history.jsonl").read_text().splitlines()]
    assert [h["version"] for h in history] == ["1.0.0", "2.0.0"]
    assert not list(root.glob(".current-*")), "no temporary symlink left behind"

    changed, info = release.activate(params(root), "rollback")
    assert changed and info["version"] == "1.0.0"
    assert (root / "current").readlink() == Path("releases/1.0.0")


def test_activate_refuses_incomplete_release(tmp_path: Path) -> None:
    root = tmp_path / "app"
    install(root, tmp_path, "1.0.0")
    release.activate(params(root, version="1.0.0"), "deploy")
    (root / "releases" / "2.0.0").mkdir()  # a partial dir without the completion marker
    with pytest.raises(release.ReleaseError, match="not installed completely"):
        release.activate(params(root, version="2.0.0"), "deploy")
    assert (root / "current").readlink() == Path("releases/1.0.0")


def test_retention_keeps_live_and_previous(tmp_path: Path) -> None:
    root = tmp_path / "app"
    versions = ["1.0.0", "2.0.0", "3.0.0", "4.0.0"]
    for version in versions:
        install(root, tmp_path, version)
        release.activate(params(root, version=version, keep_releases=2), "deploy")
    kept = sorted(p.name for p in (root / "releases").iterdir())
    assert kept == ["3.0.0", "4.0.0"]
    # roll back to 3.0.0: the live one (3.0.0) and the one it left (4.0.0) survive pruning
    release.activate(params(root, keep_releases=2), "rollback")
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["3.0.0", "4.0.0"]


def test_probe_refuses_same_version_from_another_artifact(tmp_path: Path) -> None:
    root = tmp_path / "app"
    install(root, tmp_path, "1.0.0")
    with pytest.raises(release.ReleaseError, match="different artifact"):
        release.probe(params(root, version="1.0.0", sha256="f" * 64))


def test_rollback_never_returns_to_a_release_that_was_rolled_back(tmp_path: Path) -> None:
    root = tmp_path / "app"
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        install(root, tmp_path, version)
        release.activate(params(root, version=version), "deploy")
    release.activate(params(root), "rollback")  # 3.0.0 is bad: back to 2.0.0
    assert (root / "current").readlink() == Path("releases/2.0.0")
    changed, info = release.activate(params(root), "rollback")  # 2.0.0 bad too: back to 1.0.0, not 3.0.0
    assert changed and info["version"] == "1.0.0"


def test_rollback_to_the_live_release_restarts_it_only_when_its_smoke_pass_fails(tmp_path: Path) -> None:
    root = tmp_path / "app"
    for version in ("1.0.0", "2.0.0"):
        install(root, tmp_path, version)
        release.activate(params(root, version=version), "deploy")
    starts = root / "shared" / "data" / "starts"
    start = f"echo started >> {starts}"
    healthy = {"checks": [{"name": "up", "command": "test -f current/VERSION"}], "timeout": 1}
    changed, info = release.activate(params(root, version="2.0.0", start=start, smoke=healthy), "rollback")
    assert (changed, info["already_live"], info.get("restarted")) == (False, True, None)
    assert [c["ok"] for c in info["checks"]] == [True]
    assert not starts.exists()  # a healthy live release is not restarted
    # the live release fails its smoke pass: restarted, then smoke-tested again
    broken = {"checks": [{"name": "up", "command": f"test -f {starts}"}], "timeout": 2}
    changed, info = release.activate(params(root, version="2.0.0", start=start, smoke=broken), "rollback")
    assert changed and info["restarted"] and starts.read_text() == "started\n"
    assert (root / "current").readlink() == Path("releases/2.0.0")


def _resolved(root: Path, how: str, **extra: object) -> str:
    return release.resolve_version(params(root, resolve=how, **extra))["version"]


def test_resolve_tells_the_version_a_rollback_switches_to_and_the_live_one(tmp_path: Path) -> None:
    """``state: resolve`` (read only) gives the roles relkit_version before they template relkit.yml's
    strings: each time, the very version the rollback then switches to, or the one live."""
    root = tmp_path / "app"
    assert (_resolved(root, "live"), _resolved(root, "rollback")) == ("", "")  # nothing deployed yet
    assert not root.exists()  # read only: not even the layout
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        install(root, tmp_path, version)
        release.activate(params(root, version=version), "deploy")
    for expected in ("2.0.0", "1.0.0"):  # 3.0.0, then 2.0.0 rolled back
        target = _resolved(root, "rollback")
        assert target == expected
        assert release.activate(params(root), "rollback")[1]["version"] == target
        assert _resolved(root, "live") == target
    assert _resolved(root, "rollback", version="3.0.0") == "3.0.0"  # --to names it
    # a killed run's rollback, already done here: the version live now is the one it makes live
    assert _resolved(root, "rollback", expected_live="2.0.0") == "1.0.0"
    changed, info = release.activate(params(root, expected_live="2.0.0"), "rollback")
    assert (changed, info["version"], info.get("found_live") is not None) == (False, "1.0.0", True)
