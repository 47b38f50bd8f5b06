"""The bounded history of changes that watch streams replay from.

Every node fills its ring from its own applied log, and revisions come from
the log, so a watcher can resume on any node with its last event id. The
ring holds the newest ``size`` events; ``floor`` is the revision below which
this node can no longer replay (and must send a reset instead).

The ring also keeps each event's Server-Sent Events frame once some stream
has needed it: with thousands of watchers, an event is serialized once per
node, not once per watcher.
"""

from __future__ import annotations

from collections import deque

import orjson

from ..fsm.registry import Event


def sse_frame(revision: int, kind: str, data: dict) -> bytes:
    return b"id: %d\nevent: %s\ndata: %b\n\n" % (revision, kind.encode(), orjson.dumps(data))


def event_frame(ev: Event) -> bytes:
    data = ev.record if ev.reason is None else {**ev.record, "reason": ev.reason}
    return sse_frame(ev.revision, ev.kind, data)


class EventRing:
    def __init__(self, size: int):
        self._events: deque[Event] = deque(maxlen=size)
        self._frames: dict[int, bytes] = {}  # revision -> frame, only for events still in the ring
        self._batch: tuple[list | None, bytes] = (None, b"")
        self.floor = 0  # events with revision > floor are all here (or still to come)
        self.head = 0  # revision of the newest event seen

    def on_events(self, index, events) -> None:
        for ev in events or ():
            if ev.revision <= self.head:
                continue  # already known (a replay after restart re-emits nothing new)
            if len(self._events) == self._events.maxlen:
                self.floor = self._events[0].revision
                self._frames.pop(self.floor, None)
            self._events.append(ev)
            self.head = ev.revision

    def on_restore(self, revision: int) -> None:
        """A snapshot replaced the state: what came before it cannot be replayed."""
        self._events.clear()
        self._frames.clear()
        self._batch = (None, b"")
        self.floor = self.head = revision

    def covers(self, since: int) -> bool:
        return since >= self.floor

    def after(self, since: int, name: str | None = None) -> list[Event]:
        """Events with revision > since (optionally of one service), oldest first."""
        out = []
        for ev in reversed(self._events):  # watchers are nearly always near the head
            if ev.revision <= since:
                break
            if name is None or ev.record["name"] == name:
                out.append(ev)
        out.reverse()
        return out

    def frame(self, ev: Event) -> bytes:
        frame = self._frames.get(ev.revision)
        if frame is None:
            frame = event_frame(ev)
            if ev.revision > self.floor:  # an evicted event's frame would never be dropped
                self._frames[ev.revision] = frame
        return frame

    def frames(self, events: list[Event]) -> bytes:
        """The frames of ``events``, joined; the hub hands one list to every live watcher."""
        batch, data = self._batch
        if batch is not events:
            data = b"".join([self.frame(ev) for ev in events])
            self._batch = (events, data)
        return data

    def replay(self, since: int, name: str | None = None) -> tuple[bytes, int]:
        """The frames of every event after ``since`` and the last one's revision (b"", since: none)."""
        events = self.after(since, name)
        if not events:
            return b"", since
        return b"".join([self.frame(ev) for ev in events]), events[-1].revision
