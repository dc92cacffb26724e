"""The controller's view of ``playbooks/module_utils/relkit_rules.py``: rules written once.

Host modules cannot import relkit, so a rule both sides need lives in module_utils; this
module loads that very file and re-exports its names for the controller.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from types import ModuleType

from relkit.assets import playbooks_dir


def _load(name: str) -> ModuleType:
    qualified = f"relkit._host_{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    path = playbooks_dir() / "module_utils" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(qualified, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


rules = _load("relkit_rules")

HOST_EVENTS: dict[str, str] = rules.HOST_EVENTS
CALLBACK_EVENTS: dict[str, str] = rules.CALLBACK_EVENTS


def new_run_id() -> str:
    """A sortable, unique run id (the same format the ledger callback uses on its own)."""
    return str(rules.new_run_id())


SAFE_NAME: re.Pattern[str] = rules.SAFE_NAME
HEALTH_RANK: dict[str, int] = rules.HEALTH_RANK
SMOKE_KINDS: tuple[str, ...] = rules.SMOKE_KINDS
HEALTH_KINDS: tuple[str, ...] = rules.HEALTH_KINDS
PG_DEFAULTS: dict[str, str | int] = rules.PG_DEFAULTS
PG_HOSTS: str = rules.PG_HOSTS
LAYOUT_DIRS: tuple[str, ...] = rules.LAYOUT_DIRS
RESERVED: tuple[str, ...] = rules.RESERVED
LOCK: str = rules.LOCK
HISTORY_KEEP: int = rules.HISTORY_KEEP
SMOKE_PASSED: str = rules.SMOKE_PASSED
SMOKE_FAILED: str = rules.SMOKE_FAILED


def rollback_target(history: list[dict[str, object]], live: str | None, installed: set[str]) -> str | None:
    """The release a rollback without ``--to`` goes to, from a host's switches (oldest first):
    the hosts' own rule, ``relkit_rules.rollback_target``."""
    target = rules.rollback_target(history, live, installed)
    return None if target is None else str(target)


def is_safe_name(value: object) -> bool:
    """True for 1-64 characters of letters, digits, ``. _ + -``, not starting with a symbol, no ``..``."""
    return bool(rules.is_safe_name(value))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file."""
    return str(rules.sha256_file(path))


def atomic_write(
    path: str | os.PathLike[str],
    data: str | bytes,
    mode: int | None = None,
    replace: bool = True,
    sync: bool = True,
) -> None:
    """Replace ``path`` with ``data`` whole or not at all (temporary file beside it, fsync unless
    not ``sync``, rename(2)); ``mode``: its permissions (None: 0o666 less the umask);
    ``replace=False``: create it only if it does not exist (FileExistsError)."""
    rules.atomic_write(path, data, mode, replace, sync)
