"""The gate pass: a relkit run tells its own play's relkit_gate task that the gates passed.

Real socket (relkit.secret_channel), real action plugin class; only the pass matching the
run, environment and manifest is accepted, and never without the relkit CLI's channel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relkit import secret_channel
from tests.support.hostmodules import PLAYBOOKS, load

gate_action = load("relkit_gate_action", PLAYBOOKS / "action_plugins" / "relkit_gate.py")
values_lookup = load("relkit_secret_values_lookup", PLAYBOOKS / "lookup_plugins" / "relkit_secret_values.py")
passed_by_relkit = gate_action.ActionModule._passed_by_relkit


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "releases" / "2.0.0.yml"
    path.parent.mkdir()
    path.write_text("version: 2.0.0\n")
    return path


def _args(path: Path, **changes: str) -> dict[str, str]:
    return {"manifest": str(path), "env": "production", "run_id": "run-1", **changes}


def _serve(path: Path, monkeypatch: pytest.MonkeyPatch, cli: bool = True) -> Any:
    gate_pass = {"run_id": "run-1", "env": "production", "manifest": str(path.resolve())}
    channel = secret_channel.serve([], environ={}, gate_pass=gate_pass)
    env = channel.__enter__()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if cli:
        monkeypatch.setenv("RELKIT_CLI", "1")
    else:
        monkeypatch.delenv("RELKIT_CLI", raising=False)
    return channel


def test_the_matching_pass_is_accepted(manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = _serve(manifest, monkeypatch)
    try:
        assert passed_by_relkit(_args(manifest)) is True
        # the same file by another spelling of its path
        relative = Path("..") / manifest.parent.name / manifest.name
        monkeypatch.chdir(manifest.parent)
        assert passed_by_relkit(_args(manifest, manifest=str(relative))) is True
    finally:
        channel.__exit__(None, None, None)


@pytest.mark.parametrize(
    "changes",
    [{"run_id": "run-2"}, {"env": "staging"}, {"manifest": "/elsewhere/2.0.0.yml"}, {"run_id": ""}],
)
def test_a_pass_for_another_play_is_refused(
    manifest: Path, monkeypatch: pytest.MonkeyPatch, changes: dict[str, str]
) -> None:
    channel = _serve(manifest, monkeypatch)
    try:
        assert passed_by_relkit(_args(manifest, **changes)) is False
    finally:
        channel.__exit__(None, None, None)


def test_no_pass_without_the_cli_or_its_live_channel(manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = _serve(manifest, monkeypatch, cli=False)
    try:
        assert passed_by_relkit(_args(manifest)) is False  # plain ansible-playbook: evaluate
    finally:
        channel.__exit__(None, None, None)
    monkeypatch.setenv("RELKIT_CLI", "1")
    assert passed_by_relkit(_args(manifest)) is False  # channel closed: socket gone
    monkeypatch.delenv(secret_channel.SOCKET_ENV)
    assert passed_by_relkit(_args(manifest)) is False  # no channel at all


def test_a_wrong_token_gets_nothing(manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = _serve(manifest, monkeypatch)
    try:
        monkeypatch.setenv(secret_channel.TOKEN_ENV, "guessed")
        assert passed_by_relkit(_args(manifest)) is False
    finally:
        channel.__exit__(None, None, None)


def test_the_pass_is_not_taken_for_a_secret_value(manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_PW", "s3cret-value")
    gate_pass = {"run_id": "run-1", "env": "production", "manifest": str(manifest)}
    with secret_channel.serve(["SHOP_PW"], gate_pass=gate_pass) as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert values_lookup.LookupModule().run([], variables={}) == ["s3cret-value"]
