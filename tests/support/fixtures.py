"""Fixtures shared by the unit, host and use-case tests (no SSH hosts; each folder's conftest imports them).

``example_project`` gives each test its own copy of the embedded example project, laid out
exactly like the repository so every relative path in it resolves::

    tmp_path/examples/project/      relkit.yml + releases/*.yml  (the returned directory)
    tmp_path/examples/webapp/       sources, plus dist/ built fresh by build_artifacts.py
    tmp_path/inventory/local/       the local inventories relkit.yml points at

Every unit test also runs with the RELKIT_* variables cleared and RELKIT_STATE_DIR pointing
into its tmp_path, so nothing reads or writes the repository's own ``.relkit`` state.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from relkit.project import Project
from tests.support.notifysinks import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
EXAMPLE_PROJECT = EXAMPLES / "project"
PYTHON = sys.executable


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No RELKIT_* leakage from the caller's shell; wide, colourless terminal output."""
    isolate_env(monkeypatch, tmp_path / "state")


def isolate_env(monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    """What ``_isolated_env`` sets, for fixtures of a wider scope (their own MonkeyPatch)."""
    for name in (
        "RELKIT_PROJECT",
        "RELKIT_USER",
        "RELKIT_KEY",
        "RELKIT_OUTPUT",
        "FORCE_COLOR",
        "TTY_COMPATIBLE",
        "TTY_INTERACTIVE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RELKIT_STATE_DIR", str(state_dir))
    monkeypatch.setenv("COLUMNS", "240")
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """The RELKIT_STATE_DIR every unit test runs with (not created yet)."""
    return tmp_path / "state"


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    """A private copy of examples/project with freshly built artifacts; returns the project dir
    (:func:`copy_example_project` into tmp_path)."""
    return copy_example_project(tmp_path)


def copy_example_project(root: Path) -> Path:
    """Copy examples/project with freshly built artifacts under ``root``; return the project dir.

    examples/project and examples/webapp are copied to ``root/examples/`` (and inventory/local
    to ``root/inventory/local``) so the manifests' ``../../webapp/dist/…`` and relkit.yml's
    ``../../inventory/local/…`` resolve inside root. The artifacts are built into the copy's
    ``webapp/dist`` with ``examples/build_artifacts.py`` (reproducible, so they match the
    manifests' sha256).
    """
    dest = root / "examples"
    skip = shutil.ignore_patterns(".relkit", "dist", "__pycache__", "*.pyc")
    shutil.copytree(EXAMPLE_PROJECT, dest / "project", ignore=skip)
    shutil.copytree(EXAMPLES / "webapp", dest / "webapp", ignore=skip)
    shutil.copytree(REPO / "inventory" / "local", root / "inventory" / "local")
    subprocess.run(
        [PYTHON, str(EXAMPLES / "build_artifacts.py"), "--out", str(dest / "webapp" / "dist")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return dest / "project"


# -- SSH signing keys (approvals) ----------------------------------------------------------

SIGNERS = {"sari": "relkit-qa", "dewi": "relkit-po", "ops-demo": "relkit-ops"}
"""The example's signers and the namespace (role) each may sign for: its manifests' QA (sari),
PO (dewi) and ops (ops-demo) owners; ``mallory`` is not listed."""


class SshKeys:
    """ed25519 key pairs made with ``ssh-keygen`` (no passphrase), one per person."""

    def __init__(self, folder: Path, names: tuple[str, ...]) -> None:
        self.folder = folder
        for name in names:
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(folder / name)],
                check=True,
                capture_output=True,
                timeout=30,
            )

    def key(self, name: str) -> Path:
        """The private key file of ``name``."""
        return self.folder / name

    def public(self, name: str) -> str:
        """``ssh-ed25519 AAAA…`` of ``name`` (no comment)."""
        kind, blob = (self.folder / f"{name}.pub").read_text().split()[:2]
        return f"{kind} {blob}"

    def allowed_signers(self, path: Path, signers: dict[str, str] | None = None) -> Path:
        """Write an OpenSSH allowed-signers file: ``name namespaces="ns" ssh-ed25519 AAAA…`` lines."""
        lines = [f'{name} namespaces="{ns}" {self.public(name)}' for name, ns in (signers or SIGNERS).items()]
        path.write_text("\n".join(lines) + "\n")
        return path


@pytest.fixture(scope="session")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SshKeys:
    """Keys of sari (QA), dewi (PO), ops-demo (ops: signs deploys, rollbacks, unlocks) and mallory
    (nobody's), made once per test session."""
    return SshKeys(tmp_path_factory.mktemp("keys"), ("sari", "dewi", "ops-demo", "mallory"))


@pytest.fixture
def local_staging(
    example_project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Project]:
    """The example project whose staging host (``stage1``) lives under ``tmp_path/hosts``; the
    app it deploys is stopped afterwards."""
    with staging_project(example_project, tmp_path, monkeypatch) as project:
        yield project


@contextlib.contextmanager
def staging_project(example_project: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """``example_project`` (copied under ``root``) loaded with its staging host (``stage1``) under
    ``root/hosts`` (RELKIT_DEMO_ROOT), the app on a free port, a 3 s smoke timeout; the app it
    deploys is stopped on exit."""
    hosts = root / "hosts"
    monkeypatch.setenv("RELKIT_DEMO_ROOT", str(hosts))
    inventory = root / "inventory" / "local" / "staging.yml"
    data = yaml.safe_load(inventory.read_text())
    data["staging"]["hosts"]["stage1"]["app_port"] = free_port()
    inventory.write_text(yaml.safe_dump(data))
    config_path = example_project / "relkit.yml"
    config = yaml.safe_load(config_path.read_text())
    config["smoke"]["timeout"] = 3
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        with Project.load(example_project) as project:
            yield project
    finally:
        stop_app(hosts / "staging" / "stage1")


def stop_app(deploy_path: Path) -> None:
    """Stop the example app a test deployed under ``deploy_path``, if it runs."""
    if (deploy_path / "shared" / "app.pid").exists():
        subprocess.run(
            [
                sys.executable,
                str(deploy_path / "current" / "app.py"),
                "stop",
                "--pidfile",
                str(deploy_path / "shared" / "app.pid"),
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
