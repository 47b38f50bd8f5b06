"""Following a remote region's watch: its SSE stream from one node, resumed on another when that one fails.

Frames are passed on whole (an event cut by a dying connection is never
half-sent): the last ``id:`` passed on is where the next node resumes
(``since=``), so the watcher sees every event once, in order, across node
failures. A remote ``event: reset`` is passed on like any other event.
"""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp

from ..errors import RegionUnavailable
from .directory import Directory

log = logging.getLogger("manifest.federation")


class Refused(Exception):
    """The region answered the watch with 401 or 403: it refused this node's federation token."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def refused_message(region: str, status: int) -> str:
    return (f"region {region!r} refused this node's federation token (HTTP {status}): "
            "set the same federation_token in every region")


def refused_frame(region: str, status: int) -> bytes:
    body = {"error": {"code": "federation_refused", "message": refused_message(region, status), "field": "region"}}
    return b"event: error\ndata: " + json.dumps(body).encode() + b"\n\n"


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

    async def connect(self, answers: bool = False) -> aiohttp.ClientResponse | None:
        """A stream (a 200) from the best node that gives one; None when none does.

        With ``answers`` (the first request, whose refusal the watcher is told
        of) a 4xx is returned as it is. Later, any non-200 is a failure of that
        node, as a 5xx or a dead socket is: its body holds no frame, so taking
        it for a stream would reconnect at once, forever (a 404 or 429 from a
        restarting node). A 401 or 403 raises Refused: no other node differs."""
        known = self.directory.get(self.region)
        nodes = known.candidates()
        for node in [*nodes, *known.held_back()] if nodes else []:  # as forward.py: the held back last
            query = list(self.query) + ([("since", str(self.last))] if self.last is not None else [])
            url = f"{node.url}/v1/watch"
            try:
                resp = await self.session.get(url, params=query, headers=self.headers, allow_redirects=False,
                                              timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout,
                                                                            sock_read=self.idle))
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                node.failed(type(exc).__name__)
                continue
            if resp.status == 200 or (answers and resp.status < 500):
                self.resp, self.node = resp, node
                return resp
            node.failed(f"HTTP {resp.status}")
            resp.release()
            if resp.status in (401, 403):
                raise Refused(resp.status)
        return None

    async def first(self) -> aiohttp.ClientResponse:
        resp = await self.connect(answers=True)
        if resp is None:
            raise RegionUnavailable(f"no node of region {self.region!r} gives a watch stream", "region")
        return resp

    async def frames(self):
        """Whole SSE frames, reconnecting to another node (from the last id) until cancelled.

        Between attempts that gave no frame it waits (0.2 s doubling to 2 s)
        and yields a comment, so the relay writes something and notices a
        watcher that left. A region refusing the federation token ends the
        stream with an ``event: error`` frame (code ``federation_refused``)."""
        backoff = 0.2
        while not self.stopped:
            try:
                resp = self.resp or await self.connect()
            except Refused as exc:
                log.warning("remote watch refused: the federation token differs",
                            extra={"region": self.region, "status": exc.status})
                yield refused_frame(self.region, exc.status)
                return
            got = False
            if resp is not None:
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
                                got = True
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
            if got:
                backoff = 0.2
                continue
            if self.stopped:
                return
            await asyncio.sleep(backoff)  # nothing came: never a tight reconnect loop
            backoff = min(2.0, backoff * 2)
            yield b": region unavailable, reconnecting\n\n"  # also tells us the watcher is still there

    def close(self) -> None:
        self.stopped = True
        if self.resp is not None:
            self.resp.close()
            self.resp = None
