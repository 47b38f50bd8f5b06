"""``GET /v1/watch``: Server-Sent Events of every change after a revision.

Each event is ``id: <revision>``, ``event: <kind>``, ``data: <record JSON>``
(plus ``"reason"`` for expired/deregistered). A watcher resumes with
``since=`` or ``Last-Event-ID`` on any node. When it asks for a revision
older than this node's history, it first gets ``event: reset`` with the
full current list, then the changes after it. Idle streams cost a parked
future; keep-alive comments keep proxies from cutting them.
"""

from __future__ import annotations

import asyncio

import orjson

from aiohttp import web

from .. import errors
from ..fsm import query as Q
from ..fsm.query import Query
from ..fsm.validation import NAME_RE
from .keys import CHANGES, CONFIG, HISTORY, STORE

_ALLOWED = {"since", "name"}


def _parse(request: web.Request) -> tuple[int | None, str | None]:
    for key in request.query:
        if key not in _ALLOWED:
            raise errors.InvalidInput(f"unknown query parameter {key!r}", key, code="unknown_field")
    name = request.query.get("name")
    if name is not None and not NAME_RE.match(name):
        raise errors.InvalidInput("name must be a service name", "name")
    raw = request.query.get("since")
    field = "since"
    if raw is None and "Last-Event-ID" in request.headers:
        raw, field = request.headers["Last-Event-ID"], "Last-Event-ID"
    since = None
    if raw is not None:
        if not raw.strip().isdigit() or len(raw) > 18:
            raise errors.InvalidInput(f"{field} must be a revision (a non-negative integer)", field)
        since = int(raw)
    return since, name


def _frame(revision: int, kind: str, data: dict) -> bytes:
    return f"id: {revision}\nevent: {kind}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


def _event_frame(ev) -> bytes:
    data = ev.record if ev.reason is None else {**ev.record, "reason": ev.reason}
    return _frame(ev.revision, ev.kind, data)


async def watch(request: web.Request) -> web.StreamResponse:
    since, name = _parse(request)
    store, ring, hub = request.app[STORE], request.app[HISTORY], request.app[CHANGES]
    keepalive = request.app[CONFIG].watch_keepalive
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no", "X-Manifest-Index": str(ring.head)})
    await resp.prepare(request)
    await resp.write(b"retry: 1000\n\n")
    last = ring.head if since is None else since
    try:
        while not hub.closed:
            if not ring.covers(last):
                last = await _reset(resp, store, name)
                continue
            events = ring.after(last, name)
            if events:
                await resp.write(b"".join(_event_frame(ev) for ev in events))
                last = events[-1].revision
                continue
            # Filtered watchers only look at their service; everything else
            # can move ``last`` forward without sending anything.
            last = max(last, ring.head) if name is not None else last
            if not await hub.wait(name, keepalive):
                await resp.write(b": keep-alive\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the watcher went away, or the node is shutting down
    return resp


async def _reset(resp: web.StreamResponse, store, name: str | None) -> int:
    def snapshot(state):
        records, _ = Q.run(state, Query(name=name))
        return records, state.revision

    records, revision = store.read(snapshot)
    await resp.write(_frame(revision, "reset", {"instances": records, "revision": revision}))
    return revision
