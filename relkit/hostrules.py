"""The controller's view of ``playbooks/module_utils/relkit_rules.py``: rules written once.

Host modules cannot import relkit, so a rule both sides need lives in module_utils; this
module loads that very file and re-exports its names for the controller.
"""

from __future__ import annotations

import importlib.util
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
