"""I/O only: send one HTTP request to one endpoint and hand back the raw answer.

Three transports share the :class:`Request`/:class:`Response` pair (``_http.py``):

* :class:`SyncTransport` on ``http.client`` with keep-alive connections per endpoint;
* :class:`AsyncTransport` on ``aiohttp`` (``_async_transport.py``);
* :class:`MockTransport`, which answers from a function, for tests.

Each offers two calls: ``handle_request`` (``handle_async_request``) reads
the whole answer; ``handle_stream`` (``handle_async_stream``) returns once the
headers arrived and leaves the body to ``Response.iter_lines()``, for watch
streams. Both go through the same connection set-up, so TLS settings,
timeouts and the headers the client adds apply to streams too.

A transport never retries on another endpoint and never interprets status
codes: that is the client core's job.  It raises :class:`ConnectionFailed`
(or :class:`RequestTimeout`) when no answer came, with ``sent=False`` only when
the request provably never left (the connection could not be opened), and
:class:`TLSError` when TLS could not be set up.
Non-idempotent requests always go out on a new connection, because a failure
on a reused keep-alive connection cannot tell whether the server saw them.
"""

from __future__ import annotations

import http.client
import inspect
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from ._errors import ConnectionFailed, RequestTimeout, TLSError
from ._http import Request, Response

__all__ = ["SyncTransport", "MockTransport", "merge_headers", "tls_failure"]

# Chunks of a streamed body are handed on as soon as they arrive, up to this size.
_CHUNK = 65536


def merge_headers(pairs: Any) -> dict[str, str]:
    """Response headers as a dict with lower-case keys; repeated ones joined with commas."""
    merged: dict[str, str] = {}
    for key, value in pairs:
        key = key.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def tls_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means TLS itself failed, rather than the network under it.

    An EOF during the handshake is a peer going away, which another try may
    get past; an untrusted certificate or a protocol mismatch is not.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True
    return isinstance(exc, ssl.SSLError) and not isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError))


class _StaleConnection(Exception):
    """A reused keep-alive connection turned out to be closed by the server."""


@contextmanager
def _mapped(conn: http.client.HTTPConnection, endpoint: str, *, reused: bool,
            timed_out: str = "no answer within timeout") -> Iterator[None]:
    """Turn ``http.client``'s failures after connecting into the client's errors."""
    try:
        yield
    except TimeoutError as exc:
        conn.close()
        raise RequestTimeout(timed_out, sent=True, endpoint=endpoint) from exc
    except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
        conn.close()
        if reused:
            raise _StaleConnection(str(exc)) from exc
        raise ConnectionFailed(f"connection lost: {exc}", sent=True, endpoint=endpoint) from exc
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise ConnectionFailed(f"connection failed: {exc!r}", sent=True, endpoint=endpoint) from exc


class _SyncStream:
    """A streamed body read from its own connection; closing it closes the connection."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                 request: Request, forget: Callable[[_SyncStream], None]) -> None:
        self._conn, self._resp, self._forget = conn, resp, forget
        self._endpoint = request.endpoint
        self._stalled = f"stream stalled: nothing received for {request.read_timeout or request.timeout:g} s"

    def __iter__(self) -> _SyncStream:
        return self

    def __next__(self) -> bytes:
        try:
            with _mapped(self._conn, self._endpoint, reused=False, timed_out=self._stalled):
                chunk = self._resp.read1(_CHUNK)
        except ConnectionFailed:
            self.close()
            raise
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def abort(self) -> None:
        """Wake a reader blocked on this stream from another thread (it then sees the end)."""
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._conn.close()
        self._forget(self)


class SyncTransport:
    """Blocking transport on ``http.client``; keeps idle connections per endpoint.

    Safe to share between threads: a connection is used by one request at a time.
    ``ssl_context`` applies to every ``https://`` endpoint, streams included.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_idle: int = 4) -> None:
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._idle: dict[str, list[http.client.HTTPConnection]] = {}
        self._streams: set[_SyncStream] = set()
        # Re-entrant: a signal handler may send from the main thread mid-call.
        self._lock = threading.RLock()

    def handle_request(self, request: Request) -> Response:
        """Send ``request`` and return the answer, whatever its status."""
        if request.idempotent:
            conn = self._take_idle(request.endpoint)
            if conn is not None:
                try:
                    return self._exchange(conn, request, reused=True)
                except _StaleConnection:
                    pass  # the server dropped an idle connection; a new one decides
        return self._exchange(self._connect(request), request, reused=False)

    def handle_stream(self, request: Request) -> Response:
        """Send ``request`` on a connection of its own; return once the headers are in.

        The answer's ``stream`` yields the body as it arrives; a wait longer
        than ``request.read_timeout`` raises :class:`RequestTimeout`. Close the
        response to close the connection (:meth:`close` closes every stream).
        """
        conn = self._connect(request)
        with _mapped(conn, request.endpoint, reused=False):
            resp = self._send(conn, request)
            if conn.sock is not None:
                conn.sock.settimeout(request.read_timeout or request.timeout)
        stream = _SyncStream(conn, resp, request, self._forget)
        with self._lock:
            self._streams.add(stream)
        return Response(resp.status, merge_headers(resp.getheaders()), stream=stream)

    def close(self) -> None:
        """Close every idle connection and end every open stream."""
        with self._lock:
            idle, self._idle = self._idle, {}
            streams = list(self._streams)
        for conns in idle.values():
            for conn in conns:
                conn.close()
        for stream in streams:
            stream.abort()  # its reader, perhaps on another thread, closes it

    def _forget(self, stream: _SyncStream) -> None:
        with self._lock:
            self._streams.discard(stream)

    def _take_idle(self, endpoint: str) -> http.client.HTTPConnection | None:
        with self._lock:
            conns = self._idle.get(endpoint)
            return conns.pop() if conns else None

    def _give_back(self, endpoint: str, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            conns = self._idle.setdefault(endpoint, [])
            if len(conns) < self._max_idle:
                conns.append(conn)
                return
        conn.close()

    def _connect(self, request: Request) -> http.client.HTTPConnection:
        parts = urlsplit(request.endpoint)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=request.timeout, context=self._ssl_context
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=request.timeout)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise RequestTimeout(f"connect timed out: {exc}", sent=False, endpoint=request.endpoint) from exc
        except OSError as exc:
            conn.close()
            if tls_failure(exc):
                raise TLSError(f"TLS failed: {exc}", endpoint=request.endpoint) from exc
            raise ConnectionFailed(f"cannot connect: {exc}", sent=False, endpoint=request.endpoint) from exc
        if conn.sock is not None and conn.sock.family in (socket.AF_INET, socket.AF_INET6):
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _send(self, conn: http.client.HTTPConnection, request: Request) -> http.client.HTTPResponse:
        if conn.sock is not None:
            conn.sock.settimeout(request.timeout)
        prefix = urlsplit(request.endpoint).path
        conn.request(request.method, prefix + request.target, request.body, dict(request.headers))
        return conn.getresponse()

    def _exchange(self, conn: http.client.HTTPConnection, request: Request, *, reused: bool) -> Response:
        with _mapped(conn, request.endpoint, reused=reused):
            resp = self._send(conn, request)
            body = resp.read()
        if resp.will_close:
            conn.close()
        else:
            self._give_back(request.endpoint, conn)
        return Response(resp.status, merge_headers(resp.getheaders()), body)


Handler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport:
    """A transport that answers every request by calling ``handler(request)``.

    The handler returns a :class:`Response` (or, for async clients, an
    awaitable of one) or raises :class:`ConnectionFailed` to simulate a dead
    endpoint.  Every request is appended to ``requests``.  Works with both
    :class:`~manifest_client.Registry` and :class:`~manifest_client.AsyncRegistry`.

    Watch streams go through the same handler: the answer's ``body`` is the
    whole stream (it ends, as if the server closed it), or its ``stream``
    yields chunks one by one and may raise :class:`ConnectionFailed` (the
    connection broke) or :class:`RequestTimeout` (the stream stalled).
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    def handle_request(self, request: Request) -> Response:
        """Answer synchronously."""
        with self._lock:
            self.requests.append(request)
        result = self.handler(request)
        if inspect.isawaitable(result):
            raise TypeError("an async handler needs an async client")
        return result

    async def handle_async_request(self, request: Request) -> Response:
        """Answer from a coroutine."""
        with self._lock:
            self.requests.append(request)
        result = self.handler(request)
        if inspect.isawaitable(result):
            result = await result
        return result

    def handle_stream(self, request: Request) -> Response:
        """Answer a stream: the handler's response, read through its ``stream`` or ``body``."""
        return self.handle_request(request)

    async def handle_async_stream(self, request: Request) -> Response:
        """Answer a stream from a coroutine."""
        return await self.handle_async_request(request)

    def close(self) -> None:
        """Nothing to release."""

    async def aclose(self) -> None:
        """Nothing to release."""
