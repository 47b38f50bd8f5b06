"""Request bodies read whole: bounded in size and in time, content coding undone.

``request.content.read(n)`` answers with whatever has arrived so far, so a
body that came in two TCP segments was parsed half-read, and one shorter
than its Content-Length was accepted. Here a body is read to its end (the
length it announced, or the last chunk), within ``max_body`` bytes and
``timeout`` seconds; anything less is 400 ``incomplete_body`` and is never
parsed. ``Content-Encoding`` is undone here too (the app turns aiohttp's own
decompression off, see app.py), so that a decoded body is bounded by the
same limit as a plain one, a broken one is a 400 naming the coding and an
unknown coding is a 415, not bytes taken as they came.
"""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import web

from .. import errors
from .keys import METRICS

# zlib wbits: gzip framing, and the zlib framing HTTP's "deflate" means.
_CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _too_large(max_body: int) -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(f"body exceeds {max_body} bytes")


def _coding(request: web.Request) -> str | None:
    """The one content coding to undo (None for identity), or 415."""
    lines = request.headers.getall("Content-Encoding", [])
    if not lines:
        return None
    header = ", ".join(lines)  # two header lines are two codings, as if comma-separated
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in _CODINGS:
        raise errors.UnsupportedMediaType(
            f"unsupported Content-Encoding {header!r}; use gzip, deflate or none", "Content-Encoding")
    return codings[0]


class _Decoder:
    """Undoes one content coding, never producing more than ``limit`` bytes."""

    def __init__(self, coding: str, limit: int):
        self._coding, self._limit = coding, limit
        self._zlib = zlib.decompressobj(_CODINGS[coding])
        self._started = False
        self.size = 0

    def feed(self, data: bytes) -> bytes:
        if not self._started and data:
            self._started = True
            if self._coding == "deflate" and data[0] & 0x0F != 8:
                # Raw deflate without the zlib header: common enough to accept.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        if self._zlib.eof:
            if data:
                raise self._invalid("data after the end of the compressed stream")
            return b""
        try:
            out = self._zlib.decompress(data, self._limit + 1 - self.size)
        except zlib.error as exc:
            raise self._invalid(str(exc)) from None
        if self._zlib.unused_data:
            raise self._invalid("data after the end of the compressed stream")
        self.size += len(out)
        if self.size > self._limit or self._zlib.unconsumed_tail:
            # Stop here: a small body can inflate a thousandfold (a "gzip bomb").
            raise errors.PayloadTooLarge(f"decoded body exceeds {self._limit} bytes")
        return out

    def finish(self) -> None:
        if self._started and not self._zlib.eof:
            raise self._invalid("the compressed stream is truncated")

    def _invalid(self, why: str) -> errors.InvalidInput:
        return errors.InvalidInput(f"body is not valid {self._coding}: {why}", "body", code="malformed")


async def read(request: web.Request, max_body: int, timeout: float) -> bytes:
    """The whole body, decoded; 413 past ``max_body``, 400 when it does not arrive in full."""
    length = request.content_length
    if length is not None and length > max_body:
        raise _too_large(max_body)
    if not request.body_exists:
        return b""
    coding = _coding(request)
    decoder = _Decoder(coding, max_body) if coding else None
    parts: list[bytes] = []
    received = 0
    try:
        async with asyncio.timeout(timeout):
            while chunk := await request.content.readany():
                received += len(chunk)
                if received > max_body:
                    raise _too_large(max_body)
                parts.append(decoder.feed(chunk) if decoder else chunk)
    except TimeoutError:
        request.app[METRICS].timeouts.labels("body").inc()
        raise _incomplete(received, length, f"within {timeout:g} s") from None
    except ConnectionError as exc:  # the client went away mid-body
        raise _incomplete(received, length, f"before the connection closed ({exc})") from None
    except web.RequestPayloadError as exc:  # aiohttp found the chunked framing broken
        raise errors.IncompleteBody(f"request body framing is broken: {exc}", "body", code="malformed") from None
    if decoder:
        decoder.finish()
    return b"".join(parts)


def _incomplete(received: int, length: int | None, why: str) -> errors.IncompleteBody:
    of = f" of {length}" if length is not None else ""
    return errors.IncompleteBody(f"request body incomplete: {received}{of} bytes arrived {why}", "body")
