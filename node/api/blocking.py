"""Blocking reads: hold a request until what it reads has moved past the index it saw.

Shared by our own reads (``?index=N&wait=30s``) and the compatibility views'
(Consul's blocking queries), so both park on the same ChangeHub futures and
wake for the same changes.
"""

from __future__ import annotations

import random
import time
from contextvars import ContextVar
from typing import Callable

from aiohttp import web

from .keys import CHANGES, METRICS

DEFAULT_WAIT = 300.0
# Seconds the current request spent parked here; app._instrument subtracts them from
# the latency it records and resets them. A ContextVar: reading it costs the
# request path nothing like a lookup in the request's mapping, which raises when absent.
PARKED: ContextVar[float] = ContextVar("manifest_parked", default=0.0)


async def wait_past(request: web.Request, index: int, wait: float | None, service: str | None,
                    current: Callable[[], int]) -> None:
    """Return once ``current()`` exceeds ``index``, the wait (plus jitter) ends, or the node shuts down.

    ``service`` None wakes on any change (whole-registry reads)."""
    if current() > index:
        return
    wait = wait if wait is not None else DEFAULT_WAIT
    # Jitter spreads the wake-ups of many clients that started together.
    deadline = time.monotonic() + wait + random.uniform(0, wait / 16)
    hub = request.app[CHANGES]
    waiting = request.app[METRICS].blocking_reads
    waiting.inc()
    parked = time.monotonic()
    try:
        while current() <= index and not hub.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await hub.wait(service, remaining)
    finally:
        waiting.dec()
        # The latency histogram measures serving, not waiting for a change (app._instrument):
        # a p99 alert must not fire because clients ask to wait 30 s.
        PARKED.set(PARKED.get() + time.monotonic() - parked)
