"""Load relkit's host-side Ansible modules (and their module_utils) as plain Python for unit tests."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


def load(name: str, path: Path) -> ModuleType:
    """Import ``path`` as module ``name`` (module_utils under their ``ansible.module_utils.*`` names)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def module_utils() -> dict[str, ModuleType]:
    """Every relkit module_utils file, importable as ``ansible.module_utils.<name>`` by the modules
    (loaded once, so tests and the modules they load share the same objects)."""
    first = ("relkit_rules", "relkit_checks", "relkit_layout")  # the ones the others import, before them
    paths = sorted((PLAYBOOKS / "module_utils").glob("relkit_*.py"))
    paths.sort(key=lambda p: first.index(p.stem) if p.stem in first else len(first))
    return {path.stem: load(f"ansible.module_utils.{path.stem}", path) for path in paths}


def library(name: str) -> ModuleType:
    """A host-side module from playbooks/library, its module_utils loaded first."""
    module_utils()
    return load(f"{name}_module", PLAYBOOKS / "library" / f"{name}.py")


def release_params(root: Path, **extra: object) -> dict[str, object]:
    """``relkit_release``'s parameters for a deploy path ``root``, as a play gives them, with ``extra``."""
    base: dict[str, object] = {
        "deploy_path": str(root),
        "version": None,
        "sha256": None,
        "upload": None,
        "shared": ["data"],
        "start": None,
        "stop": None,
        "service_timeout": 10,
        "keep_releases": 3,
        "run_id": "r1",
        "by": "tester",
        "smoke": None,
    }
    base.update(extra)
    return base
