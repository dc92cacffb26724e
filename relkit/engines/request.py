"""One play to run, as every engine receives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relkit.config import WorkerNode


@dataclass(frozen=True)
class PlayRequest:
    """One play to run."""

    playbook: str
    inventory: Path
    run_dir: Path
    run_id: str
    extravars: dict[str, Any]
    """Extra vars; their strings reach the play as data Ansible never templates (``!unsafe``),
    except those of the names in ``templated_vars``."""
    forks: int = 20
    timeout: int = 30
    limit: str | None = None
    hidden_env: tuple[str, ...] = ()
    """Controller variables (secrets) kept from the play's environment and its ``command`` artifact."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables for the play (e.g. relkit.secret_channel's socket and token)."""
    secret_values: tuple[str, ...] = field(default=(), repr=False)
    """Values redacted from every event, outcome and file of the run (see relkit.secrets)."""
    vault_password_file: Path | None = None
    """Ansible Vault password file (or script) for the inventory's vault data."""
    templated_vars: frozenset[str] = frozenset()
    """Extra vars written by the project itself (relkit.yml), whose ``{{ host_var }}`` strings the
    play templates per host. Nothing from a manifest, an argument, the ledger or a host is."""
    worker: WorkerNode | None = None
    """The execution node the ``worker`` engine runs the play on (its ``identity_file`` absolute)."""
    ledger_state: Path | None = None
    """The controller's state directory when the ledger is the embedded SQLite one: an engine that
    runs the play elsewhere ships a read-only copy of the ledger and the lock for the play's gate
    check (a shared ledger the node reads itself)."""
