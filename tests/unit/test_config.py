"""Project config model (relkit.config): relkit.yml."""

from __future__ import annotations

from typing import Any

import pytest

from relkit.config import ProjectConfig
from relkit.loading import load_config, validate_data
from tests.support.factories import config_data, problems_of
from tests.support.fixtures import EXAMPLE_PROJECT


def _valid(**overrides: Any) -> ProjectConfig:
    return validate_data(ProjectConfig, config_data(**overrides), "relkit.yml")


def test_example_relkit_yml_validates() -> None:
    cfg = load_config(EXAMPLE_PROJECT / "relkit.yml")
    assert cfg.app == "webapp"
    assert set(cfg.environments) == {"staging", "production"}
    assert cfg.environments["production"].promote_from == "staging"
    assert cfg.environments["staging"].promote_from is None
    assert cfg.shared == ["data", "log"]
    assert [c.name for c in cfg.smoke.checks] == ["health", "port"]
    assert cfg.smoke.checks[1].port == "{{ app_port }}"
    assert cfg.retention.keep_releases == 3


def test_defaults() -> None:
    cfg = _valid()
    assert cfg.state_dir == ".relkit"
    assert cfg.retention.keep_releases == 5
    assert cfg.ansible.forks == 20
    assert cfg.service.timeout == 60
    assert cfg.smoke.checks[0].status == 200


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"colour": 1}, "colour: unknown key"),
        ({"service": {"strat": "x", "start": "y"}}, "service.strat: unknown key"),
        (
            {"smoke": {"checks": [{"name": "a", "port": 1, "kind": "tcp"}]}},
            "smoke.checks.0.kind: unknown key",
        ),
        (
            {"environments": {"staging": {"inventory": "i", "promote": "x"}}},
            "environments.staging.promote: unknown key",
        ),
    ],
)
def test_unknown_keys_name_their_path(overrides: dict[str, Any], expected: str) -> None:
    assert problems_of(ProjectConfig, config_data(**overrides)) == [expected]


@pytest.mark.parametrize("field", ["app", "deploy_path", "environments", "service"])
def test_missing_required_field_names_it(field: str) -> None:
    data = config_data()
    del data[field]
    assert problems_of(ProjectConfig, data) == [f"{field}: required field is missing"]


def test_missing_nested_required_field_names_path() -> None:
    data = config_data(environments={"staging": {}}, service={})
    assert problems_of(ProjectConfig, data) == [
        "environments.staging.inventory: required field is missing",
        "service.start: required field is missing",
    ]


def test_no_environments_rejected() -> None:
    problems = problems_of(ProjectConfig, config_data(environments={}))
    assert [p.split(":")[0] for p in problems] == ["environments"]


@pytest.mark.parametrize("app", ["a..b", "a/b", "we b", "a;b", "$(id)", "`id`", "a\nb", "-a", "x" * 65])
def test_unsafe_app_name_rejected(app: str) -> None:
    problems = problems_of(ProjectConfig, config_data(app=app))
    assert len(problems) == 1
    assert problems[0].startswith("app: must be 1-64 characters")


@pytest.mark.parametrize("env", ["../prod", "prod/x", "prod uction", "-prod", "p;q"])
def test_unsafe_environment_name_rejected(env: str) -> None:
    problems = problems_of(ProjectConfig, config_data(environments={env: {"inventory": "i.yml"}}))
    assert len(problems) == 1
    assert problems[0].startswith(f"environments.{env}")
    assert "must be 1-64 characters" in problems[0]


def test_unsafe_promote_from_name_rejected() -> None:
    envs = {"staging": {"inventory": "i"}, "production": {"inventory": "i", "promote_from": "../staging"}}
    problems = problems_of(ProjectConfig, config_data(environments=envs))
    assert [p.split(":")[0] for p in problems] == ["environments.production.promote_from"]


def test_promote_from_unknown_environment_rejected() -> None:
    envs = {"staging": {"inventory": "i"}, "production": {"inventory": "i", "promote_from": "qa"}}
    problems = problems_of(ProjectConfig, config_data(environments=envs))
    assert len(problems) == 1
    assert "environments.production.promote_from: unknown environment 'qa'" in problems[0]


@pytest.mark.parametrize(
    "checks",
    [
        [{"name": "a", "http": "http://x/", "port": 80}],
        [{"name": "a", "port": 80, "command": "true"}],
        [{"name": "a", "http": "http://x/", "command": "true"}],
        [{"name": "a"}],
    ],
    ids=["http+port", "port+command", "http+command", "none"],
)
def test_smoke_check_needs_exactly_one_kind(checks: list[dict[str, Any]]) -> None:
    problems = problems_of(ProjectConfig, config_data(smoke={"checks": checks}))
    assert problems == ["smoke.checks.0: give exactly one of 'http', 'port' or 'command'"]


@pytest.mark.parametrize("port", [80, "{{ app_port }}", "{{app_port}}"])
def test_smoke_port_int_or_host_var(port: Any) -> None:
    cfg = _valid(smoke={"checks": [{"name": "p", "port": port}]})
    assert cfg.smoke.checks[0].port == port


@pytest.mark.parametrize("port", [0, 65536, "{{ a }} {{ b }}", "app_port", "{{ }"])
def test_smoke_bad_port_rejected(port: Any) -> None:
    problems = problems_of(ProjectConfig, config_data(smoke={"checks": [{"name": "p", "port": port}]}))
    assert problems
    assert all(p.startswith("smoke.checks.0.port") for p in problems)


@pytest.mark.parametrize(
    ("deploy_path", "message"),
    [
        ("opt/webapp", "deploy_path: must be an absolute path"),
        ("./webapp", "deploy_path: must be an absolute path"),
        ("/opt/../etc", "deploy_path: must not contain '..'"),
        ("/opt/webapp/..", "deploy_path: must not contain '..'"),
        ("/opt//../x", "deploy_path: must not contain '..'"),
        ("{{ base }}/../etc", "deploy_path: must not contain '..'"),
    ],
)
def test_bad_deploy_path_rejected(deploy_path: str, message: str) -> None:
    problems = problems_of(ProjectConfig, config_data(deploy_path=deploy_path))
    assert len(problems) == 1
    assert message in problems[0]


@pytest.mark.parametrize("deploy_path", ["/opt/webapp", "/srv/web..app", "{{ base_dir }}/webapp"])
def test_good_deploy_path_accepted(deploy_path: str) -> None:
    assert _valid(deploy_path=deploy_path).deploy_path == deploy_path


@pytest.mark.parametrize(
    "shared",
    [
        "..",
        "../etc",
        "data/..",
        "data/../../etc",
        "/etc",
        "/data",
        "./data",
        "data//log",
        "data/",
        ".ssh",
        "a..b",
        "da ta",
        "data;rm",
    ],
)
def test_bad_shared_path_rejected(shared: str) -> None:
    problems = problems_of(ProjectConfig, config_data(shared=["log", shared]))
    assert len(problems) == 1
    assert problems[0].startswith("shared.1: ")


@pytest.mark.parametrize("shared", ["data", "log/app", "data.d", "config/app.ini", "_cache", "a-b/c_d.e"])
def test_good_shared_path_accepted(shared: str) -> None:
    assert _valid(shared=[shared]).shared == [shared]


@pytest.mark.parametrize("keep", [0, 1, 101])
def test_retention_bounds(keep: int) -> None:
    problems = problems_of(ProjectConfig, config_data(retention={"keep_releases": keep}))
    assert [p.split(":")[0] for p in problems] == ["retention.keep_releases"]


@pytest.mark.parametrize("timeout", [0, -1, 3601])
def test_service_timeout_bounds(timeout: float) -> None:
    problems = problems_of(ProjectConfig, config_data(service={"start": "x", "timeout": timeout}))
    assert [p.split(":")[0] for p in problems] == ["service.timeout"]


# -- provenance: what proves an artifact's origin -------------------------------------------


def test_provenance_defaults_to_build_info_and_may_be_set_per_promoted_environment() -> None:
    assert validate_data(ProjectConfig, config_data(), "relkit.yml").policy.provenance == "build_info"
    envs = {"staging": {"inventory": "s"}, "production": {"inventory": "p", "promote_from": "staging"}}
    envs["production"]["provenance"] = "signed"
    config = validate_data(
        ProjectConfig, config_data(environments=envs, policy={"provenance": "either"}), "r"
    )
    assert (config.policy.provenance, config.environments["production"].provenance) == ("either", "signed")
    assert config.environments["staging"].provenance is None


def test_provenance_on_an_environment_without_promote_from_is_named() -> None:
    envs = {"staging": {"inventory": "s", "provenance": "signed"}}
    assert problems_of(ProjectConfig, config_data(environments=envs)) == [
        "environments.staging.provenance: only an environment with promote_from checks the artifact's "
        "provenance: remove provenance or add promote_from"
    ]


def test_unknown_provenance_is_named() -> None:
    [problem] = problems_of(ProjectConfig, config_data(policy={"provenance": "trust-me"}))
    assert problem.startswith("policy.provenance: Input should be 'build_info', 'signed' or 'either'")


def test_engine_local_by_default_or_a_worker_node() -> None:
    assert _valid().environments["staging"].engine == "local"
    node = {"host": "runner.eu.example.com", "user": "relkit", "ssh_options": ["StrictHostKeyChecking=yes"]}
    cfg = _valid(environments={"staging": {"inventory": "i", "engine": {"worker": node}}})
    engine = cfg.environments["staging"].engine
    assert not isinstance(engine, str)
    assert engine.worker.host == "runner.eu.example.com"
    assert (engine.worker.port, engine.worker.command, engine.worker.work_dir) == (
        22,
        "ansible-runner worker",
        "/tmp",
    )


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ("remote", "environments.staging.engine"),
        ({"worker": {}}, "environments.staging.engine.worker.host: required field is missing"),
        ({"worker": {"host": "n", "port": 0}}, "environments.staging.engine.worker.port"),
        ({"worker": {"host": "n", "ssh_options": ["-oProxyCommand=x"]}}, "ssh_options"),
        ({"worker": {"host": "n", "work_dir": "tmp"}}, "work_dir"),
        ({"worker": {"host": "-oProxyCommand=x"}}, "worker.host"),
        ({"local": {}}, "local: unknown key"),
    ],
)
def test_bad_engine_names_the_field(engine: Any, expected: str) -> None:
    problems = problems_of(
        ProjectConfig, config_data(environments={"staging": {"inventory": "i", "engine": engine}})
    )
    assert problems and any(expected in p for p in problems), problems
