"""The watch stream's logic, free of I/O: build the request, parse SSE lines, track where to resume.

``Registry.watch`` and ``AsyncRegistry.watch`` send the session's
:meth:`~WatchSession.request` through their transport's ``handle_stream``,
feed the answer's lines into the :class:`WatchSession` and yield the events
it returns. When a stream breaks, ends or stalls, the session names the next
endpoint and the revision to resume after (``Last-Event-ID``); revisions come
from the registry's replicated log, so any node continues the stream without
gap or duplicate. Only when every endpoint refused the watch for a reason no
retry fixes (401, 403, an untrusted certificate ...) does it give up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from ._endpoints import EndpointPool
from ._errors import ManifestError
from ._http import Request
from ._models import Instance

__all__ = ["WatchEvent", "WatchSession", "STALL_TIMEOUT"]

_REVISION = re.compile(r"[0-9]{1,18}")

# Nodes send a keep-alive comment every 15 s (watch_keepalive); three missed
# ones mean the connection is dead even if TCP has not noticed.
STALL_TIMEOUT = 45.0


@dataclass(frozen=True)
class WatchEvent:
    """One change. ``kind == "reset"`` carries the full current list in ``instances``.

    ``reason`` says why an instance went away: ``"ttl"`` (expired), ``"owner"``
    (deregistered), ``"grace"`` (removed after being down) or ``"drained"``;
    or what changed: ``"load"``, ``"metadata"``, ``"check"``, ``"drain"``,
    ``"maintenance"`` ...  ``kind == "protection"`` is a service entering or
    leaving mass-expiry protection: no ``instance``, and ``data`` holds
    ``{"name", "protected", "reason", "since"}``.
    """

    revision: int
    kind: str
    instance: Instance | None = None
    instances: tuple[Instance, ...] = ()
    reason: str | None = None
    data: dict | None = None


@dataclass
class WatchSession:
    """Resume state of one logical watch across reconnects and nodes.

    ``base_headers`` and ``timeout`` are the client's (its default headers,
    tokens included, and its connect timeout); ``stall_timeout`` is the
    longest silence a live stream may keep.
    """

    pool: EndpointPool
    name: str | None = None
    since: int | None = None
    on_break: Callable[[], None] | None = None  # told whenever the stream breaks
    on_connect: Callable[[], None] | None = None  # told when a stream is (re)established
    base_headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    stall_timeout: float = STALL_TIMEOUT
    _fields: dict = field(default_factory=dict)
    _failures: int = 0
    _refused: dict[str, ManifestError] = field(default_factory=dict)

    def target(self) -> str:
        query = {"name": self.name} if self.name else {}
        return "/v1/watch" + ("?" + urlencode(query) if query else "")

    def headers(self) -> dict[str, str]:
        return {**self.base_headers, "Accept": "text/event-stream"} | (
            {"Last-Event-ID": str(self.since)} if self.since is not None else {})

    def request(self, endpoint: str) -> Request:
        """The stream request for ``endpoint``, resuming after the last revision seen."""
        return Request("GET", endpoint, self.target(), headers=self.headers(),
                       timeout=self.timeout, read_timeout=self.stall_timeout)

    def endpoints(self) -> Sequence[str]:
        """Where to (re)connect, best first."""
        return self.pool.order(prefer_leader=False)

    def connected(self, endpoint: str) -> None:
        """``endpoint`` answered 200: the stream is up."""
        self.pool.mark_ok(endpoint)
        self._refused.clear()
        if self.on_connect is not None:
            self.on_connect()

    def broke(self, endpoint: str, error: ManifestError | None = None) -> float:
        """The stream ended (``error`` None) or failed: how long to wait before reconnecting.

        Raises ``error`` once every known endpoint has refused the watch with
        an error that is not retriable: retrying would only hide it.
        """
        self.pool.mark_failed(endpoint)
        self._fields = {}  # a half-received event is sent again after resuming
        self._failures += 1
        if self.on_break is not None:
            self.on_break()
        if error is not None and not error.retriable:
            self._refused[endpoint] = error
            if set(self.pool.endpoints) <= self._refused.keys():
                self._refused.clear()
                raise error
        return min(2.0, 0.05 * 2 ** min(self._failures, 6))

    def feed(self, line: str) -> WatchEvent | None:
        """One line of the stream (without its newline); an event when one completes."""
        if line == "":
            fields, self._fields = self._fields, {}
            if "data" not in fields or "event" not in fields:
                return None
            return self._event(fields)
        if line.startswith(":") or line.startswith("retry:"):
            return None  # keep-alive comment; reconnection delay (ours is our own)
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "data" and "data" in self._fields:
            self._fields["data"] += "\n" + value
        elif key in ("id", "event", "data"):
            self._fields[key] = value
        return None

    def _event(self, fields: dict) -> WatchEvent | None:
        raw_id = fields.get("id", "")
        if not _REVISION.fullmatch(raw_id):  # int() would take "1_0" and other scripts' digits
            return None
        try:
            revision = int(raw_id)
            data = json.loads(fields["data"])
        except ValueError:
            return None
        self.since = revision
        self._failures = 0
        kind = fields["event"]
        if kind == "reset":
            return WatchEvent(revision, kind, instances=tuple(
                Instance.from_dict(r) for r in data.get("instances", [])))
        if not isinstance(data, dict):
            return None
        if kind == "protection":
            return WatchEvent(revision, kind, reason=data.get("reason"), data=data)
        reason = data.pop("reason", None)
        return WatchEvent(revision, kind, instance=Instance.from_dict(data), reason=reason)
