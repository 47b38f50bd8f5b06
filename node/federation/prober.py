"""Probes every remote node's ``GET /v1/health`` in the background, so a request picks a live node at once.

One round every ``federation_probe_interval`` seconds, all nodes at once,
each bounded by ``federation_timeout``: a partitioned region makes its
probes time out, never delays the next round's other regions, and never
touches a local read or write (they do not wait on anything here).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp

from .directory import Directory, RemoteNode

log = logging.getLogger("manifest.federation")


class Prober:
    def __init__(self, directory: Directory, session: aiohttp.ClientSession, interval: float, timeout: float,
                 headers: dict[str, str]):
        self.directory, self.session = directory, session
        self.interval, self.timeout, self.headers = interval, timeout, headers
        self.rounds = 0

    async def probe(self, node: RemoteNode) -> None:
        started = time.perf_counter()
        was = node.healthy
        try:
            async with self.session.get(node.url + "/v1/health", headers=self.headers,
                                        timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                raw = await resp.read()
            rtt = (time.perf_counter() - started) * 1000
            try:
                role = json.loads(raw).get("role")
            except (ValueError, AttributeError):
                role = None
            # 503: the node answers but has no leader or lags; reads there may be stale, try others first.
            node.succeeded(rtt, resp.status == 200, role)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            node.failed(type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"[:200])
        if was is not node.healthy and was is not None:
            log.info("federation node %s", "healthy" if node.healthy else "unhealthy",
                     extra={"url": node.url, "error": node.error})

    async def round(self) -> None:
        nodes = [n for r in self.directory.regions.values() for n in r.nodes]
        await asyncio.gather(*(self.probe(n) for n in nodes))
        self.rounds += 1

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await self.round()
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
