"""Host variables as the plays see them: relkit.yml strings rendered per host of an inventory.

The release report names each host's address, deploy path and smoke targets; those come from
the inventory (``ansible_host``, ``relkit_deploy_path``, ``app_port``...) and relkit.yml strings
that use them (``http://{{ ansible_host }}:{{ app_port }}/health``). :func:`render` asks Ansible
itself, in a child process (Ansible's configuration and plugin loaders are process-global),
to load each inventory and template the given strings for every host, with what a play would
have but the secrets: no vault password (vaulted variables stay unknown), none of relkit.yml's
``secrets:`` variables in its environment, no ``relkit_secrets``, and no lookup but ``env``
(a ``pipe`` or ``url`` lookup is not run by a report). A string that cannot be rendered comes
back as None: the report says the value is not known rather than show a raw template.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relkit.assets import playbooks_dir

TIMEOUT = 120.0
"""Seconds allowed for loading every inventory (a dynamic inventory may ask a cloud API)."""

_CHILD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from ansible.plugins import loader as plugin_loader

_get = plugin_loader.lookup_loader.get


def _env_lookup_only(name, *args, **kwargs):
    if name not in ("env", "ansible.builtin.env"):
        raise RuntimeError("relkit report runs no %s lookup" % name)
    return _get(name, *args, **kwargs)


plugin_loader.lookup_loader.get = _env_lookup_only

from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible.vars.manager import VariableManager


def trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return value


def render(templar, text):
    try:
        value = templar.template(trust_as_template(text))
    except Exception:
        return None
    value = "" if value is None else str(value)
    return None if "{{" in value or "{%" in value else value


request = json.load(sys.stdin)
out = {}
for env, job in request.items():
    try:
        loader = DataLoader()
        inventory = InventoryManager(loader=loader, sources=[job["inventory"]])
        variables = VariableManager(loader=loader, inventory=inventory)
        hosts = {}
        for host in inventory.get_hosts():
            hostvars = variables.get_vars(host=host, include_hostvars=False)
            hostvars.update(trusted(job["extra"]))
            templar = Templar(loader=loader, variables=hostvars)
            hosts[host.name] = {key: render(templar, text) for key, text in job["strings"].items()}
        out[env] = {"hosts": hosts, "error": "" if hosts else "no hosts in the inventory"}
    except Exception as exc:
        text = str(exc).strip()
        out[env] = {"hosts": {}, "error": text.splitlines()[0][:300] if text else type(exc).__name__}
json.dump(out, sys.stdout)
"""


@dataclass(frozen=True)
class Rendered:
    """One inventory's hosts (in inventory order), each string rendered for each host (None: not
    known), or why the inventory could not be read."""

    hosts: dict[str, dict[str, str | None]] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class Job:
    """The strings to render for every host of one inventory, with extra variables (``relkit_project``)."""

    inventory: Path
    strings: Mapping[str, str]
    extra: Mapping[str, Any] = field(default_factory=dict)


def render(
    jobs: Mapping[str, Job], hidden_env: Iterable[str] = (), timeout: float = TIMEOUT
) -> dict[str, Rendered]:
    """Per job name (an environment), its hosts and strings rendered; a job that fails says why."""
    if not jobs:
        return {}
    hidden = set(hidden_env)
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in hidden and not k.startswith("ANSIBLE_VAULT") and k != "ANSIBLE_INVENTORY"
    }
    environ["ANSIBLE_CONFIG"] = str(playbooks_dir() / "ansible.cfg")
    environ["ANSIBLE_NOCOLOR"] = "1"
    request = {
        name: {"inventory": str(job.inventory), "strings": dict(job.strings), "extra": dict(job.extra)}
        for name, job in jobs.items()
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environ,
            cwd=str(playbooks_dir()),
            check=False,
        )
        answer = json.loads(done.stdout) if done.returncode == 0 else None
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        problem = f"cannot read the inventories: {last}"
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        answer, problem = None, f"cannot read the inventories: {type(exc).__name__}"
    if not isinstance(answer, dict):
        return {name: Rendered(error=problem) for name in jobs}
    out = {}
    for name in jobs:
        got = answer.get(name) or {}
        hosts = {
            str(h): {str(k): (str(v) if v is not None else None) for k, v in values.items()}
            for h, values in (got.get("hosts") or {}).items()
            if isinstance(values, dict)
        }
        out[name] = Rendered(hosts, str(got.get("error") or ""))
    return out
