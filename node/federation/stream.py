"""Following a remote region's watch: its SSE stream from one node, resumed on another when that one fails.

Frames are passed on whole (an event cut by a dying connection is never
half-sent): the last ``id:`` passed on is where the next node resumes
(``since=``), so the watcher sees every event once, in order, across node
failures. A remote ``event: reset`` is passed on like any other event.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from ..errors import RegionUnavailable
from .directory import Directory

log = logging.getLogger("manifest.federation")


class RemoteWatch:
    def __init__(self, directory: Directory, session: aiohttp.ClientSession, headers: dict[str, str],
                 region: str, query: list[tuple[str, str]], since: int | None, timeout: float, idle: float):
        self.directory, self.session, self.headers = directory, session, headers
        self.region, self.query, self.last = region, query, since
        self.timeout, self.idle = timeout, idle  # connect timeout; longest silence (missed keep-alives)
        self.resp: aiohttp.ClientResponse | None = None
        self.node = None  # the RemoteNode streaming now
        self.reconnects = 0
        self.stopped = False  # this node is shutting down: no reconnection

    async def connect(self) -> aiohttp.ClientResponse | None:
        """A stream from the best node that gives one; None when none does (a 4xx answer is returned)."""
        for node in self.directory.get(self.region).candidates():
            query = list(self.query) + ([("since", str(self.last))] if self.last is not None else [])
            url = f"{node.url}/v1/watch"
            try:
                resp = await self.session.get(url, params=query, headers=self.headers, allow_redirects=False,
                                              timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout,
                                                                            sock_read=self.idle))
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                node.failed(type(exc).__name__)
                continue
            if resp.status >= 500:
                node.failed(f"HTTP {resp.status}")
                resp.release()
                continue
            self.resp, self.node = resp, node
            return resp
        return None

    async def first(self) -> aiohttp.ClientResponse:
        resp = await self.connect()
        if resp is None:
            raise RegionUnavailable(f"no node of region {self.region!r} gives a watch stream", "region")
        return resp

    async def frames(self):
        """Whole SSE frames, reconnecting to another node (from the last id) until cancelled."""
        backoff = 0.2
        while not self.stopped:
            resp = self.resp or await self.connect()
            if resp is None:
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)
                yield b": region unavailable, reconnecting\n\n"  # also tells us the watcher is still there
                continue
            backoff = 0.2
            buffer = b""
            try:
                async for chunk in resp.content.iter_any():
                    buffer += chunk
                    while b"\n\n" in buffer:
                        frame, buffer = buffer.split(b"\n\n", 1)
                        for line in frame.split(b"\n"):
                            if line.startswith(b"id:"):
                                self.last = int(line[3:].strip())
                        if not frame.startswith(b"retry:"):
                            yield frame + b"\n\n"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
                if self.node is not None:
                    self.node.failed(type(exc).__name__)  # resume on another node first
                log.info("remote watch lost, resuming on another node",
                         extra={"region": self.region, "error": type(exc).__name__, "since": self.last})
            finally:
                resp.release()
                self.resp = None
            self.reconnects += 1

    def close(self) -> None:
        self.stopped = True
        if self.resp is not None:
            self.resp.close()
            self.resp = None
