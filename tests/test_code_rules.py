"""Rules of the code base that a reader should be able to rely on (STYLE.md), checked by
reading roadmark/ with ``ast``:

- no private member of one module is used from another module: ``x._name`` where ``x`` is
  not ``self``/``cls`` and ``_name`` is defined only in other roadmark modules, and
  ``from roadmark.m import _name``;
- no module longer than 600 lines;
- no cycle among roadmark modules' top-level imports (imports under ``TYPE_CHECKING`` and
  inside functions do not run at import time and are left out: they are how cycles hide).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "roadmark"
MAX_LINES = 600


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int


@cache
def modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        text = path.read_text(encoding="utf-8")
        name = ".".join(parts)
        found[name] = Module(name, path, ast.parse(text, str(path)), len(text.splitlines()))
    return found


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


# -- private members ---------------------------------------------------------------------------


def defined_private_names(tree: ast.Module) -> set[str]:
    """Private names a module defines: its functions, classes and module variables, class
    members, attributes assigned on any object, and keyword names of its calls that make
    objects (dataclass fields)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {name for name in names if is_private(name)}


def is_own_object(value: ast.expr) -> bool:
    if isinstance(value, ast.Name):
        return value.id in ("self", "cls")
    # super()._x and type(self)._x reach the object's own class hierarchy.
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in ("super", "type")
    )


def private_uses(module: Module, elsewhere: dict[str, set[str]]) -> Iterator[str]:
    own = defined_private_names(module.tree)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("roadmark"):
            for alias in node.names:
                if is_private(alias.name):
                    yield f"{module.name}:{node.lineno} imports {node.module}.{alias.name}"
        elif (
            isinstance(node, ast.Attribute)
            and is_private(node.attr)
            and node.attr not in own
            and not is_own_object(node.value)
        ):
            owners = sorted(name for name, names in elsewhere.items() if node.attr in names)
            if owners:
                yield (
                    f"{module.name}:{node.lineno} uses {ast.unparse(node)} "
                    f"(defined in {', '.join(owners)})"
                )


def all_private_uses() -> list[str]:
    defined = {name: defined_private_names(m.tree) for name, m in modules().items()}
    hits: list[str] = []
    for name, module in modules().items():
        elsewhere = {other: names for other, names in defined.items() if other != name}
        hits.extend(private_uses(module, elsewhere))
    return hits


def test_no_private_member_of_another_module():
    hits = all_private_uses()
    assert not hits, "give these members a public name:\n" + "\n".join(hits)


def test_the_private_member_rule_sees_what_it_should(tmp_path: Path):
    other = ast.parse("class A:\n    def _hidden(self): ...\n    _slot = 1\n")
    mine = ast.parse(
        "def f(a, b):\n"
        "    a._hidden()\n"  # another module's private member: a hit
        "    return b._mine\n"  # defined here: fine
        "class B:\n"
        "    def __eq__(self, other):\n"
        "        return self._mine == other._mine\n"  # own class, own dunder: fine
        "    def g(self):\n"
        "        self._mine = 2\n"
        "        return super()._slot\n"  # the object's own hierarchy: fine
        "from roadmark.x import _helper\n"  # a hit
    )
    module = Module("roadmark.mine", tmp_path / "mine.py", mine, 10)
    elsewhere = {"roadmark.other": defined_private_names(other)}
    hits = sorted(private_uses(module, elsewhere))
    assert hits == [
        "roadmark.mine:10 imports roadmark.x._helper",
        "roadmark.mine:2 uses a._hidden (defined in roadmark.other)",
    ]


# -- size --------------------------------------------------------------------------------------


def test_no_module_above_600_lines():
    long = [f"{m.name}: {m.lines} lines" for m in modules().values() if m.lines > MAX_LINES]
    assert not long, "split these modules:\n" + "\n".join(long)


# -- import cycles -----------------------------------------------------------------------------


def runtime_imports(module: Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: module level, including inside
    top-level ``if``/``try`` blocks, except ``if TYPE_CHECKING:``."""
    pending: list[ast.stmt] = list(module.tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if test not in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                pending.extend(block)
            for handler in node.handlers:
                pending.extend(handler.body)
        elif isinstance(node, ast.With):
            pending.extend(node.body)


def imported_modules(module: Module, known: set[str]) -> set[str]:
    """The roadmark modules that ``module`` imports at import time."""
    package = module.name if module.path.name == "__init__.py" else module.name.rsplit(".", 1)[0]
    targets: set[str] = set()
    for node in runtime_imports(module):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            child = f"{base}.{alias.name}"
            targets.add(child if child in known else base)
    return {target for target in targets if target in known and target != module.name}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(start: str) -> None:
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(groups)


def import_graph() -> dict[str, set[str]]:
    known = set(modules())
    return {name: imported_modules(module, known) for name, module in modules().items()}


def test_no_import_cycle():
    cycles = import_cycles(import_graph())
    assert not cycles, "modules that import each other (directly or around a circle):\n" + (
        "\n".join(" <-> ".join(group) for group in cycles)
    )


def test_the_cycle_finder_finds_circles_and_only_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": set(), "f": {"f"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_skips_what_does_not_run_at_import(tmp_path: Path):
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import roadmark.core.errors\n"
        "from roadmark.core import schema\n"
        "from . import raster\n"
        "if TYPE_CHECKING:\n"
        "    from roadmark.io.store import Project\n"
        "def f():\n"
        "    from roadmark.io import workflow\n"
    )
    module = Module("roadmark.core.pixelmap", tmp_path / "pixelmap.py", tree, 8)
    known = {
        "roadmark.core.errors",
        "roadmark.core.schema",
        "roadmark.core.raster",
        "roadmark.core",
        "roadmark.io.store",
        "roadmark.io.workflow",
    }
    assert imported_modules(module, known) == {
        "roadmark.core.errors",
        "roadmark.core.schema",
        "roadmark.core.raster",
    }
