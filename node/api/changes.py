"""Wake-ups for blocking reads: per service, or for the whole registry.

Waiting requests hold only a future: nothing runs while nothing changes.
A change to service A wakes A's waiters and the whole-registry waiters, never
B's. Runs on the event loop; fed by the store's applied-entry listener.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class ChangeHub:
    def __init__(self):
        self._by_service: dict[str, set[asyncio.Future]] = defaultdict(set)
        self._all: set[asyncio.Future] = set()

    def on_events(self, index, events) -> None:
        if events is None:  # state restored from a snapshot: anything may have changed
            self._wake(self._all)
            for name in list(self._by_service):
                self._wake(self._by_service.pop(name))
            return
        if not events:
            return
        self._wake(self._all)
        for name in {ev.record["name"] for ev in events}:
            waiters = self._by_service.pop(name, None)
            if waiters:
                self._wake(waiters)

    @staticmethod
    def _wake(waiters: set) -> None:
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        waiters.clear()

    async def wait(self, service: str | None, timeout: float) -> None:
        """Return at the next change (of ``service``, or of anything), or after ``timeout``."""
        fut = asyncio.get_running_loop().create_future()
        bucket = self._all if service is None else self._by_service[service]
        bucket.add(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            pass
        finally:
            bucket.discard(fut)
            if service is not None and not bucket and self._by_service.get(service) is bucket:
                del self._by_service[service]

    def waiting(self) -> int:
        return len(self._all) + sum(len(s) for s in self._by_service.values())
