"""The package's import graph: module-level imports form no cycle.

A cycle at import time means a module can be half-initialised when another one reads it, and that
the order of imports decides whether a kind is registered. Kinds register in one place (the module
that needs them all imports them at its top), so no module imports a module that imports it.

The graph is read from the source with :mod:`ast`: the imports a module executes when it is first
imported (top level, including inside ``if``/``try``; not inside functions, and not under
``if TYPE_CHECKING:``, which never runs). ``from package import submodule`` is an edge to the
submodule; importing a name defined in a package's ``__init__`` is an edge to the package.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import toctou_sim

PACKAGE_DIR = Path(toctou_sim.__file__).resolve().parent

KNOWN_CYCLES: list[set[str]] = []
"""Module-level cycles that could not be broken without moving modules into sub-packages (none).
A cycle only through ``if TYPE_CHECKING:`` imports (type annotations) is not one: it never runs."""


def _modules(root: Path) -> dict[str, Path]:
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _executed_imports(body: list[ast.stmt], deferred: bool = False,
                      annotations: bool = False) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports of ``body`` that run: at import time (top level, inside ``if``/``try``), or, with
    ``deferred``, at any time (inside functions, classes, loops too). Those under
    ``if TYPE_CHECKING:``, which never run, only with ``annotations``."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if annotations or "TYPE_CHECKING" not in ast.unparse(node.test):
                yield from _executed_imports(node.body, deferred, annotations)
            yield from _executed_imports(node.orelse, deferred, annotations)
        elif isinstance(node, ast.Try):
            yield from _executed_imports(node.body, deferred, annotations)
            for handler in node.handlers:
                yield from _executed_imports(handler.body, deferred, annotations)
            yield from _executed_imports(node.orelse, deferred, annotations)
            yield from _executed_imports(node.finalbody, deferred, annotations)
        elif deferred:
            for name in ("body", "orelse", "finalbody"):
                inner = getattr(node, name, None)
                if isinstance(inner, list):
                    yield from _executed_imports([n for n in inner if isinstance(n, ast.stmt)], deferred,
                                                 annotations)
            for case in getattr(node, "cases", []):
                yield from _executed_imports(case.body, deferred, annotations)


def _parsed(path: Path) -> ast.Module:
    """The syntax tree of ``path``, parsed once per text (every test here reads the whole
    package; the tests that edit a scratch package change its files in between)."""
    return _parse(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=512)
def _parse(source: str) -> ast.Module:
    return ast.parse(source)


def import_graph(root: Path = PACKAGE_DIR, deferred: bool = False, annotations: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports at import time (with ``deferred``: at any time;
    with ``annotations``: also under ``if TYPE_CHECKING:``, for type annotations)."""
    modules = _modules(root)
    package = root.name

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _executed_imports(_parsed(path).body, deferred, annotations):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = name.split(".")
                    cut = len(parts) - node.level + (1 if is_package else 0)
                    base = ".".join([*parts[:cut], *([node.module] if node.module else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                if target.split(".")[0] != package:
                    continue
                resolved = owner(target)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


KNOWN_DEFERRED_CYCLES: list[set[str]] = []
"""Cycles through imports inside functions still to break (none: the commands no longer import
helpers back from ``cli.main``)."""

LAYERS: list[tuple[str, ...]] = [
    ("version",),
    ("core",),
    ("stats",),
    ("analytic",),
    ("spec",),
    ("measure",),
    ("world",),
    ("plugins",),
    ("engines",),
    ("experiment",),
    ("validation", "capacity", "sweeps"),
    ("reporting",),
    ("cli",),
    ("",),
]
"""The package's layers, bottom first: a module imports only from its own package or from a layer
below it (packages on one line are beside each other and import none of each other). ``""`` is the
root package, the public facade, which nothing inside the package imports."""


def layer(module: str) -> int:
    """The index in :data:`LAYERS` of the package holding ``module``."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS")


def upward_edges(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports that go to a higher layer, or sideways between packages of one layer."""
    found = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            same_package = source.split(".")[:2] == target.split(".")[:2]
            if not same_package and layer(target) >= layer(source):
                found.append((source, target))
    return found


def test_the_package_imports_without_cycles() -> None:
    found = cycles(import_graph())
    assert sorted(map(sorted, found)) == sorted(map(sorted, KNOWN_CYCLES)), found


def test_no_cycle_even_through_imports_inside_functions() -> None:
    """A deferred import (inside a function) breaks a cycle at import time but keeps the modules
    knotted together: none is allowed either."""
    found = cycles(import_graph(deferred=True))
    assert sorted(map(sorted, found)) == sorted(map(sorted, KNOWN_DEFERRED_CYCLES)), found


def test_every_import_goes_down_the_layers() -> None:
    assert upward_edges(import_graph(deferred=True)) == []


def test_no_cycle_even_through_type_annotations() -> None:
    """Types name only what is below them too: a part names the model it belongs to by a protocol
    of what it reads (``spec.parts.ModelView``), a service the world it runs in
    (``world.services.Host``), so no two modules know each other even in annotations."""
    graph = import_graph(deferred=True, annotations=True)
    assert cycles(graph) == []
    assert upward_edges(graph) == []


def test_an_upward_import_is_found(tmp_path: Path) -> None:
    package = tmp_path / "toctou_sim"
    for name in ("core", "world"):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "world" / "engine.py").write_text("from toctou_sim.core import units\n")
    (package / "core" / "units.py").write_text("def f():\n    from toctou_sim.world import engine\n")
    assert upward_edges(import_graph(package)) == []
    assert upward_edges(import_graph(package, deferred=True)) == [("toctou_sim.core.units", "toctou_sim.world.engine")]


def test_the_graph_sees_the_imports_that_register_kinds() -> None:
    """The reader finds the edges that matter (a broken reader would find no cycle anywhere)."""
    graph = import_graph()
    assert {"toctou_sim.spec.parts", "toctou_sim.spec.slo"} <= graph["toctou_sim.spec.model"]
    assert "toctou_sim.spec.registry" in graph["toctou_sim.spec.parts"]
    strategies = graph["toctou_sim.plugins.strategies"]
    assert {"toctou_sim.plugins.strategies.cas", "toctou_sim.plugins.strategies.lease"} <= strategies
    assert {"toctou_sim.world.caching", "toctou_sim.world.quorum"} <= graph["toctou_sim.world"]
    assert "toctou_sim.validation.oracles_read_paths" in graph["toctou_sim.validation.oracles"]
    assert {"toctou_sim.cli.run", "toctou_sim.cli.report", "toctou_sim.cli.sweep"} <= graph["toctou_sim.cli.main"]
    assert "toctou_sim.spec.model" not in graph["toctou_sim.spec.faults"]  # only under TYPE_CHECKING
    # the spec layer finds the plug-ins by name at run time, never by a static import
    assert not any(target.startswith("toctou_sim.plugins") for module, targets in graph.items()
                   if module.startswith("toctou_sim.spec") for target in targets)
    assert "toctou_sim.cli.main" not in graph["toctou_sim.cli.report"]


def test_a_cycle_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("import pkg.c\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n"
                                  "def late():\n    import pkg.a\n")
    assert cycles(import_graph(package)) == []
    assert cycles(import_graph(package, annotations=True)) == [{"pkg.a", "pkg.sub.b", "pkg.c"}]
    (package / "c.py").write_text("from pkg import a\n")
    assert cycles(import_graph(package)) == [{"pkg.a", "pkg.sub.b", "pkg.c"}]


if __name__ == "__main__":  # print the cycles and their edges
    g = import_graph()
    for c in cycles(g):
        print(sorted(c))
        for a in sorted(c):
            print("   ", a, "->", sorted(b for b in g[a] if b in c))
