"""The gate pass: a relkit run tells its own play's relkit_gate task that the gates passed.

Real socket (relkit.secret_channel), real ledger and lock (the example project), real action
plugin class. The pass is served once, and only to a request for it; it is accepted only under
the relkit CLI, for the run, environment, manifest and release it names, while that run holds
the environment's lock, and only when the ledger holds that run's passing evaluation of that
release recorded with this very pass's digest. Overrides count for the release they name.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from relkit import gatekeeper, secret_channel
from relkit.gates import Override
from relkit.loading import load_manifest
from relkit.project import Project
from relkit.usecases.gates import overrides_of_run
from tests.support.hostmodules import PLAYBOOKS, load

gate_action = load("relkit_gate_action", PLAYBOOKS / "action_plugins" / "relkit_gate.py")
values_lookup = load("relkit_secret_values_lookup", PLAYBOOKS / "lookup_plugins" / "relkit_secret_values.py")
pass_refusal = gate_action.ActionModule._pass_refusal
ENV = "staging"  # the example's staging gates pass for 1.0.0 (manifest, plan, artifact)


@pytest.fixture
def project(example_project: Path) -> Iterator[Project]:
    with Project.load(example_project) as project:
        yield project


@pytest.fixture
def manifest(project: Project) -> Path:
    return project.root / "releases" / "1.0.0.yml"


def issue(project: Project, manifest: Path, run_id: str = "run-1", env: str = ENV) -> dict[str, str]:
    """What ``relkit deploy`` does before its play: evaluate, issue the pass, record both."""
    checked = gatekeeper.evaluate(project, manifest, env, "deploy", actor="ops")
    gate_pass = gatekeeper.issue_pass(checked, manifest, run_id)
    gatekeeper.record(project, checked, "ops", manifest, run_id, gate_pass=gate_pass)
    return gate_pass


@contextlib.contextmanager
def serving(
    monkeypatch: pytest.MonkeyPatch, gate_pass: dict[str, str] | None, cli: bool = True
) -> Iterator[dict[str, str]]:
    """The pass served on a real channel, its socket and token in this process's environment."""
    with secret_channel.serve([], environ={}, gate_pass=gate_pass) as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        if cli:
            monkeypatch.setenv("RELKIT_CLI", "1")
        else:
            monkeypatch.delenv("RELKIT_CLI", raising=False)
        yield env


def args(project: Project, path: Path, **changes: str) -> dict[str, str]:
    return {
        "manifest": str(path),
        "env": ENV,
        "run_id": "run-1",
        "project_dir": str(project.root),
        **changes,
    }


def test_relkits_own_pass_is_accepted(
    project: Project, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate_pass = issue(project, manifest)
    with project.ledger.hold(ENV, "run-1", "deploy"):
        with serving(monkeypatch, gate_pass):
            assert pass_refusal(args(project, manifest), project) == ""
        # the same file by another spelling of its path
        relative = Path("..") / manifest.parent.name / manifest.name
        monkeypatch.chdir(manifest.parent)
        with serving(monkeypatch, gate_pass):
            assert pass_refusal(args(project, manifest, manifest=str(relative)), project) == ""
    [evaluated] = project.ledger.entries(kind="gate.evaluated")
    assert evaluated.data["pass_digest"] == gatekeeper.pass_digest(gate_pass)
    assert gate_pass["nonce"] not in str(evaluated.data)  # the ledger keeps a digest, never the pass


def test_the_pass_is_served_once_and_only_when_asked_for(
    project: Project, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate_pass = issue(project, manifest)
    monkeypatch.setenv("SHOP_PW", "s3cret-value")
    with secret_channel.serve(["SHOP_PW"], gate_pass=gate_pass) as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("RELKIT_CLI", "1")
        # the secret lookups never see (nor use up) the pass
        assert secret_channel.fetch_from_env() == {"SHOP_PW": "s3cret-value"}
        assert values_lookup.LookupModule().run([], variables={}) == ["s3cret-value"]
        assert secret_channel.fetch_gate_pass() == gate_pass
        assert secret_channel.fetch_gate_pass() is None  # a second fetch gets nothing
        with project.ledger.hold(ENV, "run-1", "deploy"):
            assert "none served" in pass_refusal(args(project, manifest), project)
        assert secret_channel.fetch_from_env() == {"SHOP_PW": "s3cret-value"}


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"run_id": "run-2"}, "the pass is for run 'run-1'"),
        ({"env": "production"}, "the pass is for 'staging'"),
        ({"manifest": "/elsewhere/1.0.0.yml"}, "the pass is for manifest"),
        ({"run_id": ""}, "not 'an unnamed run'"),
    ],
)
def test_a_pass_for_another_play_is_refused(
    project: Project, manifest: Path, monkeypatch: pytest.MonkeyPatch, changes: dict[str, str], why: str
) -> None:
    gate_pass = issue(project, manifest)
    with project.ledger.hold(ENV, "run-1", "deploy"), serving(monkeypatch, gate_pass):
        assert why in pass_refusal(args(project, manifest, **changes), project)


def test_a_forged_pass_is_refused(project: Project, manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Right run, environment, manifest and release, the lock held, a passing evaluation recorded:
    a pass relkit did not issue (another nonce) is still refused."""
    genuine = issue(project, manifest)
    forged = {**genuine, "nonce": secrets.token_urlsafe(32)}
    with project.ledger.hold(ENV, "run-1", "deploy"), serving(monkeypatch, forged):
        assert "no passing gate evaluation of 1.0.0" in pass_refusal(args(project, manifest), project)
    legacy = {k: genuine[k] for k in ("run_id", "env", "manifest")}  # what used to be enough
    with project.ledger.hold(ENV, "run-1", "deploy"), serving(monkeypatch, legacy):
        assert pass_refusal(args(project, manifest), project) == "malformed pass"


def test_a_pass_without_a_recorded_evaluation_is_refused(
    project: Project, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = gatekeeper.evaluate(project, manifest, ENV, "deploy", actor="ops")
    unrecorded = gatekeeper.issue_pass(checked, manifest, "run-1")
    with project.ledger.hold(ENV, "run-1", "deploy"), serving(monkeypatch, unrecorded):
        assert "no passing gate evaluation" in pass_refusal(args(project, manifest), project)


def test_a_pass_of_a_blocked_evaluation_is_refused(
    project: Project, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate_pass = issue(project, manifest, env="production")  # 1.0.0 never passed staging
    with project.ledger.hold("production", "run-1", "deploy"), serving(monkeypatch, gate_pass):
        why = pass_refusal(args(project, manifest, env="production"), project)
    assert why == "the evaluation recorded for run run-1 did not pass for 1.0.0"


def test_a_pass_is_not_replayed_outside_its_run(
    project: Project, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate_pass = issue(project, manifest)
    with serving(monkeypatch, gate_pass):  # the run is over: nobody holds the lock
        assert pass_refusal(args(project, manifest), project) == "run run-1 does not hold the staging lock"
    with project.ledger.hold(ENV, "run-2", "deploy"), serving(monkeypatch, gate_pass):
        assert "(deploy run run-2 by" in pass_refusal(args(project, manifest), project)
    with project.ledger.hold(ENV, "run-1", "rollback"), serving(monkeypatch, gate_pass):
        assert "does not hold" in pass_refusal(args(project, manifest), project)


def test_a_pass_counts_for_the_release_it_names(
    project: Project, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate_pass = issue(project, manifest)
    with project.ledger.hold(ENV, "run-1", "deploy"):
        with serving(monkeypatch, {**gate_pass, "version": "2.0.0"}):
            assert "the pass is for 2.0.0" in pass_refusal(args(project, manifest), project)
        # the manifest names another artifact since the gates were checked
        sha = gate_pass["sha256"]
        manifest.write_text(manifest.read_text().replace(sha, "ab" * 32))
        with serving(monkeypatch, gate_pass):
            assert f"not 1.0.0 ({'ab' * 6})" in pass_refusal(args(project, manifest), project)


def test_no_pass_without_the_cli_or_its_live_channel(
    project: Project, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate_pass = issue(project, manifest)
    with project.ledger.hold(ENV, "run-1", "deploy"):
        with serving(monkeypatch, gate_pass, cli=False):
            assert pass_refusal(args(project, manifest), project) is None  # plain ansible-playbook
        monkeypatch.setenv("RELKIT_CLI", "1")
        assert pass_refusal(args(project, manifest), project).startswith("cannot fetch it")  # socket gone
        monkeypatch.delenv(secret_channel.SOCKET_ENV)
        assert pass_refusal(args(project, manifest), project).startswith("none served")  # no channel


def test_a_wrong_token_gets_nothing(
    project: Project, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate_pass = issue(project, manifest)
    with project.ledger.hold(ENV, "run-1", "deploy"), serving(monkeypatch, gate_pass):
        monkeypatch.setenv(secret_channel.TOKEN_ENV, "guessed")
        assert pass_refusal(args(project, manifest), project).startswith("none served")


def test_the_pass_is_not_taken_for_a_secret_value(manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_PW", "s3cret-value")
    gate_pass = {"run_id": "run-1", "env": "production", "manifest": str(manifest)}
    with secret_channel.serve(["SHOP_PW"], gate_pass=gate_pass) as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert values_lookup.LookupModule().run([], variables={}) == ["s3cret-value"]


def test_overrides_count_for_the_release_they_name(project: Project, manifest: Path) -> None:
    override = Override("notice_sent", "dewi", "told users by phone")
    checked = gatekeeper.evaluate(
        project, manifest, "production", "deploy", actor="ops", overrides=[override]
    )
    gatekeeper.record(project, checked, "ops", manifest, "run-1")
    [row] = project.ledger.entries(kind="gate.override")
    sha1 = load_manifest(manifest).artifact.sha256
    assert (row.data["version"], row.data["sha256"]) == ("1.0.0", sha1)
    assert overrides_of_run(project, "production", "run-1", "1.0.0", sha1) == [override]
    sha2 = load_manifest(manifest.parent / "2.0.0.yml").artifact.sha256
    assert overrides_of_run(project, "production", "run-1", "2.0.0", sha2) == []  # another release
    assert overrides_of_run(project, "production", "run-1", "1.0.0", sha2) == []  # another artifact
    assert overrides_of_run(project, "production", "run-2", "1.0.0", sha1) == []  # another run
    assert overrides_of_run(project, "staging", "run-1", "1.0.0", sha1) == []  # another environment
    assert overrides_of_run(project, "production", "", "1.0.0", sha1) == []
    # rows written before overrides named their artifact apply to no release
    project.ledger.append(
        "gate.override",
        run_id="run-3",
        env="production",
        data={"gate": "notice_sent", "by": "dewi", "reason": "r", "version": "1.0.0"},
    )
    assert overrides_of_run(project, "production", "run-3", "1.0.0", sha1) == []
