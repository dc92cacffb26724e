"""relkit_release refuses a rollback it cannot make before changing anything, and says so: the
failure's ``relkit`` info carries ``refused``, the live release and the installed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.host.test_release_module import install, params, release


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A host with 1.0.0 and 2.0.0 installed, 2.0.0 live."""
    root = tmp_path / "app"
    for version in ("1.0.0", "2.0.0"):
        install(root, tmp_path, version)
        release.activate(params(root, version=version), "deploy")
    return root


def test_a_release_not_installed_is_refused_with_what_is(root: Path) -> None:
    with pytest.raises(release.ReleaseError, match=r"release 9\.9\.9 is not installed completely") as info:
        release.activate(params(root, version="9.9.9"), "rollback")
    assert info.value.info == {"refused": True, "live": "2.0.0", "installed_releases": ["1.0.0", "2.0.0"]}
    assert (root / "current").readlink() == Path("releases/2.0.0")


def test_nothing_to_go_back_to_is_refused_with_what_is(tmp_path: Path) -> None:
    root = tmp_path / "first"
    install(root, tmp_path, "1.0.0")
    release.activate(params(root, version="1.0.0"), "deploy")  # the first release: none before it
    with pytest.raises(release.ReleaseError, match="no previous complete release") as info:
        release.activate(params(root), "rollback")
    assert info.value.info == {"refused": True, "live": "1.0.0", "installed_releases": ["1.0.0"]}
    assert (root / "current").readlink() == Path("releases/1.0.0")


def test_a_target_other_than_the_controllers_is_refused_before_any_change(root: Path) -> None:
    # the play rendered the smoke checks for the release the controller named: another one is refused
    history = (root / ".relkit" / "history.jsonl").read_text()
    with pytest.raises(release.ReleaseError, match=r"rollback target is 1\.0\.0, not 0\.9\.0") as info:
        release.activate(params(root, expected_target="0.9.0"), "rollback")
    assert info.value.info == {
        "refused": True,
        "live": "2.0.0",
        "installed_releases": ["1.0.0", "2.0.0"],
        "target_mismatch": "1.0.0",
    }
    assert (root / "current").readlink() == Path("releases/2.0.0")
    assert (root / ".relkit" / "history.jsonl").read_text() == history


def test_the_target_the_controller_named_is_rolled_back_to(root: Path) -> None:
    changed, info = release.activate(params(root, expected_target="1.0.0"), "rollback")
    assert changed and info["version"] == "1.0.0" and info["switched"]
    assert (root / "current").readlink() == Path("releases/1.0.0")
