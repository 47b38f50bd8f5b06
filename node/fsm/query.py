"""Read-side queries over RegistryState: filters and pagination (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from .registry import RegistryState
from .semver import in_range


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
        if self.depends_on is not None and self.depends_on not in inst.dependencies:
            return False
        return True


def run(state: RegistryState, q: Query) -> tuple[list[dict], tuple[str, str] | None]:
    """Return matching records in (name, id) order and the key to resume after, if any."""
    if q.name is not None:
        pool = [((q.name, i), inst) for i, inst in state.services.get(q.name, {}).items()]
    else:
        pool = state.instances.items()
    keys = sorted(k for k, inst in pool if (q.after is None or k > q.after) and q.matches(inst))
    more = None
    if q.limit is not None and len(keys) > q.limit:
        keys = keys[:q.limit]
        more = keys[-1]
    return [state.instances[k].to_record() for k in keys], more


def get(state: RegistryState, name: str, instance_id: str) -> dict | None:
    inst = state.instances.get((name, instance_id))
    return inst.to_record() if inst is not None else None


def service_known(state: RegistryState, name: str) -> bool:
    return name in state.service_rev


def counts_by_status(state: RegistryState) -> dict[str, int]:
    counts = {"up": 0, "unhealthy": 0, "down": 0}
    for inst in state.instances.values():
        counts[inst.status] += 1
    return counts
