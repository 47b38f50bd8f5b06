"""The resources this node serves, read from its own applied state (no Raft round trip).

Listener, route and cluster resources depend on their name only and are built
once; a load assignment is rebuilt when its service's revision moves, and kept
packed, so a change pushed to a thousand streams is serialised once.
"""

from __future__ import annotations

from ..fsm import model
from ..fsm.query import Query, run
from . import resources as res

CACHED = 4096  # names kept per type; past that the cache starts afresh


class Catalog:
    def __init__(self, store):
        self._store = store
        self._static: dict[tuple[str, str], object] = {}
        self._assignments: dict[str, tuple[int, object]] = {}
        self._services: tuple[int, list[str]] | None = None

    def reset(self) -> None:
        """The state was replaced (a snapshot was restored): forget what was built from it."""
        self._assignments.clear()
        self._services = None

    def version(self, type_url: str, name: str) -> int | None:
        """What the resource's content depends on (None: no such resource): a service revision
        for a load assignment, 0 for the others, which never change."""
        service = res.service_of(name)
        if service is None or (type_url != res.LISTENER and service != name):
            return None
        return self._store.service_revision(service) if type_url == res.ENDPOINT else 0

    def resource(self, type_url: str, name: str):
        """The packed resource ``name`` of ``type_url`` (an ``Any``), or None when there is none."""
        if self.version(type_url, name) is None:
            return None
        if type_url == res.ENDPOINT:
            return self._assignment(name)
        key = (type_url, name)
        hit = self._static.get(key)
        if hit is None:
            build = {res.LISTENER: res.listener, res.ROUTE: res.route_config, res.CLUSTER: res.cluster}[type_url]
            if len(self._static) >= CACHED:
                self._static.clear()
            hit = self._static[key] = res.pack(build(name))
        return hit

    def _assignment(self, name: str):
        revision = self._store.service_revision(name)
        hit = self._assignments.get(name)
        if hit is not None and hit[0] == revision:
            return hit[1]
        query = Query(name=name, statuses=(model.UP,))
        records = self._store.read(lambda state: run(state, query)[0])
        packed = res.pack(res.load_assignment(name, records))
        if len(self._assignments) >= CACHED:
            self._assignments.clear()
        self._assignments[name] = (revision, packed)
        return packed

    def services(self) -> list[str]:
        """Every service with at least one instance here (what a wildcard CDS client gets)."""
        revision = self._store.revision()
        if self._services is None or self._services[0] != revision:
            names = self._store.read(lambda state: sorted(n for n, insts in state.services.items() if insts))
            self._services = (revision, names)
        return self._services[1]
