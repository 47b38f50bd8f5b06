"""What the compatibility views keep per node: derived from the applied log, never replicated.

- ``ServiceIds``: Consul and its clients name a service instance by its ID
  alone (``/v1/agent/service/deregister/{id}``, check ``service:{id}``);
  Manifest keys instances by (name, id). The index follows the store's
  applied events, so finding the name is a dictionary lookup, not a scan.
  Events are idempotent set changes, so replaying them over a state rebuilt
  after a snapshot restore converges to the state's keys.
- ``RecentChanges``: what changed lately, for Eureka's delta.
- ``BodyCache``: rendered answers, each valid while the view it was rendered
  from is unchanged.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from aiohttp import web

from ...fsm.query import instance_keys
from ...fsm.registry import DEREGISTERED


class ServiceIds:
    def __init__(self, store):
        self._store = store
        self._names: dict[str, tuple[str, ...]] | None = None  # built from the state at first use

    def _index(self) -> dict[str, tuple[str, ...]]:
        if self._names is None:  # an app over a store that already holds instances: start from them
            self.on_restore(0)
        return self._names

    def on_events(self, index, events) -> None:
        if self._names is None:
            return  # the first lookup reads the state, these events included
        for ev in events or ():
            name, iid = ev.record["name"], ev.record["id"]
            if ev.kind == DEREGISTERED:
                self._discard(name, iid)
            else:
                self._add(name, iid)

    def on_restore(self, revision: int) -> None:
        self._names = {}
        for name, iid in self._store.read(instance_keys):
            self._add(name, iid)

    def _add(self, name: str, iid: str) -> None:
        names = self._index().get(iid, ())
        if name not in names:
            self._names[iid] = (*names, name)

    def _discard(self, name: str, iid: str) -> None:
        names = tuple(n for n in self._index().get(iid, ()) if n != name)
        if names:
            self._names[iid] = names
        else:
            self._names.pop(iid, None)

    def names(self, iid: str) -> tuple[str, ...]:
        """The services holding an instance ``iid`` (sorted)."""
        return tuple(sorted(self._index().get(iid, ())))


class BodyCache:
    def __init__(self, size: int = 1024):
        self._items: OrderedDict = OrderedDict()
        self._size = size

    def get(self, key, view):
        hit = self._items.get(key)
        if hit is None or hit[0] != view:
            return None
        self._items.move_to_end(key)
        return hit[1]

    def put(self, key, view, value) -> None:
        self._items[key] = (view, value)
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)


class RecentChanges:
    """The changes of the last ``window`` seconds, newest last, for Eureka's ``/apps/delta``.

    Node-local like Eureka's own recently-changed queue: a client whose delta
    misses something sees the hash code differ and fetches everything, so a
    restore simply starts the window over."""

    def __init__(self, window: float = 180.0, size: int = 10_000, clock=None):
        self._clock = clock or time.monotonic
        self._window, self._size = window, size
        self._events: list = []

    def on_events(self, index, events) -> None:
        if events:
            now = self._clock()
            self._events.extend((now, ev) for ev in events)
            self._trim(now)

    def on_restore(self, revision: int) -> None:
        self._events = []

    def _trim(self, now: float) -> None:
        cut = 0
        while cut < len(self._events) and (self._events[cut][0] < now - self._window
                                           or len(self._events) - cut > self._size):
            cut += 1
        if cut:
            del self._events[:cut]

    def latest(self) -> list:
        """The newest event of each instance changed within the window, in revision order."""
        self._trim(self._clock())
        last: dict = {}
        for _, ev in self._events:
            last[(ev.record["name"], ev.record["id"])] = ev
        return sorted(last.values(), key=lambda ev: ev.revision)


class CompatState:
    def __init__(self, store):
        self.ids = ServiceIds(store)
        self.recent = RecentChanges()
        self.bodies = BodyCache()
        self.queries: dict = {}  # raw query string -> parsed, per route kind

    def listeners(self) -> list[tuple]:
        return [(self.ids.on_events, self.ids.on_restore), (self.recent.on_events, self.recent.on_restore)]


COMPAT = web.AppKey("compat", CompatState)
