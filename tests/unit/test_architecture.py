"""The package's shape, checked from its source: one front door, no import cycles.

- the CLI (``relkit/cli/``) and the Ansible plugins (``playbooks/``) import relkit only
  through :mod:`relkit.api` (the CLI also imports its own modules);
- use cases never import the façade or the CLI, and only the façade and use cases import
  use cases;
- :mod:`relkit.api` only re-exports: no function or class of its own but the lazy lookup,
  and every name it exports exists;
- the package has no import cycle, counting imports inside functions and the façade's
  lazy re-exports.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "relkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(path: Path, package: str) -> set[str]:
    """Every relkit module ``path`` imports (any depth, functions included), resolved to modules."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], base])
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found.update(n.rstrip(".") for n in names if n.split(".")[0] == "relkit")
    return found


def graph() -> dict[str, set[str]]:
    edges = {}
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges[name] = {m for m in imported(path, package) if m != name}
    api = importlib.import_module("relkit.api")
    edges["relkit.api"] |= {module for module, _ in api.EXPORTS.values()}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_cli_enters_only_through_the_facade() -> None:
    wrong = {
        name: sorted(m for m in deps if m != "relkit.api" and not m.startswith("relkit.cli"))
        for name, deps in graph().items()
        if name.startswith("relkit.cli")
    }
    assert {n: d for n, d in wrong.items() if d} == {}


@pytest.mark.parametrize("path", sorted((REPO / "playbooks").rglob("*.py")), ids=lambda p: p.name)
def test_the_ansible_plugins_enter_only_through_the_facade(path: Path) -> None:
    assert imported(path, "") <= {"relkit.api"}


def test_only_the_facade_and_use_cases_import_use_cases() -> None:
    edges = graph()
    importers = {
        name
        for name, deps in edges.items()
        if any(d.startswith("relkit.usecases") for d in deps) and not name.startswith("relkit.usecases")
    }
    assert importers == {"relkit.api"}
    leaks = {n: sorted(d) for n, d in edges.items() if n.startswith("relkit.usecases") for d in [deps_of(d)]}
    assert {n: d for n, d in leaks.items() if d} == {}


def deps_of(deps: set[str]) -> set[str]:
    return {d for d in deps if d == "relkit.api" or d.startswith("relkit.cli")}


def test_the_facade_only_re_exports() -> None:
    tree = ast.parse(MODULES["relkit.api"].read_text())
    own = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)}
    assert own == {"__getattr__", "__dir__"}
    api = importlib.import_module("relkit.api")
    for name in api.__all__:
        assert getattr(api, name) is not None, name


def test_the_facade_names_the_same_exports_for_type_checkers() -> None:
    """The lazy EXPORTS table and the TYPE_CHECKING imports that give callers real types agree."""
    tree = ast.parse(MODULES["relkit.api"].read_text())
    [block] = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    typed = {
        (a.asname or a.name): (node.module, a.name)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for a in node.names
    }
    api = importlib.import_module("relkit.api")
    assert typed == api.EXPORTS
