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
        self.closed = False

    def close(self) -> None:
        """Shutting down: wake every waiter for good so streams and blocking reads end."""
        self.closed = True
        self.wake_all()

    def on_restore(self, revision: int) -> None:
        """The state was replaced by a snapshot: anything may have changed."""
        self.wake_all()

    def wake_all(self) -> None:
        self._wake(self._all)
        for name in list(self._by_service):
            self._wake(self._by_service.pop(name))

    def on_events(self, index, events) -> None:
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

    async def wait(self, service: str | None, timeout: float) -> bool:
        """Wait for the next change (of ``service``, or of anything); False on timeout."""
        if self.closed:
            return True
        fut = asyncio.get_running_loop().create_future()
        bucket = self._all if service is None else self._by_service[service]
        bucket.add(fut)
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            bucket.discard(fut)
            if service is not None and not bucket and self._by_service.get(service) is bucket:
                del self._by_service[service]

    def waiting(self) -> int:
        return len(self._all) + sum(len(s) for s in self._by_service.values())
