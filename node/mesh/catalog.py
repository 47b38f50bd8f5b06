"""The resources this node serves, read from its own applied state (no Raft round trip).

Listener, route and cluster resources depend on their name only and are built
once; a load assignment is rebuilt when its service's revision moves, and kept
packed, so a change pushed to a thousand streams is serialised once. Its
version moves only when the bytes do: a change the endpoints do not show (a
reported load, a tag, an instance that is not up changing) pushes nothing.
"""

from __future__ import annotations

import itertools

from ..fsm import model
from ..fsm.query import Query, run
from . import resources as res

CACHED = 4096  # names kept per type; past that the cache starts afresh


class Catalog:
    def __init__(self, store, region: str = ""):
        self._store = store
        self._region = region  # the locality of instances whose metadata names none
        self._static: dict[tuple[str, str], object] = {}
        self._assignments: dict[str, tuple[int, int, object]] = {}  # name -> (revision, version, packed)
        self._versions = itertools.count(1)
        self._services: tuple[int, frozenset[str]] | None = None

    def reset(self) -> None:
        """The state was replaced (a snapshot was restored): build every assignment again when
        asked; those that come out the same keep their version, so nothing is resent for them."""
        self._assignments = {name: (-1, version, packed) for name, (_, version, packed) in self._assignments.items()}
        self._services = None

    def version(self, type_url: str, name: str) -> int | None:
        """The version of the resource's content (None: no such resource); 0 for all but load
        assignments, which never change."""
        service = res.service_of(name)
        if service is None or (type_url != res.LISTENER and service != name):
            return None
        return self._assignment(name)[0] if type_url == res.ENDPOINT else 0

    def resource(self, type_url: str, name: str):
        """The packed resource ``name`` of ``type_url`` (an ``Any``), or None when there is none."""
        if self.version(type_url, name) is None:
            return None
        if type_url == res.ENDPOINT:
            return self._assignment(name)[1]
        key = (type_url, name)
        hit = self._static.get(key)
        if hit is None:
            build = {res.LISTENER: res.listener, res.ROUTE: res.route_config, res.CLUSTER: res.cluster}[type_url]
            if len(self._static) >= CACHED:
                self._static.clear()
            hit = self._static[key] = res.pack(build(name))
        return hit

    def _assignment(self, name: str) -> tuple[int, object]:
        """(version, packed ClusterLoadAssignment) of service ``name``."""
        revision = self._store.service_revision(name)
        hit = self._assignments.get(name)
        if hit is not None and hit[0] == revision:
            return hit[1], hit[2]
        query = Query(name=name, statuses=(model.UP,))
        records = self._store.read(lambda state: run(state, query)[0])
        packed = res.pack(res.load_assignment(name, records, self._region))
        version = hit[1] if hit is not None and hit[2].value == packed.value else next(self._versions)
        if len(self._assignments) >= CACHED:
            self._assignments.clear()
        self._assignments[name] = (revision, version, packed)
        return version, packed

    def services(self) -> frozenset[str]:
        """Every service with at least one instance here (what a wildcard CDS client gets)."""
        revision = self._store.revision()
        if self._services is None or self._services[0] != revision:
            names = self._store.read(lambda state: frozenset(n for n, insts in state.services.items() if insts))
            self._services = (revision, names)
        return self._services[1]
