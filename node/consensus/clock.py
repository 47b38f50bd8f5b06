"""The leader's expiry clock and the loop that turns it into replicated ticks.

Only the leader reads a clock, and only here. Its time is the state's clock
at the start of its term (or the wall clock if that is ahead) advanced by the
*monotonic* clock: a wall-clock jump on the leader cannot expire anyone, and
a new leader never moves time backwards.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..fsm import commands as C

log = logging.getLogger("manifest.clock")


class LeaderClock:
    def __init__(self, wall=time.time, mono=time.monotonic):
        self._wall, self._mono = wall, mono
        self._term = -1
        self._base_ms = 0
        self._mono0 = 0.0

    def now_ms(self, term: int, state_clock_ms: int) -> int:
        """Leader time for stamping a command proposed in ``term``."""
        if term != self._term:
            self._term = term
            self._base_ms = max(state_clock_ms, int(self._wall() * 1000))
            self._mono0 = self._mono()
        return max(state_clock_ms, self._base_ms + int((self._mono() - self._mono0) * 1000))


class Ticker:
    """Leader-only loop: propose a tick every ``interval``; any node: announce itself."""

    def __init__(self, store, interval: float, down_grace_ms: int):
        self._store, self._interval, self._grace = store, interval, down_grace_ms
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="manifest-ticker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self._once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed tick is retried next period
                log.debug("tick failed: %s", exc)
            await asyncio.sleep(max(0.05, self._interval - (time.monotonic() - started)))

    async def _once(self) -> None:
        store = self._store
        if not store.knows_itself():
            await store.propose(store.self_member_command())
        status = store.raft_status()
        if status.role != "leader" or not status.ready:
            return
        await store.propose(C.tick(self._grace))
