"""Read-side queries over RegistryState: filters and pagination (pure).

A query starts from the smallest candidate set the indexes offer (the
service's instances, a tag's, a status's, a dependency's; fsm/indexes.py)
and checks the remaining filters on those alone, so a filtered list costs in
proportion to its candidates, not to the registry.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from itertools import islice, takewhile

from . import deps
from .registry import RegistryState
from .semver import in_range

INCLUDE_REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed list query. Empty tuples mean "no constraint"."""

    name: str | None = None
    statuses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    version: tuple | None = None  # clauses from semver.parse_range
    meta: tuple[tuple[str, str], ...] = ()
    depends_on: str | None = None
    limit: int | None = None
    after: tuple[str, str] | None = None  # resume strictly after this (name, id)
    include_removed: bool = False  # append tombstones (fsm/tombstones.py), each with "removed"

    def matches(self, inst) -> bool:
        if self.statuses and inst.status not in self.statuses:
            return False
        if self.tags and not all(t in inst.tags for t in self.tags):
            return False
        if self.version is not None and not in_range(inst.version, list(self.version)):
            return False
        for k, v in self.meta:
            if inst.metadata.get(k) != v:
                return False
        if self.depends_on is not None and not any(deps.name_of(d) == self.depends_on
                                                   for d in inst.dependencies):
            return False
        return True


def candidates(state: RegistryState, q: Query):
    """The smallest set of keys every match must be in, and its size; None when no index narrows it.

    Sizes first, keys after: the status index of ``?status=up`` holds most of the registry, and
    listing it only to find it too large to help cost 3 ms at 100,000 instances."""
    idx, options = state.idx, []
    if q.name is not None:
        peers = state.services.get(q.name, {})
        options.append((len(peers), lambda: [(q.name, i) for i in peers]))
    for t in q.tags:
        tagged = idx.by_tag.get(t, ())
        options.append((len(tagged), lambda tagged=tagged: tagged))
    if q.statuses:
        sets = [idx.by_status.get(s, ()) for s in set(q.statuses)]
        options.append((sum(map(len, sets)), lambda: [k for keys in sets for k in keys]))
    if q.depends_on is not None:
        declaring = idx.by_dep.get(q.depends_on, ())
        options.append((len(declaring), lambda: declaring))
    return min(options, key=lambda o: o[0]) if options else None


def matching_keys(state: RegistryState, q: Query) -> list[tuple[str, str]]:
    """Matching keys in order; with ``q.limit``, only the first ``limit + 1`` (one more says "there is more")."""
    narrowest = candidates(state, q)
    instances = state.instances
    after, name = q.after, q.name
    if narrowest is None or narrowest[0] * 4 > len(instances):
        # An index holding most instances (?status=up) narrows nothing: walk every key in order
        # instead, from the page's start, and stop at its end.
        found = (k for k in _in_order(state, name, after) if q.matches(instances[k]))
        return list(found if q.limit is None else islice(found, q.limit + 1))
    # The pool may be a tag's or a status's set: the service is a filter like the others.
    found = (k for k in narrowest[1]() if (name is None or k[0] == name) and (after is None or k > after)
             and q.matches(instances[k]))
    if q.limit is not None:
        return heapq.nsmallest(q.limit + 1, found)  # a page costs O(n log limit), not a full sort
    return sorted(found)


def _in_order(state: RegistryState, name: str | None, after: tuple[str, str] | None):
    """The keys in order, of service ``name`` when given, strictly after ``after`` when given."""
    keys = state.idx.keys
    if name is None:
        return iter(keys) if after is None else keys.from_key(after)
    start = (name, "")  # ids are never empty: this sorts before the service's first key
    ordered = keys.from_key(start, inclusive=True) if after is None or after < start else keys.from_key(after)
    return takewhile(lambda k: k[0] == name, ordered)


def run(state: RegistryState, q: Query) -> tuple[list[dict], tuple[str, str] | None]:
    """Return matching records in (name, id) order and the key to resume after, if any."""
    keys, more = select(state, q)
    return records(state, keys) + removed(state, q), more


def select(state: RegistryState, q: Query) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """The matching keys in order, at most ``q.limit`` of them, and the key to resume after if there are more."""
    keys = matching_keys(state, q)
    if q.limit is not None and len(keys) > q.limit:
        keys = keys[:q.limit]
        return keys, keys[-1]
    return keys, None


def records(state: RegistryState, keys) -> list[dict]:
    instances = state.instances
    return [instances[k].to_record() for k in keys]


def removed(state: RegistryState, q: Query) -> list[dict]:
    """With ``q.include_removed``, the tombstones that match (each with "removed"); else none."""
    if not q.include_removed:
        return []
    return [r for r in state.tombstones.of(q.name) if _record_matches(q, r)]


def _record_matches(q: Query, r: dict) -> bool:
    if q.statuses and r["status"] not in q.statuses:
        return False
    if q.tags and not all(t in r["tags"] for t in q.tags):
        return False
    if q.version is not None and not in_range(r["version"], list(q.version)):
        return False
    if any(r["metadata"].get(k) != v for k, v in q.meta):
        return False
    return q.depends_on is None or any(deps.name_of(d) == q.depends_on for d in r["dependencies"])


def get(state: RegistryState, name: str, instance_id: str) -> dict | None:
    inst = state.instances.get((name, instance_id))
    return inst.to_record() if inst is not None else None


def counts_by_status(state: RegistryState) -> dict[str, int]:
    counts = {"up": 0, "unhealthy": 0, "down": 0}
    for status, keys in state.idx.by_status.items():
        counts[status] = len(keys)
    return counts


def instance_keys(state: RegistryState) -> list[tuple[str, str]]:
    """Every (name, id), in no particular order."""
    return list(state.instances)


def tags_by_service(state: RegistryState) -> dict[str, list[str]]:
    """Each service with at least one instance, and the tags any of them carries (sorted)."""
    out = {}
    for name, insts in state.services.items():
        tags = set()
        for inst in insts.values():
            tags.update(inst.tags)
        out[name] = sorted(tags)
    return out
