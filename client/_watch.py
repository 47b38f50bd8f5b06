"""The watch stream's logic, free of I/O: parse SSE lines, track where to resume.

``Registry.watch`` and ``AsyncRegistry.watch`` feed lines from
``GET /v1/watch`` into a :class:`WatchSession` and yield the events it
returns. When a stream breaks, the session names the next endpoint and the
revision to resume after (``Last-Event-ID``); revisions come from the
registry's replicated log, so any node continues the stream without gap or
duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from ._endpoints import EndpointPool
from ._models import Instance

__all__ = ["WatchEvent", "WatchSession", "KINDS"]

KINDS = ("registered", "updated", "status", "expired", "deregistered", "reset")


@dataclass(frozen=True)
class WatchEvent:
    """One change. ``kind == "reset"`` carries the full current list in ``instances``.

    ``reason`` says why an instance went away: ``"ttl"`` (expired), ``"owner"``
    (deregistered) or ``"grace"`` (removed after being down).
    """

    revision: int
    kind: str
    instance: Instance | None = None
    instances: tuple[Instance, ...] = ()
    reason: str | None = None


@dataclass
class WatchSession:
    """Resume state of one logical watch across reconnects and nodes."""

    pool: EndpointPool
    name: str | None = None
    since: int | None = None
    on_break: Callable[[], None] | None = None  # told whenever the stream breaks
    on_connect: Callable[[], None] | None = None  # told when a stream is (re)established
    _fields: dict = field(default_factory=dict)
    _failures: int = 0

    def target(self) -> str:
        query = {"name": self.name} if self.name else {}
        return "/v1/watch" + ("?" + urlencode(query) if query else "")

    def headers(self) -> dict[str, str]:
        return {"Accept": "text/event-stream"} | (
            {"Last-Event-ID": str(self.since)} if self.since is not None else {})

    def endpoints(self) -> Sequence[str]:
        """Where to (re)connect, best first."""
        return self.pool.order(prefer_leader=False)

    def broke(self, endpoint: str | None) -> float:
        """The stream ended or failed: returns how long to wait before reconnecting."""
        if endpoint is not None:
            self.pool.mark_failed(endpoint)
        self._fields = {}  # a half-received event is sent again after resuming
        self._failures += 1
        if self.on_break is not None:
            self.on_break()
        return min(2.0, 0.05 * 2 ** min(self._failures, 6))

    def feed(self, line: str) -> WatchEvent | None:
        """One line of the stream (without its newline); an event when one completes."""
        if line == "":
            fields, self._fields = self._fields, {}
            if "data" not in fields or "event" not in fields:
                return None
            return self._event(fields)
        if line.startswith(":"):
            return None  # keep-alive comment
        if line.startswith("retry:"):
            if self.on_connect is not None:
                self.on_connect()  # the server's first line: the stream is up
            return None
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "data" and "data" in self._fields:
            self._fields["data"] += "\n" + value
        elif key in ("id", "event", "data"):
            self._fields[key] = value
        return None

    def _event(self, fields: dict) -> WatchEvent | None:
        try:
            revision = int(fields.get("id", ""))
            data = json.loads(fields["data"])
        except ValueError:
            return None
        self.since = revision
        self._failures = 0
        kind = fields["event"]
        if kind == "reset":
            return WatchEvent(revision, kind, instances=tuple(
                Instance.from_dict(r) for r in data.get("instances", [])))
        reason = data.pop("reason", None) if isinstance(data, dict) else None
        return WatchEvent(revision, kind, instance=Instance.from_dict(data), reason=reason)
