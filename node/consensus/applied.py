"""On the event loop: what has been applied, who waits for it, and who listens.

The Raft thread hands each applied entry over (handoff.py); here it wakes the
writers and readers waiting for that index and tells the listeners (watch
history, blocking reads, metrics) in log order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging

from .. import errors

log = logging.getLogger("manifest.store")


class Applied:
    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self.index = 0
        self._loop = loop
        self._waiters: list = []  # heap of (index, seq, future)
        self._seq = itertools.count()
        self._listeners: list = []  # fn(index, events)
        self._restore_listeners: list = []  # fn(revision)
        # Instances this node, as leader, turned down or removed after the grace
        # period: each expiry counted once across the cluster (/metrics).
        self.expirations = 0
        self.removals = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def add_listener(self, fn, on_restore=None) -> None:
        self._listeners.append(fn)
        if on_restore is not None:
            self._restore_listeners.append(on_restore)

    async def wait(self, index: int, timeout: float) -> None:
        """Return once ``index`` is applied here; NotReady after ``timeout``."""
        if self.index >= index:
            return
        fut = self._loop.create_future()
        heapq.heappush(self._waiters, (index, next(self._seq), fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise errors.NotReady(f"this node has not applied index {index} yet") from None

    def on_applied(self, index: int, events: list, leading: bool) -> None:
        self.index = max(self.index, index)
        if events and leading:
            self._count_expiries(events)
        waiters = self._waiters
        while waiters and waiters[0][0] <= self.index:
            _, _, fut = heapq.heappop(waiters)
            if not fut.done():
                fut.set_result(None)
        for listener in self._listeners:
            listener(index, events)

    def on_restore(self, revision: int) -> None:
        for listener in self._restore_listeners:
            listener(revision)  # state replaced wholesale: listeners must resync

    def _count_expiries(self, events: list) -> None:
        gone = [ev for ev in events if ev.kind == "expired" or ev.reason == "grace"]
        if gone:
            expired = sum(1 for ev in gone if ev.kind == "expired")
            self.expirations += expired
            self.removals += len(gone) - expired
            _log_expiries(gone)


def _log_expiries(gone: list) -> None:
    for ev in gone[:20]:
        log.info("instance expired" if ev.kind == "expired" else "instance removed after grace",
                 extra={"service": ev.record["name"], "instance": ev.record["id"], "revision": ev.revision})
    if len(gone) > 20:
        log.info("more instances expired or removed", extra={"count": len(gone) - 20})
