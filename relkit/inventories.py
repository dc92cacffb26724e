"""The variable names each host of an environment's inventory gets, read the way Ansible reads them.

:func:`host_variables` runs ``python -m relkit.inventories`` in a child process: Ansible's own
inventory plugins parse the inventory (a file, a directory, group_vars/ and host_vars/ beside it,
a script) and only the variables' *names* come back, never their values (the inventory may hold
vault secrets). The child keeps Ansible's global settings and warnings out of relkit's process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relkit.secrets import redact_text

TIMEOUT = 120.0
"""Seconds allowed for reading every inventory (a script inventory may be slow)."""


def host_variables(
    inventories: Mapping[str, Path], vault_password_file: Path | None, timeout: float = TIMEOUT
) -> tuple[dict[str, dict[str, frozenset[str]]], dict[str, str]]:
    """Environment → host → the names of the variables its inventory gives it; and, per environment
    whose inventory could not be read, why not."""
    spec = {
        "inventories": {env: str(path) for env, path in inventories.items()},
        "vault_password_file": str(vault_password_file) if vault_password_file else None,
    }
    env = {**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1", "ANSIBLE_NOCOLOR": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "relkit.inventories"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {}, dict.fromkeys(inventories, f"reading the inventories took over {timeout:g} s")
    except OSError as exc:
        return {}, dict.fromkeys(inventories, f"cannot run {sys.executable}: {exc}")
    try:  # the result is stdout's last line (Ansible may print before it)
        found = json.loads((done.stdout.strip().splitlines() or [""])[-1])
    except ValueError:
        why = redact_text(_last_line(done.stderr)) or f"the inventory reader exited {done.returncode}"
        return {}, dict.fromkeys(inventories, why)
    names = {
        env: {host: frozenset(variables) for host, variables in hosts.items()}
        for env, hosts in found.get("hosts", {}).items()
    }
    return names, {env: redact_text(why) for env, why in found.get("errors", {}).items()}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _read(inventory: str, vault_password_file: str | None) -> dict[str, list[str]]:
    """Host → variable names, with Ansible's inventory manager (in the child process)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    if vault_password_file:
        from ansible.parsing.vault import get_file_vault_secret

        secret = get_file_vault_secret(filename=vault_password_file, vault_id="default", loader=loader)
        secret.load()
        loader.set_vault_secrets([("default", secret)])
    manager = InventoryManager(loader=loader, sources=[inventory])
    variables = VariableManager(loader=loader, inventory=manager)
    return {
        host.name: sorted(str(k) for k in variables.get_vars(host=host, include_hostvars=False))
        for host in manager.get_hosts()
    }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _why(exc: BaseException, reasons: dict[str, str]) -> str:
    """The error, with the inventory plugins' own reasons (Ansible only warns them)."""
    detail = "; ".join(f"{plugin}: {why}" for plugin, why in reasons.items() if plugin in ("yaml", "ini"))
    return f"{_first_line(exc)}{f' ({detail})' if detail else ''}"[:500]


def main() -> int:
    """Child process: read the spec on stdin, print ``{"hosts": …, "errors": …}`` (names only)."""
    from ansible.utils.display import Display

    reasons: dict[str, str] = {}

    def plugin_failed(msg: str | None, exception: BaseException, **_: Any) -> None:
        plugin = (
            (msg or "").partition("'")[2].partition("'")[0]
        )  # Failed to parse inventory with 'yaml' plugin.
        reasons[plugin] = _first_line(exception)

    display = Display()
    display.error_as_warning = plugin_failed
    display.warning = lambda *args, **kwargs: None
    spec: dict[str, Any] = json.loads(sys.stdin.read())
    result: dict[str, dict[str, Any]] = {"hosts": {}, "errors": {}}
    for env, inventory in spec["inventories"].items():
        reasons.clear()
        try:
            result["hosts"][env] = _read(inventory, spec.get("vault_password_file"))
        except Exception as exc:  # Ansible raises many kinds; each is a reason, not a crash
            result["errors"][env] = _why(exc, reasons)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
