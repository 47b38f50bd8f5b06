"""The soak's readers: watch streams checked for gaps, blocking readers, and plain reads for latency.

Watchers (``GET /v1/watch``), one unfiltered and one on ``soak-s00`` per
node. A stream that ends (its node restarts) resumes on the next node with
``Last-Event-ID``. The check, per watcher across all its reconnections:
revisions strictly increase (no duplicate), and on an unfiltered stream each
is the previous one + 1 (no gap). A revision that carries no instance event
(the registry bumps one when it protects a service from mass expiry) would
show as a gap and is reported as one; an ``event: reset`` (the node's
history did not reach back far enough) is counted and listed separately.

Blocking readers hold ``GET /v1/services/{name}?index=N&wait=W`` on a churned
service; an answer that came back before the wait with an index not past N
is a spurious wake-up (counted, not fatal). Point readers fetch one instance
or one service at ``rate`` per second for the read latency series.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from .client import Http, Stats
from .fleet import Fleet


class Watcher:
    def __init__(self, http: Http, stats: Stats, node: int, name: str | None, since: int):
        self.http, self.stats, self.node, self.name = http, stats, node, name
        self.last = since
        self.events = 0
        self.gaps: list[tuple[int, int]] = []
        self.duplicates: list[tuple[int, int]] = []
        self.resets: list[int] = []
        self.reconnects = 0

    def to_dict(self) -> dict:
        return {"node": self.node, "name": self.name, "events": self.events, "last": self.last,
                "gaps": self.gaps[:50], "gap_count": len(self.gaps), "duplicates": self.duplicates[:50],
                "duplicate_count": len(self.duplicates), "resets": self.resets, "reconnects": self.reconnects}

    def _event(self, rev: int, kind: str) -> None:
        if kind == "reset":
            self.resets.append(rev)
        elif rev <= self.last:
            self.duplicates.append((self.last, rev))
        else:
            if self.name is None and rev != self.last + 1:
                self.gaps.append((self.last, rev))
            self.events += 1
        self.last = max(self.last, rev)

    async def run(self) -> None:
        urls, k = self.http.urls, self.node
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=45)  # keep-alives every 15 s
        while True:
            url = urls[k % len(urls)]
            path = "/v1/watch" + (f"?name={self.name}" if self.name else "")
            headers = {**self.http.headers, "Last-Event-ID": str(self.last)}
            try:
                async with self.http.session.get(url + path, headers=headers, timeout=timeout) as r:
                    self.stats.record("watch", None, url, r.status, None)
                    if r.status != 200:
                        raise aiohttp.ClientError(f"watch answered {r.status}")
                    current: dict = {}
                    async for line in r.content:
                        line = line.decode().rstrip("\n")
                        if not line:
                            if "id" in current:
                                self._event(int(current["id"]), current.get("event", ""))
                            current = {}
                        elif not line.startswith(":"):
                            key, _, value = line.partition(": ")
                            current[key] = value
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
                pass
            self.reconnects += 1
            k += 1  # resume on the next node
            await asyncio.sleep(0.2)


class BlockingReader:
    def __init__(self, http: Http, stats: Stats, node: int, name: str, wait_s: float):
        self.http, self.stats, self.node, self.name, self.wait_s = http, stats, node, name, wait_s
        self.woken = self.timed_out = self.spurious = 0

    def to_dict(self) -> dict:
        return {"node": self.node, "name": self.name, "woken": self.woken, "timed_out": self.timed_out,
                "spurious": self.spurious}

    async def run(self) -> None:
        index = 0
        while True:
            t0 = time.monotonic()
            status, _, headers, _ = await self.http.send(
                "blocking_read", None, "GET", f"/v1/services/{self.name}?index={index}&wait={self.wait_s:g}s",
                node=self.node)
            if status != 200:
                await asyncio.sleep(0.5)
                continue
            new = int(headers.get("X-Manifest-Index", 0))
            if new > index:
                self.woken += 1
            elif time.monotonic() - t0 >= self.wait_s - 0.5:
                self.timed_out += 1
            else:
                self.spurious += 1
                self.stats.anomalies["blocking read woke early without a change"] += 1
            index = new


async def point_reads(http: Http, fleet: Fleet, rate: float) -> None:
    n = 0
    while True:
        await asyncio.sleep(1 / rate)
        n += 1
        name, iid = fleet.rng.choice(fleet.base)
        if n % 2:
            status, _, _, _ = await http.send("read_instance", "read", "GET", f"/v1/services/{name}/{iid}",
                                              node=n % 3)
            if status == 404 and (name, iid) not in fleet.paused:
                fleet.stats.anomalies["read 404 of a registered instance"] += 1
        else:
            await http.send("read_service", "read", "GET", f"/v1/services/{name}?limit=20", node=n % 3)

