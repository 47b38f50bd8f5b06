"""The import rules of docs/architecture.md, checked on the code (issue 11).

No import cycle in node/; fsm/ imports nothing of the node; api/ reaches
consensus only through the store Protocol; only consensus/ touches its
pysyncobj fork.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = {"manifest_node": ROOT / "node", "manifest_client": ROOT / "client"}


def module_name(pkg: str, path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGES[pkg]).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([pkg, *parts])


def imports(pkg: str) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports (at any depth)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGES[pkg].rglob("*.py"):
        if "pysyncobj" in path.parts:
            continue  # the vendored fork: upstream's own structure
        name = module_name(pkg, path)
        is_pkg = path.name == "__init__.py"
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[:len(here) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    found.add(target)
                    found.add(f"{target}.{alias.name}")
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[name] = {m for m in found if m.startswith(pkg)}
    known = set(graph)
    return {m: {t for t in targets if t in known and t != m} for m, targets in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    out, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                out.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return out


def test_no_import_cycle_in_the_node():
    assert cycles(imports("manifest_node")) == []


def test_the_state_machine_imports_nothing_of_the_node():
    for module, targets in imports("manifest_node").items():
        if module.startswith("manifest_node.fsm"):
            assert all(t.startswith("manifest_node.fsm") for t in targets), (module, targets)


def test_the_http_layer_reaches_consensus_only_through_the_protocol():
    for module, targets in imports("manifest_node").items():
        if module.startswith("manifest_node.api"):
            assert not any(t.startswith("manifest_node.consensus") for t in targets), (module, targets)


def test_only_consensus_imports_the_pysyncobj_fork():
    for path in (ROOT / "node").rglob("*.py"):
        if "consensus" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any("pysyncobj" in n for n in names), path


def test_the_dns_server_uses_the_state_machine_and_config_only():
    targets = imports("manifest_node")["manifest_node.dns"]
    assert all(t.startswith(("manifest_node.fsm", "manifest_node.config")) for t in targets), targets


def test_the_prober_reaches_the_node_through_the_store_protocol_only():
    graph = imports("manifest_node")
    for module, targets in graph.items():
        if module.startswith("manifest_node.checks"):
            assert not any(t.startswith(("manifest_node.consensus", "manifest_node.api")) for t in targets), module


def test_the_xds_server_reaches_the_node_through_the_store_protocol_only():
    for module, targets in imports("manifest_node").items():
        if module.startswith("manifest_node.mesh"):
            assert all(t.startswith(("manifest_node.mesh", "manifest_node.fsm", "manifest_node.config",
                                     "manifest_node.errors")) for t in targets), (module, targets)


def test_federation_reaches_other_regions_over_http_only():
    for module, targets in imports("manifest_node").items():
        if module.startswith("manifest_node.federation"):
            assert not any(t.startswith(("manifest_node.consensus", "manifest_node.api", "manifest_node.fsm"))
                           for t in targets), (module, targets)
    settings = imports("manifest_node")["manifest_node.federation.settings"]
    # config.py imports it: it must stay pure (addresses.py is the standard library's ipaddress only)
    assert settings <= {"manifest_node.addresses"}, settings


def test_the_graphql_room_reads_through_the_api_layer_and_only_the_app_imports_it():
    graph = imports("manifest_node")
    allowed = ("manifest_node.api", "manifest_node.auth", "manifest_node.fsm", "manifest_node.config",
               "manifest_node.errors")
    for module, targets in graph.items():
        if module.startswith("manifest_node.api.graphql"):
            # ("manifest_node" itself: ``from ... import errors``)
            assert all(t == "manifest_node" or t.startswith(allowed) for t in targets), (module, targets)
        elif any(t.startswith("manifest_node.api.graphql") for t in targets):
            assert module == "manifest_node.api.app", module
