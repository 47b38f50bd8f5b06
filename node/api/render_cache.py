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


class ListRead:
    """One list request's parsed parameters and its last body per format.

    ``last[as_msgpack]`` is ``(state, body)``: ``state`` is the (view key,
    revision, index) the body was rendered at, and the body is valid exactly
    while the registry still shows that state.
    """

    __slots__ = ("params", "query", "last")

    def __init__(self, params, query):
        self.params = params
        self.query = query
        self.last: list = [None, None]


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
