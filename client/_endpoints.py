"""Which registry endpoint to try next: seeds, discovered members, leader hint, back-off.

The pool knows every endpoint the client may use: the seeds it was given, the
members ``GET /v1/cluster`` reported, and leader URLs named by the
``X-Manifest-Leader`` header.  An endpoint that failed (connection error,
timeout, 503) is put behind an exponential back-off: until it expires the
endpoint is only tried after every other one, so one dead node costs one
failed attempt, not one per request.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["DEFAULT_URL", "EndpointPool", "normalize_url", "parse_endpoints"]

DEFAULT_URL = "http://127.0.0.1:8500"


def normalize_url(url: str) -> str:
    """Return ``url`` as ``scheme://host:port[/prefix]`` (lower-case, no trailing slash)."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) endpoint: {url!r}")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def parse_endpoints(value: str | Sequence[str] | None) -> list[str]:
    """Turn a comma-separated string or a list into normalised, de-duplicated URLs.

    ``None`` reads ``MANIFEST_URL`` and falls back to :data:`DEFAULT_URL`.
    """
    if value is None:
        value = os.environ.get("MANIFEST_URL") or DEFAULT_URL
    items = value.split(",") if isinstance(value, str) else list(value)
    urls: list[str] = []
    for item in items:
        if item and item.strip():
            url = normalize_url(item)
            if url not in urls:
                urls.append(url)
    if not urls:
        raise ValueError("no registry endpoint given")
    return urls


@dataclass
class _Endpoint:
    url: str
    seed: bool
    failures: int = 0
    retry_at: float = 0.0


class EndpointPool:
    """Endpoint order, leader hint, failure back-off and member discovery timing.

    Thread-safe.  The lock is re-entrant because a signal handler may
    deregister from the main thread while that thread is inside the pool.
    """

    def __init__(
        self,
        seeds: Iterable[str],
        *,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        refresh_interval: float | None = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._endpoints: dict[str, _Endpoint] = {u: _Endpoint(u, seed=True) for u in seeds}
        if not self._endpoints:
            raise ValueError("no registry endpoint given")
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._lock = threading.RLock()
        self._leader: str | None = None
        self._current: str | None = None
        self._next_refresh = 0.0

    @property
    def endpoints(self) -> list[str]:
        """Every known endpoint, seeds first."""
        with self._lock:
            return list(self._endpoints)

    @property
    def leader(self) -> str | None:
        """The leader's API URL as last reported by a node, if any."""
        return self._leader

    def backed_off(self, url: str) -> bool:
        """Whether ``url`` failed recently and its back-off has not expired."""
        with self._lock:
            ep = self._endpoints.get(url)
            return ep is not None and ep.retry_at > self._clock()

    def order(self, *, prefer_leader: bool) -> list[str]:
        """Endpoints in the order to try them for one request.

        Healthy endpoints come first, the preferred one (leader for writes,
        the last endpoint that answered otherwise) at their head; endpoints in
        back-off follow, soonest-to-expire first, as a last resort.
        """
        with self._lock:
            now = self._clock()
            ready = [ep.url for ep in self._endpoints.values() if ep.retry_at <= now]
            waiting = sorted(
                (ep for ep in self._endpoints.values() if ep.retry_at > now),
                key=lambda ep: ep.retry_at,
            )
            favourite = self._leader if prefer_leader and self._leader else self._current
            if favourite in ready:
                ready.remove(favourite)
                ready.insert(0, favourite)
            return ready + [ep.url for ep in waiting]

    def mark_failed(self, url: str, *, retry_after: float | None = None) -> None:
        """Put ``url`` behind an exponential back-off (at least ``retry_after`` seconds)."""
        with self._lock:
            ep = self._endpoints.get(url)
            if ep is None:
                return
            ep.failures += 1
            delay = min(self._backoff_max, self._backoff_base * 2 ** (ep.failures - 1))
            if retry_after is not None:
                delay = max(delay, min(retry_after, self._backoff_max))
            now = self._clock()
            ep.retry_at = now + delay
            if self._current == url:
                self._current = None
            # Membership may have changed: look again soon, but not on every call.
            self._next_refresh = min(self._next_refresh, now + 5.0)

    def mark_ok(self, url: str) -> None:
        """Forget past failures of ``url`` and make it the preferred endpoint for reads."""
        with self._lock:
            ep = self._endpoints.get(url)
            if ep is not None:
                ep.failures = 0
                ep.retry_at = 0.0
                self._current = url

    def note_leader(self, answered_by: str, header: str | None) -> None:
        """Record the ``X-Manifest-Leader`` header one endpoint returned.

        A named leader joins the pool if it is new.  An empty header from the
        node we believed to be leader means it no longer is.
        """
        with self._lock:
            if header and header.strip():
                try:
                    url = normalize_url(header)
                except ValueError:
                    return
                self._endpoints.setdefault(url, _Endpoint(url, seed=False))
                self._leader = url
            elif header is not None and answered_by == self._leader:
                self._leader = None

    def needs_refresh(self) -> bool:
        """Whether it is time to ask ``GET /v1/cluster`` for the member list."""
        if self._refresh_interval is None:
            return False
        with self._lock:
            return self._clock() >= self._next_refresh

    def begin_refresh(self) -> None:
        """Note that a refresh is under way so concurrent calls do not start another."""
        with self._lock:
            self._next_refresh = self._clock() + (self._refresh_interval or 0.0)

    def update_members(self, api_urls: Iterable[str], leader: str | None) -> None:
        """Replace the discovered members with ``api_urls``; seeds always stay."""
        with self._lock:
            fresh: list[str] = []
            for raw in api_urls:
                try:
                    fresh.append(normalize_url(raw))
                except ValueError:
                    continue
            for url in list(self._endpoints):
                ep = self._endpoints[url]
                if not ep.seed and url not in fresh:
                    del self._endpoints[url]
            for url in fresh:
                self._endpoints.setdefault(url, _Endpoint(url, seed=False))
            if leader:
                self.note_leader("", leader)
            elif self._leader not in self._endpoints:
                self._leader = None
            if self._current not in self._endpoints:
                self._current = None
