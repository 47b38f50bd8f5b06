"""Wait on the event loop for a condition, with a deadline and a failure that says what was awaited.

A bare ``while not cond: await asyncio.sleep(...)`` turns a broken condition
into a hang that only pytest-timeout ends (300 s, without saying why); a fixed
sleep turns a slow machine into a failure.
"""

from __future__ import annotations

import asyncio
import time


async def eventually(predicate, timeout: float = 5.0, what: str = "condition", interval: float = 0.01):
    """``predicate()``'s first true value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
