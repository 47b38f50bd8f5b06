"""The leader's stamps and the loop that turns them into replicated ticks.

Only the leader reads a clock, and only here. Each envelope gets two stamps
(fsm/commands.py):

- ``held_ms``, the expiry clock: milliseconds since this term began on the
  *monotonic* clock. No wall-clock jump or skew on any node reaches it.
- ``ts_ms``, registry wall time, only shown in records. A new leader does not
  trust its own wall clock: it extrapolates the newest stamp it applied while
  that stamp's term was current, with its monotonic clock, so a node whose
  clock is hours off still stamps the cluster's time. A restarted node that
  heard of a leader does not campaign until it saw such a stamp (for a few
  ticks at most: adapter.py). Without one (a fresh process: the first leader
  after a full restart) its wall clock starts registry time. Then, like NTP,
  registry time slews towards the leader's wall clock by at most ``SLEW`` of
  the elapsed term, so small drifts heal and a wrong clock moves records by
  seconds per hour, not hours.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..fsm import commands

log = logging.getLogger("manifest.clock")

SLEW = 0.01  # at most 10 ms of correction per second of leadership


class LeaderClock:
    def __init__(self, wall=time.time, mono=time.monotonic):
        self._wall, self._mono = wall, mono
        self._term = -1
        self._mono0 = 0.0
        self._wall0_ms = 0.0
        self._anchor: tuple[int, float] | None = None  # (ts_ms, monotonic s) of a live stamp

    def observe(self, ts_ms: int) -> None:
        """A stamp of the current term was just applied (any thread: one tuple store)."""
        self._anchor = (ts_ms, self._mono())

    def anchored(self) -> bool:
        """Whether a stamp of a live term was seen: a term of ours would then continue registry time."""
        return self._anchor is not None

    def stamp(self, term: int) -> tuple[int, int]:
        """``(ts_ms, held_ms)`` for an envelope proposed in ``term``."""
        now = self._mono()
        if term != self._term:
            self._term, self._mono0 = term, now
            anchor = self._anchor
            self._wall0_ms = (self._wall() * 1000 if anchor is None
                              else anchor[0] + (now - anchor[1]) * 1000)
            if anchor is not None and abs(self._wall() * 1000 - self._wall0_ms) > 60_000:
                log.warning("this node's wall clock is %.0f s off registry time; stamping registry time",
                            (self._wall() * 1000 - self._wall0_ms) / 1000)
        held = (now - self._mono0) * 1000
        estimate = self._wall0_ms + held
        correction = max(-SLEW * held, min(SLEW * held, self._wall() * 1000 - estimate))
        return int(estimate + correction), int(held)


class Ticker:
    """Leader-only loop: propose a tick every ``interval``; any node: announce itself."""

    def __init__(self, store, interval: float, down_grace_ms: int, options: dict | None = None):
        self._store, self._interval, self._grace = store, interval, down_grace_ms
        self._options = options  # protection and tombstone settings (fsm/expiry.py)
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
        store.check_alive()
        if not store.membership.knows_itself():
            await store.propose(store.membership.self_command())
        status = store.raft_status()
        if status.role != "leader" or not status.ready:
            return
        await store.propose(commands.tick(self._grace, self._options))
