"""Rendered instance lists, cached by (query, index, format), and parsed list requests.

A list's content is fully determined by its query and the index it reflects
(the service's last-change revision, or the registry revision), so a cached
rendering is exact, never stale, and a read of an unchanged service costs a
dictionary lookup instead of building and serializing every record.

A ``ListRead`` goes one step further for the requests clients repeat: it
keeps the parsed query string and the last complete body it answered, so a
repeated read of an unchanged registry parses nothing, hashes no query and
joins no bytes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple


class ListState(NamedTuple):
    """What a list reflects: a rendering is exact while all three are unchanged."""

    view: int  # the registry's change counter for the list (fsm/views.py)
    revision: int
    index: int | None  # X-Manifest-Index; None: the service was never registered


class Rendered(NamedTuple):
    instances: bytes  # the serialized instance list
    cursor: str | None  # next page, when there is one
    protection: dict | None = None  # a service's mass-expiry protection (fsm/expiry.py), when on


class ListRead:
    """One list request's parsed parameters and the last body it answered, per format."""

    __slots__ = ("params", "query", "_last")

    def __init__(self, params, query):
        self.params = params
        self.query = query
        self._last: list[tuple[ListState, bytes] | None] = [None, None]  # [json, msgpack]

    def last_body(self, as_msgpack: bool, state: ListState) -> bytes | None:
        """The body answered at exactly ``state``, if it is the last one kept."""
        last = self._last[as_msgpack]
        return last[1] if last is not None and last[0] == state else None

    def keep(self, as_msgpack: bool, state: ListState, body: bytes) -> None:
        self._last[as_msgpack] = (state, body)


class RenderCache:
    def __init__(self, size: int = 2048, reads: int = 1024):
        self._items: OrderedDict = OrderedDict()
        self._size = size
        self._reads: dict = {}
        self._reads_size = reads
        self.hits = self.misses = 0

    def get(self, key):
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key, value) -> None:
        self._items[key] = value
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def read(self, key) -> ListRead | None:
        """The ListRead of ``(service name or None, raw query string)``, if parsed before."""
        return self._reads.get(key)

    def add_read(self, key, read: ListRead) -> None:
        if len(self._reads) >= self._reads_size:
            # Rare (clients repeat a few queries): starting over is cheaper than an LRU per hit.
            self._reads.clear()
        self._reads[key] = read
