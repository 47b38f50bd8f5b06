"""Last known discovery results, served when the registry cannot answer (stale-if-error).

The cache is only a fallback: a live answer always wins, with one exception.
A node that knows no leader (empty ``X-Manifest-Leader``) may be partitioned
or still catching up, so its *empty* answer never replaces a non-empty list
we already had.
"""

from __future__ import annotations

import threading

from ._models import Instances

__all__ = ["DiscoveryCache"]


class DiscoveryCache:
    """Discovery results keyed by request target (path and query). Thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[str, Instances] = {}
        self._lock = threading.RLock()

    def store(self, key: str, fresh: Instances, *, leader_known: bool) -> Instances:
        """Remember ``fresh`` and return what the caller should see.

        Returns a stale copy of the cached list instead when ``fresh`` is empty,
        came from a node that knows no leader, and the cache holds instances.
        """
        with self._lock:
            cached = self._entries.get(key)
            if not fresh and not leader_known and cached:
                return cached.copy(stale=True)
            self._entries[key] = fresh.copy(stale=False)
        return fresh

    def fallback(self, key: str) -> Instances | None:
        """The last list stored under ``key``, flagged stale, or ``None``."""
        with self._lock:
            cached = self._entries.get(key)
        return cached.copy(stale=True) if cached is not None else None

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
