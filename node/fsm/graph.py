"""The dependency graph and impact queries, read from the indexes (pure).

Nothing here scans instances: nodes come from per-service status and
version counts, edges from the per-service declarations, satisfaction from
the versions of each service's up instances (fsm/indexes.py). Cycles are
found with an iterative Tarjan (no recursion limit on long chains) and
reported; the impact walk visits each service once, so a cycle cannot make
it loop.
"""

from __future__ import annotations

from . import deps


def _edges(idx) -> dict[str, set[str]]:
    """Service -> the services it declares a dependency on."""
    return {src: {deps.name_of(spec) for spec in specs} for src, specs in idx.edges.items()}


def cycles(idx) -> list[list[str]]:
    """Every dependency cycle: strongly connected sets of 2+ services, or a service naming itself."""
    graph = _edges(idx)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    members.append(top)
                    if top == node:
                        break
                if len(members) > 1 or node in graph.get(node, ()):
                    found.append(sorted(members))
    return sorted(found)


def graph(state) -> dict:
    idx = state.idx
    names = set(idx.svc_status) | set(idx.edges)
    edges = []
    for src in sorted(idx.edges):
        for spec, count in sorted(idx.edges[src].items()):
            target, clauses = deps.parse(spec) or (spec, None)
            names.add(target)
            edges.append({"from": src, "to": target, "declared": spec,
                          "range": spec[len(target):] or None, "instances": count,
                          "satisfied": idx.satisfied(spec)})
    nodes = []
    for name in sorted(names):
        versions = idx.svc_versions.get(name, {})
        nodes.append({"name": name, "counts": dict(sorted(idx.svc_status.get(name, {}).items())),
                      "versions": dict(sorted((v, n) for v, n in versions.items() if v is not None)),
                      "registered": name in idx.svc_status,
                      "unmet": sum(1 for spec in idx.edges.get(name, {}) if not idx.satisfied(spec)),
                      "protected": name in state.protection and not state.protection[name]["exhausted"]})
    return {"nodes": nodes, "edges": edges, "cycles": cycles(idx), "revision": state.revision}


def _still_met(state, dependent: str, name: str, without_id: str | None) -> bool:
    """Whether ``dependent``'s declarations on ``name`` stay met once the removal happens."""
    if without_id is None:
        return False
    versions = dict(state.idx.svc_up_versions.get(name, {}))
    gone = state.instances.get((name, without_id))
    if gone is not None and gone.status == "up":
        versions[gone.version] = versions.get(gone.version, 0) - 1
    left = [v for v, n in versions.items() if n > 0]
    return all(deps.satisfied_by(spec, left) for spec in state.idx.edges.get(dependent, {})
               if deps.name_of(spec) == name)


def impact(state, name: str, without_id: str | None = None) -> dict:
    """Every service that transitively depends on ``name`` (or on its instance ``without_id``).

    ``depth`` 1 depends on it directly; ``via`` names the impacted services
    it depends on; ``has_other_provider`` whether it still has a satisfying
    provider once the removal happens (only an instance's removal can leave
    one; deeper services have one when everything they are impacted through has)."""
    dependents = state.idx.dependents
    depth = {name: 0}
    via: dict[str, list[str]] = {}
    covered: dict[str, bool] = {}
    frontier = [name]
    while frontier:
        nxt = []
        for node in frontier:
            for dep in sorted(dependents.get(node, {})):
                if dep == name or depth.get(dep, depth[node] + 1) <= depth[node]:
                    continue  # back to the root or to a shallower service: a cycle, reported below
                if dep not in depth:
                    depth[dep] = depth[node] + 1
                    nxt.append(dep)
                via.setdefault(dep, []).append(node)
        for dep in nxt:
            if depth[dep] == 1:
                covered[dep] = _still_met(state, dep, name, without_id)
            else:
                covered[dep] = all(covered.get(v, False) for v in via[dep])
        frontier = nxt
    impacted = [{"name": n, "depth": depth[n], "via": sorted(set(via[n])), "has_other_provider": covered[n]}
                for n in sorted(via, key=lambda n: (depth[n], n))]
    touched = set(depth)
    return {"service": name, "id": without_id, "impacted": impacted,
            "cycles": [c for c in cycles(state.idx) if touched.intersection(c)], "revision": state.revision}


def unmet_by_service(state) -> dict[str, int]:
    idx = state.idx
    out = {}
    for src, specs in idx.edges.items():
        n = sum(1 for spec in specs if not idx.satisfied(spec))
        if n:
            out[src] = n
    return out
