"""One play to run, as every engine receives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PlayRequest:
    """One play to run."""

    playbook: str
    inventory: Path
    run_dir: Path
    run_id: str
    extravars: dict[str, Any]
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
