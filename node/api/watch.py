"""``GET /v1/watch``: Server-Sent Events of every change after a revision.

Each event is ``id: <revision>``, ``event: <kind>``, ``data: <record JSON>``
(plus ``"reason"`` for expired/deregistered). A watcher resumes with
``since=`` or ``Last-Event-ID`` on any node. When it asks for a revision
older than this node's history, it first gets ``event: reset`` with the
full current list, then the changes after it.

A stream's task replays from the history until it has caught up, then
subscribes to the ChangeHub and parks: from there the hub writes new events
(and the node's shared keep-alive comments) straight to the socket. An idle
stream costs a parked future and no timer. The task takes over again for a
reset, a reader too slow to keep up, a closed connection or shutdown.
"""

from __future__ import annotations

import asyncio

from aiohttp import HttpVersion11, web

from .. import errors
from ..fsm.query import Query
from ..fsm.validation import is_name
from .history import EventRing, sse_frame
from .list_read import read_list
from .keys import CHANGES, CONFIG, HISTORY, METRICS, STORE, WATCHES
from .params import parse_uint

_ALLOWED = {"since", "name"}
KEEPALIVE = b": keep-alive\n\n"


def _parse(request: web.Request) -> tuple[int | None, str | None]:
    return parse_query(request)


def parse_query(request: web.Request, allowed: set[str] = frozenset()) -> tuple[int | None, str | None]:
    """(since, name) of a watch request; ``allowed``: more keys a caller handles itself (``region``)."""
    for key in request.query:
        if key not in _ALLOWED and key not in allowed:
            raise errors.InvalidInput(f"unknown query parameter {key!r}", key, code="unknown_field")
    name = request.query.get("name")
    if name is not None and not is_name(name):
        raise errors.InvalidInput("name must be a service name", "name")
    raw = request.query.get("since")
    field = "since"
    if raw is None and "Last-Event-ID" in request.headers:
        raw, field = request.headers["Last-Event-ID"], "Last-Event-ID"
    since = None if raw is None else parse_uint(raw, field, "a revision (a non-negative integer)")
    return since, name


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


_KEEPALIVE_CHUNK = _chunk(KEEPALIVE)


class _Stream:
    """One watch stream, as the hub sees it while its task is parked."""

    __slots__ = ("service", "last", "_ring", "_request", "_chunked", "_parked")

    def __init__(self, service: str | None, last: int, ring: EventRing, request: web.Request, chunked: bool):
        self.service, self.last = service, last
        self._ring, self._request, self._chunked = ring, request, chunked
        self._parked: asyncio.Future | None = None

    def _writable(self):
        # aiohttp's flow control: past the transport's high-water mark the
        # task must write (and wait for the reader) through the response.
        transport = self._request.transport
        if transport is None or transport.is_closing() or self._request.protocol.writing_paused:
            return None
        return transport

    def push(self, events: list) -> bool:
        transport = self._writable()
        if transport is None:
            return False
        if events[0].revision <= self.last:
            # Resumed here from a node that was ahead (Last-Event-ID past this
            # node's head): the events this node is catching up on were sent.
            events = [ev for ev in events if ev.revision > self.last]
            if not events:
                return True
            data = b"".join([self._ring.frame(ev) for ev in events])
        else:
            data = self._ring.frames(events)
        # The response was prepared chunked (HTTP/1.1): frame our own chunks,
        # as aiohttp's writer would, and write them to the socket at once.
        try:
            transport.write(_chunk(data) if self._chunked else data)
        except (OSError, RuntimeError):
            return False  # this runs inside the store's listener: never let it raise
        self.last = events[-1].revision
        return True

    def keepalive(self) -> bool:
        transport = self._request.transport
        if transport is None or transport.is_closing():
            return False  # the task ends the stream
        if not self._request.protocol.writing_paused:  # a paused stream has data on its way
            try:
                transport.write(_KEEPALIVE_CHUNK if self._chunked else KEEPALIVE)
            except (OSError, RuntimeError):
                return False
        return True

    def wake(self) -> None:
        if self._parked is not None and not self._parked.done():
            self._parked.set_result(None)

    async def park(self, hub, keepalive: float) -> None:
        self._parked = asyncio.get_running_loop().create_future()
        hub.subscribe(self, keepalive)
        try:
            await self._parked
        finally:
            hub.unsubscribe(self)
            self._parked = None


# Request key: headers the stream's answer also carries (X-Manifest-Region for ?region=<own>, set by
# federated.py, which cannot label a response this handler has already sent).
EXTRA_HEADERS = web.RequestKey("watch_headers", dict)


class StreamCount:
    """Open watch streams of this node, against ``max_watch_streams``."""

    __slots__ = ("open",)

    def __init__(self):
        self.open = 0


async def watch(request: web.Request) -> web.StreamResponse:
    since, name = _parse(request)
    cfg, metrics, count = request.app[CONFIG], request.app[METRICS], request.app[WATCHES]
    if count.open >= cfg.max_watch_streams:
        metrics.refused("max_watch_streams")
        raise errors.TooManyWatches(f"this node serves its maximum of {cfg.max_watch_streams} watch streams "
                                    "(max_watch_streams); try another node or later", "max_watch_streams")
    count.open += 1
    metrics.watch_streams.inc()
    try:
        return await _stream(request, since, name)
    finally:
        count.open -= 1
        metrics.watch_streams.dec()


async def _stream(request: web.Request, since: int | None, name: str | None) -> web.StreamResponse:
    store, ring, hub = request.app[STORE], request.app[HISTORY], request.app[CHANGES]
    keepalive = request.app[CONFIG].watch_keepalive
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no", "X-Manifest-Index": str(ring.head), **request.get(EXTRA_HEADERS, {})})
    if request.version >= HttpVersion11:
        resp.enable_chunked_encoding()  # aiohttp would anyway; the hub relies on it
    await resp.prepare(request)
    await resp.write(b"retry: 1000\n\n")
    stream = _Stream(name, ring.head if since is None else since, ring, request, resp.chunked)
    try:
        while not hub.closed:
            if not ring.covers(stream.last):
                stream.last = await _reset(resp, store, name)
                continue
            data, stream.last = ring.replay(stream.last, name)
            if data:
                await resp.write(data)
                continue
            # Filtered watchers only look at their service; everything else
            # can move ``last`` forward without sending anything.
            if name is not None:
                stream.last = max(stream.last, ring.head)
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            if request.protocol.writing_paused:
                await request.writer.drain()  # a slow reader: wait for it here, not in the hub
                continue
            await stream.park(hub, keepalive)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the watcher went away, or the node is shutting down
    return resp


async def _reset(resp: web.StreamResponse, store, name: str | None) -> int:
    listed = read_list(store, Query(name=name))
    revision = listed.revision
    await resp.write(sse_frame(revision, "reset", {"instances": listed.records, "revision": revision}))
    return revision
