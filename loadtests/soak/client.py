"""The soak's HTTP side: requests spread over the nodes as a fleet agent sends them, every answer counted.

``Http.send`` tries the nodes in turn, starting at the one asked for: a
connection error or a 503 (the cluster's "retry elsewhere") moves to the
next node after a short back-off, up to ``ATTEMPTS`` tries, as an agent
with a list of endpoints does. A node that refused a connection is skipped
for ``SKIP_S``. Every answer (and every connection error, as status 0) is
counted by kind and status, timestamped, with the node it came from, so the
run can tell errors inside a node restart from errors outside one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict

import aiohttp
import orjson

ATTEMPTS = 6
SKIP_S = 2.0
KEEP_EVENTS = 20_000  # non-2xx answers kept with their time (counts are always complete)


class Stats:
    def __init__(self, t0: float):
        self.t0 = t0
        self.counts: Counter = Counter()  # (kind, status) -> answers
        self.events: list[tuple] = []  # (t_s, kind, node, status) of non-2xx answers
        self.window: dict = defaultdict(list)  # (node, "write"|"read") -> ms, since the last sample
        self.latency: dict = defaultdict(list)  # kind -> ms, the whole run
        self.anomalies: Counter = Counter()  # named surprises (heartbeat 404, spurious wake-up, ...)

    def record(self, kind: str, cls: str | None, node: str, status: int, ms: float | None) -> None:
        self.counts[(kind, status)] += 1
        if not 200 <= status < 300 and len(self.events) < KEEP_EVENTS:
            self.events.append((round(time.monotonic() - self.t0, 3), kind, node, status))
        if ms is not None and cls is not None:
            self.window[(node, cls)].append(ms)
            self.latency[kind].append(ms)

    def take_window(self) -> dict:
        window, self.window = self.window, defaultdict(list)
        return window


def p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3)


class Http:
    def __init__(self, urls: list[str], stats: Stats, token: str, connections: int = 64):
        self.urls, self.stats = list(urls), stats
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._skip_until = dict.fromkeys(self.urls, 0.0)
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections),
                                             timeout=aiohttp.ClientTimeout(total=15),
                                             json_serialize=lambda o: orjson.dumps(o).decode())

    async def close(self) -> None:
        await self.session.close()

    def _order(self, start: int) -> list[str]:
        n = len(self.urls)
        order = [self.urls[(start + k) % n] for k in range(n)]
        now = time.monotonic()
        return [u for u in order if self._skip_until[u] <= now] + [u for u in order if self._skip_until[u] > now]

    async def send(self, kind: str, cls: str | None, method: str, path: str, body=None, *, node: int = 0,
                   retry: bool = True) -> tuple[int, object, dict, int]:
        """(status, JSON body or None, headers, attempts); status 0: no answer from any node."""
        status, data, headers, attempt = 0, None, {}, 0
        for attempt in range(1, (ATTEMPTS if retry else 1) + 1):
            url = self._order(node)[(attempt - 1) % len(self.urls)]
            t0 = time.perf_counter()
            try:
                async with self.session.request(method, url + path, headers=self.headers,
                                                data=None if body is None else orjson.dumps(body)) as r:
                    raw = await r.read()
                    status, headers = r.status, r.headers
                ms = (time.perf_counter() - t0) * 1000
                data = orjson.loads(raw) if raw and r.content_type == "application/json" else None
                self.stats.record(kind, cls, url, status, ms)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, orjson.JSONDecodeError):
                status, data = 0, None
                self._skip_until[url] = time.monotonic() + SKIP_S
                self.stats.record(kind, cls, url, 0, None)
            if status != 0 and status != 503:
                return status, data, headers, attempt
            await asyncio.sleep(min(1.0, 0.1 * attempt))
        return status, data, headers, attempt
