"""The client package's import graph has no cycle, and its I/O-free core imports no I/O.

The graph is read with ``ast`` from the source, so every import counts:
module level, inside functions, and under ``if TYPE_CHECKING:`` (a cycle that
only type checkers see still ties the two modules' designs together).
"""

from __future__ import annotations

import ast
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "client"
PACKAGE = "manifest_client"

# Request building, retry rules, ops, watch parsing, endpoint choice: all of it
# must run without a socket, so both shells (and tests) can drive it.
CORE = {"_client", "_ops", "_drive", "_watch", "_http", "_endpoints", "_cache", "_errors", "_models", "_pick"}
IO_MODULES = {"socket", "ssl", "http", "asyncio", "aiohttp", "urllib.request", "selectors"}


def _target(name: str, modules: set[str]) -> str:
    return name if name in modules else "__init__"


def import_graph(root: Path = CLIENT) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(internal, external)``: per module, the client modules and the outside packages it imports."""
    modules = {p.stem for p in root.glob("*.py")}
    internal: dict[str, set[str]] = {m: set() for m in modules}
    external: dict[str, set[str]] = {m: set() for m in modules}
    for module in modules:
        tree = ast.parse((root / f"{module}.py").read_text(), filename=f"{module}.py")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    head, _, rest = alias.name.partition(".")
                    if head == PACKAGE:
                        internal[module].add(_target(rest.split(".")[0], modules) if rest else "__init__")
                    else:
                        external[module].add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level == 0 and source.split(".")[0] != PACKAGE:
                    external[module].add(source)
                    continue
                inner = source.partition(".")[2] if node.level == 0 else source
                if inner:
                    internal[module].add(_target(inner.split(".")[0], modules))
                else:  # "from . import x": x is a module, or a name from __init__
                    internal[module].update(_target(a.name, modules) for a in node.names)
    for module in modules:
        internal[module].discard(module)
    return internal, external


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle_through_type_checking_imports(tmp_path):
    (tmp_path / "a.py").write_text("from .b import B\n")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import C\n")
    (tmp_path / "c.py").write_text("def f():\n    from manifest_client import a\n")
    (tmp_path / "d.py").write_text("from . import a\n")
    graph, _ = import_graph(tmp_path)
    assert graph["c"] == {"a"} and graph["d"] == {"a"}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_client_package_has_no_import_cycle():
    graph, _ = import_graph()
    assert {"_client", "_sync_client", "_async_client", "heartbeat"} <= set(graph)
    assert cycles(graph) == [], "\n".join(f"{m} -> {sorted(graph[m])}" for m in sorted(graph))


def test_the_core_imports_no_io_and_no_shell():
    graph, external = import_graph()
    for module in sorted(CORE & set(graph)):
        io = {name for name in external[module] if name in IO_MODULES or name.split(".")[0] in IO_MODULES}
        assert not io, f"{module} imports I/O: {sorted(io)}"
        assert graph[module] <= CORE, f"{module} imports outside the core: {sorted(graph[module] - CORE)}"


def test_heartbeat_handles_do_not_import_the_clients():
    graph, _ = import_graph()
    assert not graph["heartbeat"] & {"_sync_client", "_async_client", "_ops", "_client", "_drive"}
