"""The variables relkit's plays give relkit.yml's strings, and the check of those strings.

Strings of relkit.yml that the plays template per host (``deploy_path``, ``shared``, ``service``,
``smoke``, ``data``, ``health.checks``) may use Ansible host variables from the inventory, Ansible's
own special variables and lookups, and the variables of :data:`VARIABLES`, which every play that
templates the string provides (roles/relkit_vars). :func:`check` finds the names a string uses
with Jinja2's parser (a sandboxed environment; nothing is rendered) and names each one no play and
no inventory provides: a string Ansible would fail to template in the middle of a deploy, a
rollback or a health run. Pure: the inventories' variable names are given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from relkit.config import ProjectConfig

VARIABLES: dict[str, str] = {
    "relkit_version": "the version the play makes live or checks on this host: deploy and prepare, the "
    "manifest's; rollback, the release it rolls back to; health, the release live on the host",
    "relkit_env": "the environment the play runs on (an environments key of relkit.yml)",
    "relkit_app": "the app (relkit.yml's app)",
    "relkit_deploy_path": "this host's deploy path: the inventory's relkit_deploy_path, else relkit.yml's "
    "deploy_path",
    "relkit_run_id": "the relkit run, as the ledger names it (e.g. 20261117T220105-3fa2c1)",
    "relkit_secrets": "relkit_secrets.NAME: the value of NAME, a variable listed under secrets:",
}
"""The documented variables of relkit.yml's strings, with what each holds."""

PLAYS: dict[str, frozenset[str]] = {
    "prepare.yml": frozenset(VARIABLES) - {"relkit_secrets"},
    "deploy.yml": frozenset(VARIABLES),
    "rollback.yml": frozenset(VARIABLES),
    "smoke.yml": frozenset(VARIABLES),
    "health.yml": frozenset(VARIABLES),
}
"""Play → the documented variables it provides (roles/relkit_vars, roles/relkit_secrets)."""

TEMPLATED: dict[str, tuple[str, ...]] = {
    "deploy_path": tuple(PLAYS),
    "shared": ("deploy.yml", "rollback.yml"),
    "service": ("deploy.yml", "rollback.yml"),
    "data": ("deploy.yml", "rollback.yml"),
    "smoke": ("deploy.yml", "rollback.yml", "smoke.yml", "health.yml"),
    "health": ("health.yml",),
}
"""relkit.yml key → the plays that template its strings (other keys are never templated)."""

NOT_IN_DEPLOY_PATH = {
    "relkit_version": "every release lives under the one deploy path",
    "relkit_run_id": "every run works in the one deploy path",
    "relkit_deploy_path": "it is the deploy path",
    "relkit_secrets": "a secret must not become a path",
}
"""Variables a deploy path cannot use, and why."""

ANSIBLE_NAMES = frozenset(
    {
        "lookup",
        "query",
        "q",
        "now",
        "omit",
        "undef",
        "ansible_check_mode",
        "ansible_config_file",
        "ansible_diff_mode",
        "ansible_forks",
        "ansible_inventory_sources",
        "ansible_limit",
        "ansible_play_batch",
        "ansible_play_hosts",
        "ansible_play_hosts_all",
        "ansible_play_name",
        "ansible_playbook_python",
        "ansible_run_tags",
        "ansible_skip_tags",
        "ansible_verbosity",
        "ansible_version",
        "group_names",
        "groups",
        "hostvars",
        "inventory_dir",
        "inventory_file",
        "inventory_hostname",
        "inventory_hostname_short",
        "play_hosts",
        "playbook_dir",
    }
)
"""Ansible's own template names: lookups and special variables every play has."""

HostVars = Mapping[str, Mapping[str, frozenset[str]]]
"""Environment → host → the variable names its inventory defines for that host."""


@dataclass(frozen=True)
class Problem:
    """A string that cannot be templated: its field path and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in ``value`` (dicts and lists of JSON data) with its dotted path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}.{index}")


def templated_strings(config: ProjectConfig) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """``(field path, string, plays)`` for every string of relkit.yml a play templates."""
    data = config.model_dump(mode="json", include=set(TEMPLATED) - {"health"})
    data["health"] = {"checks": config.model_dump(mode="json")["health"]["checks"]}
    for key, plays in TEMPLATED.items():
        if key in data:
            for path, text in _leaves(data[key], key):
                if "{{" in text or "{%" in text:
                    yield path, text, plays


def _any_callable(*args: Any, **kwargs: Any) -> None:
    """Stands for a filter or test this parser does not know (Ansible's and collections' own)."""


class _AnyName(dict[str, Any]):
    """Filters or tests by name: Jinja2's own, and any other name (Ansible's: ``quote``, ``b64encode``…)."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, _any_callable)

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> Any:
        return _any_callable


_JINJA = SandboxedEnvironment()
_JINJA.filters = _AnyName(_JINJA.filters)
_JINJA.tests = _AnyName(_JINJA.tests)


def names_used(text: str) -> tuple[set[str], set[str]]:
    """The variables ``text`` uses and the ``relkit_secrets.NAME`` names it reads.

    Raises :class:`jinja2.TemplateSyntaxError` for a string that is no template.
    """
    tree = _JINJA.parse(text)
    secrets = {
        node.attr
        for node in tree.find_all(nodes.Getattr)
        if isinstance(node.node, nodes.Name) and node.node.name == "relkit_secrets"
    }
    secrets |= {
        str(node.arg.value)
        for node in tree.find_all(nodes.Getitem)
        if isinstance(node.node, nodes.Name)
        and node.node.name == "relkit_secrets"
        and isinstance(node.arg, nodes.Const)
    }
    return set(meta.find_undeclared_variables(tree)), secrets


def provided(plays: tuple[str, ...], field: str) -> frozenset[str]:
    """The documented variables every one of ``plays`` provides to ``field``."""
    names = frozenset.intersection(*(PLAYS[p] for p in plays))
    return names - set(NOT_IN_DEPLOY_PATH) if field == "deploy_path" else names


def uses(config: ProjectConfig, name: str, play: str) -> bool:
    """True when a string ``play`` templates uses the variable ``name`` (or cannot be read)."""
    for _, text, plays in templated_strings(config):
        if play not in plays:
            continue
        try:
            if name in names_used(text)[0]:
                return True
        except TemplateSyntaxError:
            return True
    return False


def check(config: ProjectConfig, host_vars: HostVars) -> list[Problem]:
    """Every variable a templated string of relkit.yml uses that a play templating it would lack.

    A name is provided by the plays (:data:`VARIABLES`, less what a deploy path cannot use), by
    Ansible (:data:`ANSIBLE_NAMES`), or by the inventory of every host of every environment
    (``host_vars``).
    """
    problems: list[Problem] = []
    for field, text, plays in templated_strings(config):
        try:
            names, secrets = names_used(text)
        except TemplateSyntaxError as exc:
            problems.append(Problem(field, f"not a valid template: {exc.message} (line {exc.lineno})"))
            continue
        available = provided(plays, field)
        for name in sorted(names):
            if name in available or name in ANSIBLE_NAMES:
                continue
            problems.append(Problem(field, _missing(name, field, available, host_vars)))
        if "relkit_secrets" in names:
            for secret in sorted(secrets - set(config.secrets)):
                listed = ", ".join(config.secrets) or "none"
                problems.append(
                    Problem(
                        field, f"relkit_secrets.{secret}: {secret} is not listed under secrets: ({listed})"
                    )
                )
    return [p for p in problems if p.message]


def _missing(name: str, field: str, available: frozenset[str], host_vars: HostVars) -> str:
    """Why ``name`` is a problem in ``field`` ('' when every host's inventory defines it)."""
    offer = f"plays provide: {', '.join(sorted(available))}"
    if field == "deploy_path" and name in NOT_IN_DEPLOY_PATH:
        why = NOT_IN_DEPLOY_PATH[name]
        return f"{name} cannot be used in deploy_path: {why} ({offer}; and inventory variables)"
    lacking = {
        env: sorted(host for host, names in hosts.items() if name not in names)
        for env, hosts in host_vars.items()
    }
    everywhere = all(len(lacking[env]) == len(hosts) for env, hosts in host_vars.items())
    if host_vars and everywhere:
        envs = ", ".join(sorted(host_vars))
        return f"unknown variable {name} ({offer}; no host of {envs} defines it in its inventory)"
    if not host_vars:  # no inventory could be read: only relkit's own names can be judged
        return f"unknown variable {name} ({offer})" if name.startswith("relkit_") else ""
    where = "; ".join(f"{env}: {', '.join(hosts)}" for env, hosts in sorted(lacking.items()) if hosts)
    return f"variable {name} is not defined for every host (missing on {where}; {offer})" if where else ""


def set_by_relkit(environment: str, host_vars: Mapping[str, frozenset[str]]) -> list[Problem]:
    """Documented variables an inventory defines: relkit sets them, the inventory's value is never
    used (``relkit_deploy_path`` is the inventory's to set)."""
    own = sorted(
        (set(VARIABLES) - {"relkit_deploy_path"}) & {n for names in host_vars.values() for n in names}
    )
    problems = []
    for name in own:
        hosts = ", ".join(sorted(h for h, names in host_vars.items() if name in names))
        problems.append(
            Problem(
                f"environments.{environment}.inventory",
                f"defines {name} (hosts {hosts}): relkit sets that variable in every play and never "
                "uses the inventory's; rename it",
            )
        )
    return problems
