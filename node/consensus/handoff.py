"""Hand work from pysyncobj's tick thread to the event loop, in order, one wake-up per burst.

``loop.call_soon_threadsafe`` writes to the loop's self-pipe on every call:
one syscall, one loop wake-up and one fight for the GIL per applied entry
and per completed proposal. Under load the tick thread applies entries in
bursts, so callables are queued here and the loop is woken only when no
drain is already scheduled. Order is kept: an apply is seen before the
completion of the proposal it belongs to, and a restore between the applies
around it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

log = logging.getLogger("manifest.consensus")


class LoopHandoff:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._items: deque = deque()
        # Only the tick thread sets it and only the loop clears it; a stale
        # True just means the loop drains what was appended before it runs.
        self._scheduled = False

    def __call__(self, fn, *args) -> None:
        """Run ``fn(*args)`` on the loop (called from the tick thread)."""
        self._items.append((fn, args))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._scheduled = False  # before popping: whatever is appended from now on schedules anew
        items = self._items
        while items:
            fn, args = items.popleft()
            try:
                fn(*args)
            except Exception:  # one failing callback must not strand the ones queued behind it
                log.exception("callback from the Raft thread failed")
