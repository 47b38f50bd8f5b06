"""Streaming I/O for the watch: line iterators over one HTTP response, sync and async.

Kept apart from ``_transport.py`` (request/response calls) because a watch
holds one response open indefinitely and reads it line by line.
"""

from __future__ import annotations

import http.client
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import aiohttp

from ._errors import ConnectionFailed, error_from_response

__all__ = ["sync_lines", "async_lines", "READ_TIMEOUT"]

# Servers send a keep-alive comment every 15 s; three missed ones mean the
# connection is dead even if TCP has not noticed.
READ_TIMEOUT = 45.0


def _check(status: int, headers: dict, body: bytes, url: str) -> None:
    if status != 200:
        raise error_from_response(status, body, headers, url)


def sync_lines(endpoint: str, target: str, headers: dict[str, str],
               connect_timeout: float) -> Iterator[str]:
    u = urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=connect_timeout)
    try:
        try:
            conn.request("GET", target, headers=headers)
            resp = conn.getresponse()
        except OSError as exc:
            raise ConnectionFailed(f"{endpoint}: {exc}", endpoint=endpoint, sent=False) from None
        if resp.status != 200:
            _check(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read(), endpoint)
        conn.sock.settimeout(READ_TIMEOUT)
        while True:
            try:
                raw = resp.fp.readline()
            except OSError as exc:
                raise ConnectionFailed(f"{endpoint}: {exc}", endpoint=endpoint, sent=True) from None
            if not raw:
                return
            yield raw.decode("utf-8", "replace").rstrip("\r\n")
    finally:
        conn.close()


async def async_lines(session: aiohttp.ClientSession, endpoint: str, target: str,
                      headers: dict[str, str], connect_timeout: float) -> AsyncIterator[str]:
    timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=READ_TIMEOUT)
    try:
        async with session.get(endpoint + target, headers=headers, timeout=timeout) as resp:
            if resp.status != 200:
                _check(resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read(), endpoint)
            async for raw in resp.content:
                yield raw.decode("utf-8", "replace").rstrip("\r\n")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ConnectionFailed(f"{endpoint}: {exc}", endpoint=endpoint, sent=True) from None
