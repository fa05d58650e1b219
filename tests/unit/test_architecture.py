"""The package's shape, checked from the source: no import cycles, no private names imported across
modules, no actor handed the Hub. Reads the files with ``ast``; imports nothing of agentdeck."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from conftest import REPO

PACKAGES = {"agentdeck.actors": REPO / "actors", "agentdeck.web": REPO / "web"}


@functools.cache
def modules() -> dict[str, Path]:
    found = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


@functools.cache
def imports_of(name: str, path: Path, known: frozenset[str]) -> list[tuple[str, list[str]]]:
    """(imported module, imported names) for every module-level and function-level import,
    except those under ``if TYPE_CHECKING:`` (they do not run)."""
    tree = ast.parse(path.read_text())
    skipped = {id(node) for guard in ast.walk(tree) if isinstance(guard, ast.If)
               and "TYPE_CHECKING" in ast.unparse(guard.test) for node in ast.walk(guard)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [alias.name for alias in node.names]
            submodules = [f"{node.module}.{n}" for n in names if f"{node.module}.{n}" in known]
            found.append((node.module, [n for n in names if f"{node.module}.{n}" not in known]))
            found.extend((sub, []) for sub in submodules)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return [(module, names) for module, names in found if module in known]


@functools.cache
def graph() -> dict[str, set[str]]:
    found = modules()
    known = frozenset(found)
    return {name: {module for module, _ in imports_of(name, path, known)} - {name}
            for name, path in found.items()}


def test_the_import_graph_has_no_cycles() -> None:
    edges = graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt):], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert cycles == []
    assert len(edges) > 50  # the walk saw the tree


def test_no_private_name_is_imported_from_another_module() -> None:
    found = modules()
    known = frozenset(found)
    private = [f"{name} imports {module}.{imported}"
               for name, path in found.items()
               for module, names in imports_of(name, path, known)
               for imported in names if imported.startswith("_") and not imported.startswith("__")]
    assert private == []


def test_no_actor_is_handed_the_hub() -> None:
    """Only the hub module (which builds the actors) and the web layer hold the ``Hub``."""
    holders = sorted(name for name, targets in graph().items()
                     if "agentdeck.actors.hub" in targets and name.startswith("agentdeck.actors."))
    assert holders == []


def test_every_path_the_design_document_names_exists() -> None:
    """docs/design.md's map and "where does X live" index match the tree."""
    import re

    text = (REPO / "docs" / "design.md").read_text()
    named = set(re.findall(r"`((?:actors|web|templates|tests|docs|bench)/[\w./-]*?)(?::\w+)?`", text))
    missing = sorted(path for path in named if not (REPO / path.rstrip("/")).exists())
    assert missing == []
    assert len(named) > 60


def test_every_package_says_what_it_offers() -> None:
    for root in PACKAGES.values():
        for init in root.rglob("__init__.py"):
            doc = ast.get_docstring(ast.parse(init.read_text())) or ""
            assert len(doc) > 40, f"{init.relative_to(REPO)} says nothing of what it offers"
