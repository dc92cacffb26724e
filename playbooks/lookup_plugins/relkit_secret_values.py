"""Lookup plugin: every secret value a relkit play knows, for relkit's modules' no_log option."""

from __future__ import annotations

import os

from ansible.errors import AnsibleLookupError
from ansible.parsing.vault import VaultHelper
from ansible.plugins.lookup import LookupBase

from relkit.api import GATE_PASS, SOCKET_ENV, fetch_from_env

DOCUMENTATION = r"""
name: relkit_secret_values
short_description: The secret values of a relkit play, to hand to relkit's modules as no_log
description:
  - Returns a flat list of strings, each a value that must never show in a result, a log,
    relkit's ledger or ansible-runner's artifacts.
  - The values relkit serves to the play (C(secrets:) and data C(password_env) variables,
    see the relkit_secret lookup), the variables named by the terms (read like relkit_secret
    does), and every Ansible Vault-encrypted value among the host's variables (C(!vault)
    scalars and the strings of wholly encrypted vars files).
  - relkit's roles pass the list in the modules' C(secrets) option, which is C(no_log), so
    Ansible replaces each value with C(********) in whatever the module returns (its
    message, command output, C(invocation.module_args)).
options:
  _terms:
    description: Environment variable names (relkit.yml C(secrets:)).
    required: false
"""

RETURN = r"""
_raw:
  description: The secret values (no empty ones, no duplicates).
  type: list
  elements: str
"""

try:  # values read from a wholly encrypted vars file carry no vault tag, only their origin
    from ansible._internal._datatag._tags import Origin
except ImportError:  # pragma: no cover - then relkit's controller-side redactor alone masks them
    Origin = None

MAX_DEPTH = 8
_ENCRYPTED_FILES = {}
SKIP = frozenset({"hostvars", "groups", "vars", "omit", "playbook_dir", "inventory_dir"})


def from_vault_file(value):
    """True when ``value`` was read from a wholly vault-encrypted file (its Origin tag says which)."""
    path = getattr(Origin.get_tag(value), "path", None) if Origin is not None else None
    if not path:
        return False
    if path not in _ENCRYPTED_FILES:
        try:
            with open(path, "rb") as handle:
                _ENCRYPTED_FILES[path] = handle.read(64).lstrip().startswith(b"$ANSIBLE_VAULT;")
        except OSError:
            _ENCRYPTED_FILES[path] = False
    return _ENCRYPTED_FILES[path]


def vaulted(value, depth=0):
    """Decrypted vault values inside ``value`` (dicts and lists are searched): ``!vault``
    scalars and the strings of wholly encrypted vars files."""
    if depth > MAX_DEPTH:
        return
    if VaultHelper.get_ciphertext(value, with_tags=False) is not None or (
        isinstance(value, str) and from_vault_file(value)
    ):
        try:
            yield str(value)
        except Exception:  # undecryptable: Ansible cannot use it either, nothing to hide
            return
    elif isinstance(value, dict):
        for item in list(value.values()):
            yield from vaulted(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from vaulted(item, depth + 1)


class LookupModule(LookupBase):
    """relkit_secret_values lookup."""

    def run(self, terms, variables=None, **kwargs):
        values = []
        try:
            values += [str(v) for k, v in fetch_from_env().items() if k != GATE_PASS]
        except (OSError, ValueError) as exc:
            raise AnsibleLookupError(
                "relkit_secret_values: cannot read %s: %s" % (os.environ.get(SOCKET_ENV), exc)
            ) from None
        values += [os.environ.get(str(term), "") for term in terms]
        for name, value in (variables or {}).items():
            if name not in SKIP:
                values += list(vaulted(value))
        return sorted({v for v in values if v})
