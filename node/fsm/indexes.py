"""Secondary indexes over the instances, maintained on apply, rebuilt on restore (pure).

A filtered list should cost in proportion to its answer, not to the
registry: ``?tag=x`` and ``?status=down`` start from the index's set, a
filter most instances pass (``?status=up&limit=100``, or none) walks the
keys in order and stops at the page's end, and the dependency graph is read
from per-service counts instead of a scan. Indexes
are derived data: never in a snapshot, rebuilt from the instances by
``restore``, and checked against a full scan by tests/fsm/test_indexes.py.

The rule that keeps them right: ``remove(inst)`` before a registration
changes an instance's indexed fields and ``add(inst)`` after; a status
change alone goes through ``move_status``.
"""

from __future__ import annotations

from . import deps
from .model import UP
from .ordered import OrderedKeys


def _inc(table: dict, key, by: int = 1) -> None:
    n = table.get(key, 0) + by
    if n:
        table[key] = n
    else:
        table.pop(key, None)


def _nested(table: dict, outer, inner, by: int) -> None:
    sub = table.get(outer)
    if sub is None:
        sub = table[outer] = {}
    _inc(sub, inner, by)
    if not sub:
        del table[outer]


def _drop(table: dict, value, key) -> None:
    keys = table.get(value)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del table[value]


class Indexes:
    __slots__ = ("keys", "by_status", "by_tag", "by_dep", "svc_status", "svc_up_versions", "svc_versions", "edges",
                 "dependents", "checked", "graph_seq")

    def __init__(self) -> None:
        self.keys = OrderedKeys()  # every (name, id) in order: a page of a list no index narrows
        self.by_status: dict[str, set] = {}
        self.by_tag: dict[str, set] = {}
        self.by_dep: dict[str, set] = {}  # depended-on service -> keys of instances declaring it
        self.svc_status: dict[str, dict[str, int]] = {}  # service -> status -> count
        self.svc_up_versions: dict[str, dict] = {}  # service -> version of an up instance -> count
        self.svc_versions: dict[str, dict] = {}  # service -> version of any instance -> count
        self.edges: dict[str, dict[str, int]] = {}  # service -> declaration -> instances declaring it
        self.dependents: dict[str, dict[str, int]] = {}  # depended-on -> dependent service -> count
        self.checked: dict[tuple, object] = {}  # keys of instances with an active check
        self.graph_seq = 0  # grows whenever the graph could look different (node-local)

    def add(self, inst) -> None:
        key = inst.key
        self.keys.add(key)
        self._add_fields(inst, key)

    def add_all(self, instances: dict) -> None:
        """``add`` of every instance of ``{key: instance}`` into an empty index, the keys sorted once.

        The dict's own key tuples are the ones indexed (``inst.key`` builds a new tuple each time:
        ~56 bytes an instance more)."""
        self.keys = OrderedKeys(instances)
        for key, inst in instances.items():
            self._add_fields(inst, key)

    def _add_fields(self, inst, key) -> None:
        self.by_status.setdefault(inst.status, set()).add(key)
        for t in inst.tags:
            self.by_tag.setdefault(t, set()).add(key)
        for spec in inst.dependencies:
            target = deps.name_of(spec)
            self.by_dep.setdefault(target, set()).add(key)
            _nested(self.edges, inst.name, spec, 1)
            _nested(self.dependents, target, inst.name, 1)
        _nested(self.svc_status, inst.name, inst.status, 1)
        _nested(self.svc_versions, inst.name, inst.version, 1)
        if inst.status == UP:
            _nested(self.svc_up_versions, inst.name, inst.version, 1)
        if inst.check is not None:
            self.checked[key] = inst
        self.graph_seq += 1

    def remove(self, inst) -> None:
        key = inst.key
        self.keys.discard(key)
        _drop(self.by_status, inst.status, key)
        for t in inst.tags:
            _drop(self.by_tag, t, key)
        for spec in inst.dependencies:
            target = deps.name_of(spec)
            _drop(self.by_dep, target, key)
            _nested(self.edges, inst.name, spec, -1)
            _nested(self.dependents, target, inst.name, -1)
        _nested(self.svc_status, inst.name, inst.status, -1)
        _nested(self.svc_versions, inst.name, inst.version, -1)
        if inst.status == UP:
            _nested(self.svc_up_versions, inst.name, inst.version, -1)
        self.checked.pop(key, None)
        self.graph_seq += 1

    def move_status(self, inst, old: str) -> None:
        """``inst.status`` changed from ``old`` (nothing else that is indexed did)."""
        key, new = inst.key, inst.status
        _drop(self.by_status, old, key)
        self.by_status.setdefault(new, set()).add(key)
        _nested(self.svc_status, inst.name, old, -1)
        _nested(self.svc_status, inst.name, new, 1)
        if old == UP:
            _nested(self.svc_up_versions, inst.name, inst.version, -1)
        if new == UP:
            _nested(self.svc_up_versions, inst.name, inst.version, 1)
        self.graph_seq += 1

    # ---- questions the FSM and the read side ask -------------------------------
    def satisfied(self, spec: str) -> bool:
        """Whether some up instance of the declared service is in the declared range."""
        return deps.satisfied_by(spec, self.svc_up_versions.get(deps.name_of(spec), {}))

    def unmet(self, specs) -> list[str]:
        return [s for s in specs if not self.satisfied(s)]

    def view(self) -> tuple:
        """Everything, as plain sorted values: what tests compare with a fresh rebuild."""
        def sets(table):
            return sorted((k, sorted(v)) for k, v in table.items())

        def counts(table):
            return sorted((k, sorted(v.items(), key=repr)) for k, v in table.items())
        return (list(self.keys), sets(self.by_status), sets(self.by_tag), sets(self.by_dep), counts(self.svc_status),
                counts(self.svc_up_versions), counts(self.svc_versions), counts(self.edges), counts(self.dependents),
                sorted(self.checked))
