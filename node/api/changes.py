"""Wake-ups for blocking reads, and live delivery to watch streams.

Waiting requests hold only a future: nothing runs while nothing changes.
A change to service A wakes A's waiters and the whole-registry waiters, never
B's. Runs on the event loop; fed by the store's applied-entry listener.

A watch stream that has caught up *subscribes* instead of waiting: the hub
hands it each new batch of events from the listener itself, so an event
reaches the socket without waking the stream's task, and one timer per node
sends the keep-alive comments of every subscribed stream. A subscriber that
cannot take a write (slow reader, closed connection) is dropped and woken;
its task catches up from the history, then subscribes again.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Protocol


class Subscriber(Protocol):
    service: str | None  # None: every service

    def push(self, events: list) -> bool:
        """Write ``events`` now; False when the stream's own task must take over."""

    def keepalive(self) -> bool:
        """Write a keep-alive comment; False when the stream's own task must take over."""

    def wake(self) -> None:
        """Hand the stream back to its task (already unsubscribed)."""


def _expire(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(False)


class ChangeHub:
    def __init__(self):
        self._by_service: dict[str, set[asyncio.Future]] = defaultdict(set)
        self._all: set[asyncio.Future] = set()
        self._live: dict[str | None, set[Subscriber]] = {}
        self._keepalive: asyncio.TimerHandle | None = None
        self.head = 0  # newest revision handed to subscribers
        self.closed = False

    def close(self) -> None:
        """Shutting down: wake every waiter for good so streams and blocking reads end."""
        self.closed = True
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        self.wake_all()

    def on_restore(self, revision: int) -> None:
        """The state was replaced by a snapshot: anything may have changed."""
        self.head = revision
        self.wake_all()

    def wake_all(self) -> None:
        self._wake(self._all)
        for name in list(self._by_service):
            self._wake(self._by_service.pop(name))
        live, self._live = self._live, {}
        for subs in live.values():
            for sub in subs:
                sub.wake()

    def on_events(self, index, events) -> None:
        if not events:
            return
        self._wake(self._all)
        for name in {ev.record["name"] for ev in events}:
            waiters = self._by_service.pop(name, None)
            if waiters:
                self._wake(waiters)
        fresh = [ev for ev in events if ev.revision > self.head]  # a replay after restart re-emits nothing new
        if not fresh:
            return
        self.head = fresh[-1].revision
        if not self._live:
            return
        groups: dict[str, list] = {}
        for ev in fresh:
            groups.setdefault(ev.record["name"], []).append(ev)
        # In revision order per stream: every subscriber had sent everything up
        # to the previous head when it subscribed, and gets every batch since.
        self._deliver(None, fresh)
        for name, evs in groups.items():
            self._deliver(name, evs)

    def _deliver(self, service: str | None, events: list) -> None:
        subs = self._live.get(service)
        if subs:
            dropped = [sub for sub in subs if not sub.push(events)]
            self._drop(service, subs, dropped)

    def _drop(self, service: str | None, subs: set, dropped: list) -> None:
        for sub in dropped:
            subs.discard(sub)
            sub.wake()
        if not subs and self._live.get(service) is subs:
            del self._live[service]

    def subscribe(self, sub: Subscriber, keepalive: float) -> None:
        """Deliver every event after ``self.head`` to ``sub`` until it is dropped or unsubscribes."""
        self._live.setdefault(sub.service, set()).add(sub)
        if self._keepalive is None and not self.closed:
            self._keepalive = asyncio.get_running_loop().call_later(keepalive, self._send_keepalives, keepalive)

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._live.get(sub.service)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._live[sub.service]

    def _send_keepalives(self, every: float) -> None:
        # One timer for all streams: a subscribed stream is never silent for
        # longer than ``every``, whatever it sent in between.
        self._keepalive = None
        for service, subs in list(self._live.items()):
            dropped = [sub for sub in subs if not sub.keepalive()]
            self._drop(service, subs, dropped)
        if self._live and not self.closed:
            self._keepalive = asyncio.get_running_loop().call_later(every, self._send_keepalives, every)

    @staticmethod
    def _wake(waiters: set) -> None:
        for fut in waiters:
            if not fut.done():
                fut.set_result(True)
        waiters.clear()

    async def wait(self, service: str | None, timeout: float) -> bool:
        """Wait for the next change (of ``service``, or of anything); False on timeout."""
        if self.closed:
            return True
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        bucket = self._all if service is None else self._by_service[service]
        bucket.add(fut)
        # A timer on the future itself: wait_for would add a second future
        # and one more loop iteration to every wake-up.
        timer = loop.call_later(timeout, _expire, fut)
        try:
            return await fut
        finally:
            timer.cancel()
            bucket.discard(fut)
            if service is not None and not bucket and self._by_service.get(service) is bucket:
                del self._by_service[service]

    def waiting(self) -> int:
        return (len(self._all) + sum(len(s) for s in self._by_service.values())
                + sum(len(s) for s in self._live.values()))
