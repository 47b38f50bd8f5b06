"""Change counters for read caches: node-local, derived, never replicated or snapshotted.

A rendered list stays valid while nothing a reader could see of it changed.
Revisions do not tell: a heartbeat changes ``last_heartbeat`` without a
revision. So apply counts every visible change, per service and overall, and
caches key their renderings on these counts. They live beside the replicated
state, not in it: two nodes' counts differ (a restore resets them), and
``digest_view`` and snapshots ignore them.
"""

from __future__ import annotations


class ChangeCounters:
    __slots__ = ("seq", "by_service", "_base")

    def __init__(self, start: int = 0):
        self.seq = start
        self.by_service: dict[str, int] = {}
        self._base = start  # a service untouched since the last restore

    def touch(self, name: str) -> None:
        self.seq += 1
        self.by_service[name] = self.seq

    def key(self, name: str | None) -> int:
        """Changes whenever a reader could see a difference in ``name`` (or anywhere)."""
        return self.seq if name is None else self.by_service.get(name, self._base)

    def after_restore(self) -> "ChangeCounters":
        """Fresh counters past every value handed out: every name looks changed to caches."""
        return ChangeCounters(self.seq + 1)
