"""The leader's prober: runs every instance's check and proposes a CHECK command on a change.

Only the leader probes, and it stops the moment it is no longer leader (it
looks before every round and before every proposal); a new leader starts
from the replicated check states and probes each instance within one
interval of taking over (staggered by a hash of the instance's key, so a
thousand checks do not fire together). The anti-flap counts (passes or
failures in a row) are this node's alone: a leader change loses a streak in
progress, never a conclusion, since every conclusion is replicated. A probe
that confirms the current state writes nothing.

Probes are coroutines (probes.py) on the event loop, at most
``check_concurrency`` at once; nothing here blocks the loop or the Raft thread.
Only what the store Protocol offers is used.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
import zlib

import aiohttp

from ..fsm import commands
from ..fsm.model import DOWN, UNHEALTHY, UP
from . import probes, targets

log = logging.getLogger("manifest.checks")

SYNC_PERIOD = 0.5  # seconds between reading the set of checks from the state
STEP = 0.05


class Target:
    __slots__ = ("key", "generation", "spec", "state", "due", "passes", "failures", "busy")

    def __init__(self, key, generation: int, spec: dict, state: str | None, due: float):
        self.key, self.generation, self.spec, self.state, self.due = key, generation, spec, state, due
        self.passes = self.failures = 0
        self.busy = False

    def conclude(self, passed: bool) -> str | None:
        """The new check state this probe result calls for, if any."""
        spec = self.spec
        if passed:
            self.passes, self.failures = self.passes + 1, 0
            if self.state != UP and self.passes >= spec["success_before_up"]:
                return UP
            return None
        self.failures, self.passes = self.failures + 1, 0
        if self.state != DOWN and self.failures >= spec["failures_before_down"]:
            return DOWN
        if self.state == UP and self.failures >= spec["failures_before_unhealthy"]:
            return UNHEALTHY
        return None


def _offset(key, interval: float) -> float:
    """Where in its interval an instance is probed: stable per key, spread over keys."""
    return (zlib.crc32(f"{key[0]}/{key[1]}".encode()) % 1000) / 1000 * interval


class Prober:
    def __init__(self, store, node_id: str, concurrency: int, metrics=None, guarded: bool = True,
                 loopback_ok: bool = False):
        self._store, self._node_id, self._metrics = store, node_id, metrics
        # check_targets = own: never probe a blocked address, whatever a name resolves to (targets.py).
        self._guarded, self._loopback_ok = guarded, loopback_ok
        self._refused_logged: set[str] = set()
        self._sem = asyncio.Semaphore(concurrency)
        self._targets: dict[tuple, Target] = {}
        self._heap: list[tuple[float, tuple, int]] = []
        self._session: aiohttp.ClientSession | None = None
        self._grpc = probes.Grpc()
        self._task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.leading = False

    async def context(self, app):
        """aiohttp cleanup_ctx: probe while the app runs."""
        self._session = aiohttp.ClientSession(
            headers={"User-Agent": f"manifest-check/{self._node_id}"},
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=60))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="manifest-prober")
        yield
        self._task.cancel()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(self._task, *self._tasks, return_exceptions=True)
        await self._session.close()
        await self._grpc.forget(set())

    def _is_leader(self) -> bool:
        st = self._store.status()
        return st.role == "leader" and st.ready

    async def _run(self) -> None:
        next_sync = 0.0
        while True:
            try:
                now = time.monotonic()
                if not self._is_leader():
                    if self.leading:
                        log.info("no longer leader: health checks stop here")
                        self._targets.clear()
                        self._heap.clear()
                        self.leading = False
                    await asyncio.sleep(0.1)
                    continue
                if not self.leading:
                    log.info("leader: health checks start here")
                    self.leading, next_sync = True, 0.0
                if now >= next_sync:
                    await self._sync(now)
                    next_sync = now + SYNC_PERIOD
                self._launch(now)
            except asyncio.CancelledError:
                raise
            except Exception:  # the prober must outlive any one bad round
                log.exception("health-check round failed")
            await asyncio.sleep(STEP)

    async def _sync(self, now: float) -> None:
        def under_lock(state):
            return [(k, i.generation, i.check, i.check_state) for k, i in state.idx.checked.items()]

        seen = set()
        for key, gen, spec, state in self._store.read(under_lock):
            seen.add(key)
            t = self._targets.get(key)
            if t is not None and t.generation == gen and t.spec == spec:
                t.state = state
                continue
            first = min(spec["interval"], 1.0) if state not in (UP, UNHEALTHY, DOWN) else spec["interval"]
            t = self._targets[key] = Target(key, gen, spec, state, now + _offset(key, first))
            heapq.heappush(self._heap, (t.due, key, gen))
        for key in [k for k in self._targets if k not in seen]:
            del self._targets[key]
        await self._grpc.forget({t.spec["grpc"].partition("/")[0] for t in self._targets.values()
                                 if "grpc" in t.spec})

    def _launch(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, key, gen = heapq.heappop(heap)
            t = self._targets.get(key)
            if t is None or t.generation != gen or t.due != due:
                continue  # removed, re-registered, or rescheduled since
            t.due = due + t.spec["interval"]
            if t.due <= now:  # fell far behind (a long pause): do not make up for lost rounds
                t.due = now + t.spec["interval"]
            heapq.heappush(heap, (t.due, key, gen))
            if t.busy:
                continue
            t.busy = True
            task = asyncio.get_running_loop().create_task(self._probe(t))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _probe(self, t: Target) -> None:
        try:
            async with self._sem:
                if self._targets.get(t.key) is not t or not self.leading:
                    return
                passed = await self._one(t.spec)
            if self._metrics is not None:
                self._metrics.probed(next(k for k in ("http", "tcp", "grpc") if k in t.spec), passed)
            new = t.conclude(passed)
            if new is None or self._targets.get(t.key) is not t or not self._is_leader():
                return
            result = await self._store.propose(commands.check(t.key[0], t.key[1], t.generation, new))
            if getattr(result, "ok", False):
                t.state = new
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no leader for the proposal, and the like: the next probe retries
            log.debug("health check of %s/%s: %s", t.key[0], t.key[1], exc)
        finally:
            t.busy = False

    async def _one(self, spec: dict) -> bool:
        timeout = spec["timeout"]
        if self._guarded:
            _, host = targets.host_of(spec)
            why = "its host cannot be read" if host is None else await targets.resolved_refusal(
                host, self._loopback_ok)
            if why is not None:
                if host not in self._refused_logged and len(self._refused_logged) < 10_000:
                    self._refused_logged.add(host)
                    log.warning("health check target %r not probed: %s (check_targets)", host, why)
                return False
        if "http" in spec:
            return await probes.http(self._session, spec["http"], timeout)
        if "tcp" in spec:
            return await probes.tcp(spec["tcp"], timeout)
        return await self._grpc.probe(spec["grpc"], timeout)
