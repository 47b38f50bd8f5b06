"""Discovery kept fresh by the watch stream instead of polling (``Registry(live=True)``).

The first ``discover(name)`` lists the service once, then follows
``/v1/watch?name=...`` from the list's revision in the background, applying
every event to a local copy. Later discoveries of that service are answered
from the copy with no request at all. While the stream is broken (every node
unreachable), answers are the last known copy flagged ``stale``. The stream
is an ordinary watch, so it goes through the client's transport (TLS, headers,
timeouts). If the watch gives up (every node refused it), the view is dropped
and the next discovery asks the server again, which reports the error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterable, Callable, Iterable, Mapping

from ._errors import ManifestError
from ._models import Instances
from ._watch import WatchEvent

__all__ = ["ServiceView", "local_filter", "follow", "follow_async"]

log = logging.getLogger("manifest_client")


class ServiceView:
    """One service's instances, current as of ``revision``. Thread-safe."""

    def __init__(self, initial: Instances):
        self._lock = threading.Lock()
        self._by_id = {i.id: i for i in initial}
        self.revision = initial.revision
        self.streaming = True  # False while the watch is reconnecting

    def apply(self, event: WatchEvent) -> None:
        with self._lock:
            if event.kind == "reset":
                self._by_id = {i.id: i for i in event.instances}
            elif event.kind == "deregistered" and event.instance is not None:
                self._by_id.pop(event.instance.id, None)
            elif event.instance is not None:
                self._by_id[event.instance.id] = event.instance
            self.revision = event.revision
            self.streaming = True

    def select(self, statuses: set[str] | None, tags: list[str], metadata: Mapping[str, str]) -> Instances:
        with self._lock:
            items = sorted(self._by_id.values(), key=lambda i: i.id)
            revision = self.revision
        chosen = [i for i in items
                  if (statuses is None or i.status in statuses)
                  and all(t in i.tags for t in tags)
                  and all(i.metadata.get(k) == v for k, v in metadata.items())]
        return Instances(chosen, revision=revision, stale=not self.streaming)


def local_filter(tags: str | Iterable[str] | None, version: str | None,
                 status: str | Iterable[str] | None) -> tuple[set[str] | None, list[str]] | None:
    """The filters a view can apply itself, or None (version ranges need the server)."""
    if version is not None:
        return None
    statuses = None if status is None else ({status} if isinstance(status, str) else set(status))
    tag_list = [] if tags is None else ([tags] if isinstance(tags, str) else list(tags))
    return statuses, tag_list


def follow(view: ServiceView, events: Iterable[WatchEvent], stop: threading.Event,
           forget: Callable[[], None]) -> None:
    """Apply a watch iterator's events to ``view`` until ``stop`` is set; ``forget()`` if it gives up."""
    try:
        for event in events:
            view.apply(event)
            if stop.is_set():
                return
    except ManifestError as exc:
        _gave_up(view, exc, forget)


async def follow_async(view: ServiceView, events: AsyncIterable[WatchEvent], forget: Callable[[], None]) -> None:
    """:func:`follow` for an async watch; ends when its task is cancelled."""
    try:
        async for event in events:
            view.apply(event)
    except ManifestError as exc:
        _gave_up(view, exc, forget)


def _gave_up(view: ServiceView, exc: ManifestError, forget: Callable[[], None]) -> None:
    view.streaming = False
    log.warning("live discovery stopped following the watch: %s", exc)
    forget()
