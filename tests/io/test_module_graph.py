"""The store's modules import in one direction: no cycles inside ``roadmark.io``.

import-linter's layer contracts cannot see cycles between modules of one layer, so the
import graph of ``roadmark/io`` is read here (every import, ``TYPE_CHECKING`` ones
included) and its strongly connected components must all be single modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

IO = Path(__file__).resolve().parents[2] / "roadmark" / "io"


def _module(path: Path) -> str:
    parts = ("roadmark", "io", *path.relative_to(IO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(folder: Path) -> dict[str, set[str]]:
    """Module -> the modules of ``folder``'s package that it imports."""
    paths = {_module(path): path for path in folder.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    targets.add(child if child in paths else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {target for target in targets if target in paths and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other (directly or through others)."""
    reach = {name: _reachable(graph, name) for name in graph}
    groups = {frozenset(n for n in reach[name] if name in reach[n]) | {name} for name in graph}
    return sorted(sorted(group) for group in groups if len(group) > 1)


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def test_cycles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_io():
    graph = import_graph(IO)
    assert "roadmark.io.changelog" in graph["roadmark.io.store"]
    assert "roadmark.io.store" not in _reachable(graph, "roadmark.io.changelog")
    assert cycles(graph) == []
