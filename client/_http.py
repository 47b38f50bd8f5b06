"""Requests and answers as plain data, shared by the I/O-free core and the transports.

The core builds a :class:`Request` for one endpoint and interprets the
:class:`Response`; only ``_transport.py`` turns one into the other over a socket.
A streamed answer (a watch) carries its body as ``stream``, an iterator of
byte chunks that the transport fills as data arrives; :meth:`Response.iter_lines`
and :meth:`Response.aiter_lines` cut it into lines, whoever produced it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Request", "Response"]


@dataclass(frozen=True)
class Request:
    """One HTTP request bound for one endpoint.

    ``target`` is the path and query string (``/v1/services?status=up``);
    ``idempotent`` tells the transport whether a reused connection is safe.
    ``timeout`` bounds connecting and waiting for the answer's headers; for a
    stream, ``read_timeout`` (default: ``timeout``) bounds each wait for more
    of the body, so that a stream gone silent is noticed.
    """

    method: str
    endpoint: str
    target: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float = 5.0
    idempotent: bool = True
    read_timeout: float | None = None

    @property
    def url(self) -> str:
        """The full URL, endpoint plus target."""
        return self.endpoint + self.target

    def json(self) -> Any:
        """The decoded JSON body, or ``None`` when there is none."""
        return json.loads(self.body) if self.body else None


@dataclass
class Response:
    """An HTTP answer; ``headers`` keys are lower-case.

    ``endpoint`` is filled in by the client with the endpoint that answered.
    ``stream``, set by a transport's ``handle_stream`` (or by a
    :class:`MockTransport` handler), yields the body in chunks as it arrives;
    an iterator that raises :class:`ConnectionFailed` or :class:`RequestTimeout`
    simulates a broken or stalled stream. Without it the body is ``body``.
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    endpoint: str = ""
    stream: Iterable[bytes] | AsyncIterable[bytes] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(
        cls, status: int, data: Any, headers: Mapping[str, str] | None = None
    ) -> Response:
        """Build a JSON answer (handy in :class:`MockTransport` handlers)."""
        hdrs = {"content-type": "application/json"}
        hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
        return cls(status, hdrs, json.dumps(data).encode())

    def json(self) -> Any:
        """The decoded JSON body (``ValueError`` when it is not JSON)."""
        return json.loads(self.body)

    def iter_lines(self) -> Iterator[str]:
        """The body's lines as they arrive, decoded as UTF-8, without line endings."""
        if self.stream is not None and not isinstance(self.stream, Iterable):
            raise TypeError("an asynchronous stream: use aiter_lines()")
        lines = _Lines()
        for chunk in self.stream if self.stream is not None else (self.body,):
            yield from lines.feed(chunk)
        yield from lines.end()

    async def aiter_lines(self) -> AsyncIterator[str]:
        """:meth:`iter_lines` for async clients (a plain iterator works too)."""
        lines = _Lines()
        if isinstance(self.stream, AsyncIterable):
            async for chunk in self.stream:
                for line in lines.feed(chunk):
                    yield line
        else:
            for chunk in self.stream if self.stream is not None else (self.body,):
                for line in lines.feed(chunk):
                    yield line
        for line in lines.end():
            yield line

    def read(self) -> bytes:
        """The whole body: ``body``, or what is left of ``stream`` (an error answer's)."""
        if self.stream is None:
            return self.body
        if not isinstance(self.stream, Iterable):
            raise TypeError("an asynchronous stream: use aread()")
        return b"".join(self.stream)

    async def aread(self) -> bytes:
        """:meth:`read` for async clients."""
        if isinstance(self.stream, AsyncIterable):
            return b"".join([chunk async for chunk in self.stream])
        return self.read()

    def close(self) -> None:
        """Release the connection behind ``stream`` (nothing to do for a plain answer)."""
        closer = getattr(self.stream, "close", None)
        if closer is not None:
            closer()

    async def aclose(self) -> None:
        """:meth:`close` for async clients."""
        closer = getattr(self.stream, "aclose", None)
        if closer is not None:
            await closer()
        else:
            self.close()


class _Lines:
    """Cuts byte chunks into lines; a line may span many chunks (a large reset event)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def feed(self, chunk: bytes) -> list[str]:
        self._parts.append(chunk)
        if b"\n" not in chunk:
            return []  # joined once its end arrives, not once per chunk
        *lines, rest = b"".join(self._parts).split(b"\n")
        self._parts = [rest] if rest else []
        return [_text(line) for line in lines]

    def end(self) -> list[str]:
        rest, self._parts = b"".join(self._parts), []
        return [_text(rest)] if rest else []


def _text(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", "replace")
