"""The ``changes`` subscription: the watch stream's events (api/watch.py), one GraphQL result each.

Same source, same order, same resume rule as ``GET /v1/watch``: events
after ``since`` (default: from now) come from this node's history
(history.py); a ``since`` older than the history first yields a RESET
event with the full current list, then the changes after it. Once caught
up, the stream subscribes to the ChangeHub (changes.py) and sleeps on one
future until the hub says there is more, then reads it from the history,
so a slow client never makes the hub buffer for it. Each stream counts
against ``max_watch_streams``; when the client goes away, the protocol
handler cancels the generator and the ``finally`` blocks unsubscribe it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ... import errors
from ...fsm.query import Query, run as run_query
from ..keys import CHANGES, CONFIG, HISTORY, METRICS, WATCHES
from .types import ChangeEvent, ChangeKind, Instance


class _Waiter:
    """A ChangeHub subscriber that only wakes its stream: the events are read from the history."""

    __slots__ = ("service", "_fut")

    def __init__(self, service: str | None):
        self.service = service
        self._fut: asyncio.Future | None = None

    def push(self, events: list) -> bool:
        self.wake()
        return True

    def keepalive(self) -> bool:
        return True  # the WebSocket protocols keep the connection alive themselves

    def wake(self) -> None:
        if self._fut is not None and not self._fut.done():
            self._fut.set_result(None)

    async def wait(self, hub, keepalive: float) -> None:
        self._fut = asyncio.get_running_loop().create_future()
        # The node's interval: the hub runs one keep-alive timer for every stream, SSE ones included.
        hub.subscribe(self, keepalive)
        try:
            await self._fut
        finally:
            hub.unsubscribe(self)
            self._fut = None


def _event(ev) -> ChangeEvent:
    data = ev.record if ev.reason is None else {**ev.record, "reason": ev.reason}
    return ChangeEvent(revision=ev.revision, kind=ChangeKind(ev.kind), instance=Instance.of(ev.record),
                       reason=ev.reason, instances=None, data=data)


def _reset(store, service: str | None) -> ChangeEvent:
    def snapshot(state):
        records, _ = run_query(state, Query(name=service))
        return records, state.revision

    records, revision = store.read(snapshot)
    return ChangeEvent(revision=revision, kind=ChangeKind.RESET, instance=None, reason=None,
                       instances=[Instance.of(r) for r in records],
                       data={"instances": records, "revision": revision})


async def changes(app, store, service: str | None, since: int | None) -> AsyncIterator[ChangeEvent]:
    cfg, metrics, count = app[CONFIG], app[METRICS], app[WATCHES]
    if count.open >= cfg.max_watch_streams:
        metrics.refused("max_watch_streams")
        raise errors.TooManyWatches(f"this node serves its maximum of {cfg.max_watch_streams} watch streams "
                                    "(max_watch_streams); try another node or later", "max_watch_streams")
    count.open += 1
    metrics.watch_streams.inc()
    try:
        async for event in _stream(app, store, service, since):
            yield event
    finally:
        count.open -= 1
        metrics.watch_streams.dec()


async def _stream(app, store, service: str | None, since: int | None) -> AsyncIterator[ChangeEvent]:
    ring, hub, keepalive = app[HISTORY], app[CHANGES], app[CONFIG].watch_keepalive
    last = ring.head if since is None else since
    waiter = _Waiter(service)
    while not hub.closed:
        if not ring.covers(last):
            reset = _reset(store, service)
            last = reset.revision
            yield reset
            continue
        events = ring.after(last, service)
        if events:
            for ev in events:
                last = ev.revision
                yield _event(ev)
            continue
        if service is not None:
            last = max(last, ring.head)  # nothing of ours up to the head: resume from there
        # No await between reading the history and subscribing: no event can slip in between.
        await waiter.wait(hub, keepalive)
