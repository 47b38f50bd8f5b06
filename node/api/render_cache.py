"""Rendered instance lists, cached by (query, index, format).

A list's content is fully determined by its query and the index it reflects
(the service's last-change revision, or the registry revision), so a cached
rendering is exact, never stale, and a read of an unchanged service costs a
dictionary lookup instead of building and serializing every record.
"""

from __future__ import annotations

from collections import OrderedDict


class RenderCache:
    def __init__(self, size: int = 2048):
        self._items: OrderedDict = OrderedDict()
        self._size = size
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
