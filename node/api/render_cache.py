"""Rendered instance lists, the latest per (query, format), and parsed list requests.

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
    """The latest rendering of each (query, format), least recently used first out, within a byte budget.

    Keyed ``(query, view, format)`` by its callers, but only the newest view
    of a query is kept: views only grow, so a rendering of an older one can
    never be served again. Keeping those until a count limit pushed them out
    held 2,048 dead lists of tens of kilobytes each, and the hour-long soak
    saw every node's RSS climb by that much over its first half hour. The
    budget bounds what distinct queries (filters, pages) can pin: a rendering
    larger than half of it is served but not kept.
    """

    def __init__(self, max_bytes: int = 64 << 20, reads: int = 1024):
        self._items: OrderedDict = OrderedDict()  # (query, format) -> (view, Rendered)
        self._max_bytes = max_bytes
        self.bytes = 0
        self._reads: dict = {}
        self._reads_size = reads
        self.hits = self.misses = 0

    def get(self, key):
        query, view, fmt = key
        entry = self._items.get((query, fmt))
        if entry is None or entry[0] != view:
            self.misses += 1
            return None
        self._items.move_to_end((query, fmt))
        self.hits += 1
        return entry[1]

    def put(self, key, value) -> None:
        query, view, fmt = key
        size = _size(value)
        old = self._items.pop((query, fmt), None)
        if old is not None:
            self.bytes -= _size(old[1])
        if size > self._max_bytes // 2:
            return
        self._items[(query, fmt)] = (view, value)
        self.bytes += size
        while self.bytes > self._max_bytes:
            _, (_, evicted) = self._items.popitem(last=False)
            self.bytes -= _size(evicted)

    def __len__(self) -> int:
        return len(self._items)

    def read(self, key) -> ListRead | None:
        """The ListRead of ``(service name or None, raw query string)``, if parsed before."""
        return self._reads.get(key)

    def add_read(self, key, read: ListRead) -> None:
        if len(self._reads) >= self._reads_size:
            # Rare (clients repeat a few queries): starting over is cheaper than an LRU per hit.
            self._reads.clear()
        self._reads[key] = read


def _size(rendered: Rendered) -> int:
    return len(rendered.instances) + 64  # the tuple, the cursor and the key: small and roughly constant
