"""The bounded history of changes that watch streams replay from.

Every node fills its ring from its own applied log, and revisions come from
the log, so a watcher can resume on any node with its last event id. The
ring holds the newest ``size`` events; ``floor`` is the revision below which
this node can no longer replay (and must send a reset instead).
"""

from __future__ import annotations

from collections import deque

from ..fsm.registry import Event


class EventRing:
    def __init__(self, size: int):
        self._events: deque[Event] = deque(maxlen=size)
        self.floor = 0  # events with revision > floor are all here (or still to come)
        self.head = 0  # revision of the newest event seen

    def on_events(self, index, events) -> None:
        for ev in events or ():
            if ev.revision <= self.head:
                continue  # already known (a replay after restart re-emits nothing new)
            if len(self._events) == self._events.maxlen:
                self.floor = self._events[0].revision
            self._events.append(ev)
            self.head = ev.revision

    def on_restore(self, revision: int) -> None:
        """A snapshot replaced the state: what came before it cannot be replayed."""
        self._events.clear()
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
