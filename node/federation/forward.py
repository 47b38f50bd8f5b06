"""Sending one read to a region: the best node first, the next on a connection error, 5xx or timeout.

Each attempt is bounded by ``federation_timeout`` and the whole read by
``federation_deadline`` (plus the wait of a blocking read), so a region
that stopped answering costs a caller at most the deadline, and, once its
nodes' circuits are open (directory.py), nothing: the read fails at once
with 503 ``region_unavailable``. When some are open and every other node
fails, the open ones are tried last, within the deadline. A 4xx is the region's answer, not a
failure: it is passed back as it is, but for a 401 or 403, which can only
mean the region refused the federation token (403 ``federation_refused``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
from yarl import URL

from ..errors import Forbidden, RegionUnavailable
from .directory import Directory

# Response headers worth passing back; the remote leader is not (a client would send its writes there).
PASSED_BACK = ("Content-Type", "X-Manifest-Index", "X-Manifest-Last-Contact", "Retry-After")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    region: str
    node: str


class Forwarder:
    def __init__(self, directory: Directory, session: aiohttp.ClientSession, headers: dict[str, str],
                 timeout: float, deadline: float):
        self.directory, self.session, self.headers = directory, session, headers
        self.timeout, self.deadline = timeout, deadline
        self.counts: dict[tuple[str, str], int] = {}  # (region, ok|retried|unavailable) -> reads

    def _count(self, region: str, outcome: str) -> None:
        key = (region, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1

    def url(self, base: str, path: str, query) -> URL:
        return URL(base + path, encoded=True).with_query(query)

    async def get(self, region: str, path: str, query, headers: dict[str, str] | None = None,
                  extra: float = 0.0, deadline: float | None = None) -> Answer:
        """The region's answer to ``GET path?query``; RegionUnavailable when no node gave one in time.

        ``path`` is already percent-encoded; ``extra``: seconds the remote may hold the read (``wait``)."""
        known = self.directory.get(region)
        nodes = known.candidates()
        if not nodes:
            self._count(region, "unavailable")
            raise RegionUnavailable(f"no node of region {region!r} is reachable (all failed recently; "
                                    "see /v1/cluster regions)", "region")
        end = time.monotonic() + (self.deadline if deadline is None else deadline) + extra
        sent = {**self.headers, **(headers or {})}
        errors = []
        for node in [*nodes, *known.held_back()]:  # held back: computed before this read opened any circuit
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                timeout = aiohttp.ClientTimeout(total=min(self.timeout + extra, left))
                async with self.session.get(self.url(node.url, path, query), headers=sent, timeout=timeout,
                                            allow_redirects=False) as resp:
                    body = await resp.read()
                    status, got = resp.status, resp.headers
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
                node.failed(type(exc).__name__)
                errors.append(f"{node.url}: {type(exc).__name__}")
                self._count(region, "retried")
                continue
            if status >= 500:
                node.failed(f"HTTP {status}")
                errors.append(f"{node.url}: HTTP {status}")
                self._count(region, "retried")
                continue
            if status in (401, 403):
                # The caller's own token was checked here; the region refused ours: the regions'
                # federation_token settings differ. Not the caller's 401, and no other node will differ.
                self._count(region, "refused")
                raise Forbidden(f"region {region!r} refused this node's federation token (HTTP {status}): "
                                "set the same federation_token in every region", "region", code="federation_refused")
            if node.healthy is False or node.failures:
                node.failures, node.open_until, node.healthy = 0, 0.0, True
            self._count(region, "ok")
            return Answer(status, {k: got[k] for k in PASSED_BACK if k in got}, body, region, node.url)
        self._count(region, "unavailable")
        raise RegionUnavailable(f"no node of region {region!r} answered within the deadline ("
                                + ("; ".join(errors) or "deadline passed") + ")", "region")
