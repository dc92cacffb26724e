"""The variables of relkit.yml's strings (relkit.playvars): what the plays provide, what a string
uses, and every use no play and no inventory can satisfy, named by its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from relkit import playvars
from relkit.config import ProjectConfig
from relkit.loading import validate_data
from tests.support.factories import config_data

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
ROLES = REPO / "roles"

INVENTORY = {
    "staging": {"stage1": frozenset({"app_port", "app_bind", "inventory_hostname"})},
    "production": {
        "prod1": frozenset({"app_port", "app_bind", "only_prod1"}),
        "prod2": frozenset({"app_port", "app_bind"}),
    },
}


def _config(**changes: Any) -> ProjectConfig:
    return validate_data(ProjectConfig, config_data(**changes), "relkit.yml")


def _smoke(*checks: dict[str, Any]) -> dict[str, Any]:
    return {"checks": list(checks)}


def test_the_documented_variables_are_given_by_every_play_that_templates_a_string() -> None:
    assert set(playvars.VARIABLES) == {
        "relkit_version",
        "relkit_env",
        "relkit_app",
        "relkit_deploy_path",
        "relkit_run_id",
        "relkit_secrets",
    }
    for plays in playvars.TEMPLATED.values():
        assert set(plays) <= set(playvars.PLAYS)
    assert playvars.PLAYS["deploy.yml"] == playvars.PLAYS["rollback.yml"] == playvars.PLAYS["health.yml"]


def test_the_roles_define_each_documented_variable() -> None:
    """roles/relkit_vars holds the variables (relkit_deploy_path and relkit_secrets: their own roles),
    and every role that runs relkit's modules depends on it."""
    defined: set[str] = set()
    for part in ("defaults", "vars"):
        defined |= set(yaml.safe_load((ROLES / "relkit_vars" / part / "main.yml").read_text()))
    defined |= set(yaml.safe_load((ROLES / "relkit_secrets" / "defaults" / "main.yml").read_text()))
    for role in ("relkit_deploy", "relkit_rollback", "relkit_health", "relkit_smoke", "relkit_prepare"):
        defined_here = set(yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()))
        assert "relkit_deploy_path" in defined_here, role
        meta = yaml.safe_load((ROLES / role / "meta" / "main.yml").read_text())
        assert {"role": "relkit_vars"} in meta["dependencies"], role
    assert set(playvars.VARIABLES) - {"relkit_deploy_path"} <= defined


def test_a_string_with_known_variables_passes() -> None:
    config = _config(
        smoke=_smoke(
            {
                "name": "health",
                "http": "http://{{ app_bind }}:{{ app_port }}/health?env={{ relkit_env }}",
                "contains": '"version": "{{ relkit_version }}"',
            },
            {
                "name": "cwd",
                "command": "test -d {{ relkit_deploy_path }}/releases/{{ relkit_version | quote }}",
            },
            {
                "name": "who",
                "command": "echo {{ inventory_hostname }} {{ groups['all'] | length }} "
                "{{ lookup('env', 'HOME') }}",
            },
        )
    )
    assert playvars.check(config, INVENTORY) == []


def test_an_unknown_variable_is_named_with_its_field_and_what_the_plays_provide() -> None:
    config = _config(smoke=_smoke({"name": "v", "http": "http://x/{{ relkit_release.version }}"}))
    [problem] = playvars.check(config, INVENTORY)
    assert problem.field == "smoke.checks.0.http"
    assert str(problem) == (
        "smoke.checks.0.http: unknown variable relkit_release (plays provide: relkit_app, "
        "relkit_deploy_path, relkit_env, relkit_run_id, relkit_secrets, relkit_version; no host of "
        "production, staging defines it in its inventory)"
    )


def test_a_variable_some_hosts_lack_names_them() -> None:
    config = _config(smoke=_smoke({"name": "p", "command": "echo {{ only_prod1 }}"}))
    [problem] = playvars.check(config, INVENTORY)
    assert problem.field == "smoke.checks.0.command"
    assert (
        "variable only_prod1 is not defined for every host (missing on production: prod2; staging: stage1;"
        in (problem.message)
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"service": {"start": "run {{ nope }}"}}, "service.start"),
        ({"shared": ["data"], "deploy_path": "/srv/{{ nope }}"}, "deploy_path"),
        (
            {"data": [{"name": "db", "kind": "postgresql", "database": "app", "port": "{{ nope }}"}]},
            "data.0.port",
        ),
        ({"health": {"checks": [{"name": "h", "http": "http://{{ nope }}/"}]}}, "health.checks.0.http"),
        ({"smoke": _smoke({"name": "p", "port": "{{ nope }}"})}, "smoke.checks.0.port"),
    ],
)
def test_every_templated_section_is_checked(changes: dict[str, Any], field: str) -> None:
    [problem] = playvars.check(_config(**changes), INVENTORY)
    assert (problem.field, problem.message.split(" (")[0]) == (field, "unknown variable nope")


def test_strings_no_play_templates_are_not_checked() -> None:
    """Notifications and the policy are relkit's, never templated by a play: braces there are text."""
    config = _config(
        notifications={"channels": {"chat": {"type": "webhook", "url": "https://x/{{nope}}"}}},
        policy={
            "freezes": [
                {"start": "2026-12-24T00:00:00", "end": "2027-01-02T00:00:00", "reason": "{{ nope }}"}
            ]
        },
    )
    assert playvars.check(config, INVENTORY) == []


@pytest.mark.parametrize("name", ["relkit_version", "relkit_run_id", "relkit_deploy_path"])
def test_a_deploy_path_cannot_depend_on_the_release_or_the_run(name: str) -> None:
    [problem] = playvars.check(_config(deploy_path=f"/srv/{{{{ {name} }}}}"), INVENTORY)
    assert problem.field == "deploy_path"
    assert problem.message.startswith(f"{name} cannot be used in deploy_path: ")
    assert "relkit_env" in problem.message


def test_a_deploy_path_may_use_the_app_the_environment_and_the_inventory() -> None:
    config = _config(deploy_path="/srv/{{ relkit_app }}/{{ relkit_env }}/{{ app_port }}")
    assert playvars.check(config, INVENTORY) == []


def test_a_secret_must_be_listed() -> None:
    config = _config(
        secrets=["API_KEY"],
        smoke=_smoke(
            {"name": "k", "command": "curl -H {{ relkit_secrets.API_KEY }} {{ relkit_secrets['TOKEN'] }}"}
        ),
    )
    [problem] = playvars.check(config, INVENTORY)
    assert str(problem) == (
        "smoke.checks.0.command: relkit_secrets.TOKEN: TOKEN is not listed under secrets: (API_KEY)"
    )


def test_a_broken_template_is_named() -> None:
    [problem] = playvars.check(_config(service={"start": "run {{ app_port "}), INVENTORY)
    assert problem.field == "service.start"
    assert problem.message.startswith("not a valid template: ")


def test_without_readable_inventories_only_relkits_own_names_are_judged() -> None:
    config = _config(smoke=_smoke({"name": "v", "command": "echo {{ app_port }} {{ relkit_release }}"}))
    [problem] = playvars.check(config, {})
    assert problem.message.startswith("unknown variable relkit_release (plays provide: ")


def test_an_inventory_defining_a_variable_relkit_sets_is_named() -> None:
    hosts = {"web1": frozenset({"relkit_version", "relkit_deploy_path"}), "web2": frozenset()}
    [problem] = playvars.set_by_relkit("production", hosts)
    assert problem.field == "environments.production.inventory"
    assert problem.message.startswith("defines relkit_version (hosts web1): relkit sets that variable")


def test_uses_tells_which_plays_need_the_version() -> None:
    """The plays that must read relkit_version on each host first (roles: the resolve task)."""
    plain = _config()
    assert not any(playvars.uses(plain, "relkit_version", play) for play in playvars.PLAYS)
    in_health = _config(health={"checks": [{"name": "v", "command": "test {{ relkit_version }}"}]})
    assert [p for p in playvars.PLAYS if playvars.uses(in_health, "relkit_version", p)] == ["health.yml"]
    in_smoke = _config(smoke=_smoke({"name": "v", "command": "test {{ relkit_version }}"}))
    assert [p for p in playvars.PLAYS if playvars.uses(in_smoke, "relkit_version", p)] == [
        "deploy.yml",
        "rollback.yml",
        "smoke.yml",
        "health.yml",
    ]


def test_the_example_project_passes_and_asserts_the_version() -> None:
    example = yaml.safe_load((REPO / "examples" / "project" / "relkit.yml").read_text())
    config = validate_data(ProjectConfig, example, "relkit.yml")
    hosts = {"staging": {"stage1": frozenset({"app_bind", "app_port"})}}
    assert playvars.check(config, hosts) == []
    [health] = [c for c in config.smoke.checks if c.name == "health"]
    assert health.contains is not None and "{{ relkit_version }}" in health.contains
