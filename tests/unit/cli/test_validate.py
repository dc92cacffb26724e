"""``relkit validate``: the manifest file alone outside a project (and saying so); inside one,
relkit.yml with the variables its strings use, and the manifest against the project."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.clirunner import Cli, make_cli
from tests.support.fixtures import EXAMPLE_PROJECT


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


@pytest.fixture
def manifest(example_project: Path) -> Path:
    return example_project / "releases" / "2.0.0.yml"


def _edit_yaml(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_outside_a_project_only_the_file_is_checked_and_said_so(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("validate", EXAMPLE_PROJECT / "releases" / "2.0.0.yml")
    assert result.code == 0, result.err
    assert "valid: webapp 2.0.0 (" in result.out and "): only the file was checked" in result.out
    assert "the manifest's app, artifact and sha256 were not checked" in result.out
    assert f"relkit -C {EXAMPLE_PROJECT} validate" in result.out  # the project the manifest sits in

    result = cli("-o", "json", "validate", EXAMPLE_PROJECT / "releases" / "2.0.0.yml")
    payload = result.payload
    assert (payload["valid"], payload["project"], payload["checked"]) == (True, None, ["the manifest file"])
    assert payload["notes"][0].startswith("no project here")


def test_inside_a_project_the_manifest_is_checked_against_it(
    cli: Cli, example_project: Path, manifest: Path
) -> None:
    result = cli("-C", example_project, "-o", "json", "validate", manifest)
    assert result.code == 0, result.err
    payload = result.payload
    assert payload["project"] == str(example_project)
    assert payload["checked"] == [
        "the manifest file",
        "relkit.yml (its keys, gate names and inventories)",
        "the variables its strings use (the plays', the inventories' of production, staging)",
        "the manifest's app",
        "the artifact's sha256",
    ]
    assert payload["notes"] == []
    text = cli("-C", example_project, "validate", manifest)
    assert text.out.startswith(f"valid: webapp 2.0.0 ({manifest}) against the project {example_project}")


def test_a_relkit_yml_found_upward_is_the_project(
    cli: Cli, example_project: Path, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(example_project / "releases")
    (example_project.parent / "webapp" / "dist" / "webapp-2.0.0.tar.gz").write_bytes(b"not the build")
    result = cli("validate", "2.0.0.yml")
    assert result.code == 2
    assert "  - artifact.sha256: 821304e8ca54… is not the sha256 of " in result.err


def test_a_wrong_sha256_is_exit_2_naming_the_field(cli: Cli, example_project: Path, manifest: Path) -> None:
    _edit_yaml(manifest, lambda m: m["artifact"].update(sha256="0" * 64))
    result = cli("-C", example_project, "validate", manifest)
    assert result.code == 2
    assert f"error (exit 2): {manifest}: does not fit the project {example_project}" in result.err
    assert "  - artifact.sha256: 000000000000… is not the sha256 of " in result.err
    assert "webapp-2.0.0.tar.gz, which is 821304e8ca54…" in result.err
    assert result.out == ""


def test_another_app_is_exit_2_naming_the_field(cli: Cli, example_project: Path, manifest: Path) -> None:
    _edit_yaml(manifest, lambda m: m.update(app="webap"))
    result = cli("-C", example_project, "validate", manifest)
    assert result.code == 2
    assert "  - app: the manifest is for 'webap', this project (relkit.yml) deploys 'webapp'" in result.err


def test_a_missing_artifact_is_exit_2_naming_the_field(
    cli: Cli, example_project: Path, manifest: Path
) -> None:
    (example_project.parent / "webapp" / "dist" / "webapp-2.0.0.tar.gz").unlink()
    result = cli("-C", example_project, "validate", manifest)
    assert result.code == 2
    assert "  - artifact.path: " in result.err and "webapp-2.0.0.tar.gz not found" in result.err


def test_a_broken_relkit_yml_is_exit_2_naming_its_field(
    cli: Cli, example_project: Path, manifest: Path
) -> None:
    _edit_yaml(example_project / "relkit.yml", lambda c: c["smoke"].update(checks=[]))
    result = cli("-C", example_project, "validate", manifest)
    assert result.code == 2
    assert f"{example_project / 'relkit.yml'}: invalid ProjectConfig" in result.err
    assert "  - smoke.checks: " in result.err


def test_an_unknown_variable_in_relkit_yml_is_exit_2_naming_the_field(
    cli: Cli, example_project: Path, manifest: Path
) -> None:
    """The issue's case: relkit_release works in a deploy only; rollback and health cannot template it."""
    _edit_yaml(
        example_project / "relkit.yml",
        lambda c: c["smoke"]["checks"][0].update(contains="{{ relkit_release.version }}"),
    )
    result = cli("-C", example_project, "validate", manifest)
    assert result.code == 2
    assert (
        f"{example_project / 'relkit.yml'}: invalid ProjectConfig (the manifest was not checked against it)"
        in (result.err)
    )
    assert (
        "  - smoke.checks.0.contains: unknown variable relkit_release (plays provide: relkit_app, "
        "relkit_deploy_path, relkit_env, relkit_run_id, relkit_secrets, relkit_version; no host of "
        "production, staging defines it in its inventory)"
    ) in result.err


def test_a_variable_of_one_inventory_only_is_named_with_the_hosts_lacking_it(
    cli: Cli, example_project: Path
) -> None:
    inventory = example_project.parent.parent / "inventory" / "local" / "staging.yml"
    _edit_yaml(inventory, lambda i: i["staging"]["vars"].update(app_user="web"))
    _edit_yaml(
        example_project / "relkit.yml", lambda c: c["service"].update(stop="pkill -u {{ app_user }} app")
    )
    result = cli("-C", example_project, "validate")
    assert result.code == 2
    missing = "variable app_user is not defined for every host (missing on production: prod1, prod2;"
    assert f"  - service.stop: {missing}" in result.err


def test_an_inventory_setting_relkit_version_is_named(cli: Cli, example_project: Path) -> None:
    inventory = example_project.parent.parent / "inventory" / "local" / "production.yml"
    _edit_yaml(inventory, lambda i: i["production"]["hosts"]["prod2"].update(relkit_version="9.9.9"))
    result = cli("-C", example_project, "validate")
    assert result.code == 2
    assert (
        "  - environments.production.inventory: defines relkit_version (hosts prod2): relkit sets"
        in result.err
    )


def test_without_a_manifest_relkit_yml_alone_is_checked(cli: Cli, example_project: Path) -> None:
    result = cli("-C", example_project, "validate")
    assert result.code == 0, result.err
    assert result.out.startswith(
        f"valid: {example_project / 'relkit.yml'} against the project {example_project}"
    )


def test_without_a_manifest_outside_a_project_there_is_nothing_to_validate(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("validate")
    assert result.code == 2
    assert "nothing to validate: give a manifest" in result.err


def test_an_unreadable_inventory_is_a_note_not_a_failure(
    cli: Cli, example_project: Path, manifest: Path
) -> None:
    """Vault data without its password: that inventory's variables are not checked, and relkit says so."""
    group_vars = example_project.parent.parent / "inventory" / "local" / "group_vars"
    group_vars.mkdir()
    (group_vars / "production.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6134\n")
    result = cli("-C", example_project, "validate", manifest)
    assert result.code == 0, result.err
    assert "note: environments.production.inventory: its variables could not be read (" in result.out


def test_a_url_artifact_not_downloaded_is_a_note(cli: Cli, example_project: Path, manifest: Path) -> None:
    _edit_yaml(
        manifest, lambda m: m.update(artifact={"url": "https://dl.example.org/w.tar.gz", "sha256": "1" * 64})
    )
    result = cli("-C", example_project, "validate", manifest)
    assert result.code == 0, result.err
    assert "note: artifact.url: not downloaded yet, so its sha256 is not checked" in result.out


@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "nul-byte"])
def test_an_artifact_path_that_is_no_file_is_exit_2(
    cli: Cli, example_project: Path, manifest: Path, tmp_path: Path, kind: str
) -> None:
    """Hostile artifact paths inside a project: named as bad input, never read (a FIFO would block)."""
    target = {"directory": str(tmp_path), "device": "/dev/zero", "nul-byte": "a\x00b.tar.gz"}.get(kind)
    if kind == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    _edit_yaml(manifest, lambda m: m["artifact"].update(path=target))
    result = cli("-C", example_project, "validate", manifest)
    assert result.code == 2, result.err
    assert "  - artifact.path: " in result.err
    expected = {"directory": "(a directory)", "fifo": "(a FIFO)", "device": "(a character device)"}
    assert expected.get(kind, "must not contain control characters") in result.err
