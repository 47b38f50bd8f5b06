"""Tombstones: removed instances, kept for a while with why and when (pure).

"Why did my instance disappear" is answered by ``GET /v1/services/{name}?include=removed``.
Each removal keeps the record as it was, the reason and the registry time;
the leader's tick drops those older than the configured retention (carried
in the TICK command, so every node drops the same ones), and the number
kept is bounded twice: by the configured maximum at each tick and by
``HARD_MAX`` at once, so no burst of removals between ticks can grow memory
without bound. Kept in snapshots, in removal order.
"""

from __future__ import annotations

from collections import deque

from .model import iso_ms

# Reasons (docs/api.md, "Tombstones").
OWNER, OPERATOR, EXPIRED, CHECK_FAILED, FENCED, DRAINED = (
    "deregistered", "operator", "expired", "check_failed", "fenced", "drained")
HARD_MAX = 100_000
DEFAULT_TTL_MS = 3_600_000
DEFAULT_MAX = 10_000


class Tombstones:
    __slots__ = ("_queue", "by_service")

    def __init__(self) -> None:
        # (service, id, generation, record, reason, wall ms, held ms), oldest first
        self._queue: deque[tuple] = deque()
        self.by_service: dict[str, int] = {}  # how many each service has: reads skip the rest

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, record: dict, reason: str, wall: int, held: int) -> None:
        stone = (record["name"], record["id"], record.get("generation", 0), record, reason, wall, held)
        self._queue.append(stone)
        self.by_service[stone[0]] = self.by_service.get(stone[0], 0) + 1
        while len(self._queue) > HARD_MAX:
            self._pop()

    def _pop(self) -> None:
        name = self._queue.popleft()[0]
        n = self.by_service[name] - 1
        if n:
            self.by_service[name] = n
        else:
            del self.by_service[name]

    def prune(self, held: int, ttl_ms: int, keep: int) -> int:
        """Drop stones older than ``ttl_ms`` of held time and all but the newest ``keep``."""
        dropped = 0
        while self._queue and (len(self._queue) > keep or held - self._queue[0][6] > ttl_ms):
            self._pop()
            dropped += 1
        return dropped

    def of(self, name: str | None) -> list[dict]:
        """Removed records (of one service, or all), each with ``removed: {reason, at}``, oldest first."""
        if name is not None and name not in self.by_service:
            return []
        return [{**s[3], "removed": {"reason": s[4], "at": iso_ms(s[5])}}
                for s in self._queue if name is None or s[0] == name]

    def to_wire(self) -> list:
        return [list(s) for s in self._queue]

    @classmethod
    def from_wire(cls, items) -> "Tombstones":
        out = cls()
        for s in items or ():
            out._queue.append(tuple(s))
            out.by_service[s[0]] = out.by_service.get(s[0], 0) + 1
        return out
