"""I/O only: send one HTTP request to one endpoint and hand back the raw answer.

Three transports share the :class:`Request`/:class:`Response` pair:

* :class:`SyncTransport` on ``http.client`` with keep-alive connections per endpoint;
* :class:`AsyncTransport` on ``aiohttp``;
* :class:`MockTransport`, which answers from a function, for tests.

A transport never retries on another endpoint and never interprets status
codes: that is the client core's job.  It raises :class:`ConnectionFailed`
(or :class:`RequestTimeout`) when no answer came, with ``sent=False`` only when
the request provably never left (the connection could not be opened).
Non-idempotent requests always go out on a new connection, because a failure
on a reused keep-alive connection cannot tell whether the server saw them.
"""

from __future__ import annotations

import http.client
import inspect
import json
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ._errors import ConnectionFailed, RequestTimeout

__all__ = ["Request", "Response", "SyncTransport", "AsyncTransport", "MockTransport"]


@dataclass(frozen=True)
class Request:
    """One HTTP request bound for one endpoint.

    ``target`` is the path and query string (``/v1/services?status=up``);
    ``idempotent`` tells the transport whether a reused connection is safe.
    """

    method: str
    endpoint: str
    target: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float = 5.0
    idempotent: bool = True

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
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    endpoint: str = ""

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


def _merge_headers(pairs: Any) -> dict[str, str]:
    merged: dict[str, str] = {}
    for key, value in pairs:
        key = key.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


class _StaleConnection(Exception):
    """A reused keep-alive connection turned out to be closed by the server."""


class SyncTransport:
    """Blocking transport on ``http.client``; keeps idle connections per endpoint.

    Safe to share between threads: a connection is used by one request at a time.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_idle: int = 4) -> None:
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._idle: dict[str, list[http.client.HTTPConnection]] = {}
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

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

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
            raise ConnectionFailed(f"cannot connect: {exc}", sent=False, endpoint=request.endpoint) from exc
        if conn.sock is not None and conn.sock.family in (socket.AF_INET, socket.AF_INET6):
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _exchange(self, conn: http.client.HTTPConnection, request: Request, *, reused: bool) -> Response:
        prefix = urlsplit(request.endpoint).path
        try:
            if conn.sock is not None:
                conn.sock.settimeout(request.timeout)
            conn.request(request.method, prefix + request.target, request.body, dict(request.headers))
            resp = conn.getresponse()
            body = resp.read()
        except TimeoutError as exc:
            conn.close()
            raise RequestTimeout("no answer within timeout", sent=True, endpoint=request.endpoint) from exc
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            conn.close()
            if reused:
                raise _StaleConnection(str(exc)) from exc
            raise ConnectionFailed(f"connection lost: {exc}", sent=True, endpoint=request.endpoint) from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ConnectionFailed(
                f"connection failed: {exc!r}", sent=True, endpoint=request.endpoint
            ) from exc
        if resp.will_close:
            conn.close()
        else:
            self._give_back(request.endpoint, conn)
        return Response(resp.status, _merge_headers(resp.getheaders()), body)


class AsyncTransport:
    """Asyncio transport on ``aiohttp``; the session is created on first use."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, limit_per_host: int = 8) -> None:
        self._ssl_context = ssl_context
        self._limit_per_host = limit_per_host
        self._sessions: dict[bool, Any] = {}
        self._loop: Any = None

    def _session(self, fresh: bool) -> Any:
        # aiohttp is imported lazily so that sync-only programs and the CLI start fast.
        import asyncio

        import aiohttp

        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Sessions are bound to a loop; a new loop (another asyncio.run) needs new ones.
            self._sessions, self._loop = {}, loop
        session = self._sessions.get(fresh)
        if session is None or session.closed:
            ssl_arg: Any = self._ssl_context if self._ssl_context is not None else True
            connector = (
                aiohttp.TCPConnector(force_close=True, ssl=ssl_arg)
                if fresh
                else aiohttp.TCPConnector(limit_per_host=self._limit_per_host, ssl=ssl_arg)
            )
            session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
            self._sessions[fresh] = session
        return session

    async def handle_async_request(self, request: Request) -> Response:
        """Send ``request`` and return the answer, whatever its status."""
        import aiohttp

        session = self._session(fresh=not request.idempotent)
        timeout = aiohttp.ClientTimeout(total=request.timeout, connect=request.timeout)
        ep = request.endpoint
        try:
            async with session.request(
                request.method, request.url, data=request.body, headers=dict(request.headers),
                timeout=timeout, allow_redirects=False,
            ) as resp:
                body = await resp.read()
                return Response(resp.status, _merge_headers(resp.headers.items()), body)
        except aiohttp.ConnectionTimeoutError as exc:
            raise RequestTimeout("connect timed out", sent=False, endpoint=ep) from exc
        except aiohttp.ClientConnectorError as exc:
            raise ConnectionFailed(f"cannot connect: {exc}", sent=False, endpoint=ep) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise RequestTimeout("no answer within timeout", sent=True, endpoint=ep) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectionFailed(f"connection failed: {exc!r}", sent=True, endpoint=ep) from exc

    async def aclose(self) -> None:
        """Close the aiohttp sessions."""
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()


Handler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport:
    """A transport that answers every request by calling ``handler(request)``.

    The handler returns a :class:`Response` (or, for async clients, an
    awaitable of one) or raises :class:`ConnectionFailed` to simulate a dead
    endpoint.  Every request is appended to ``requests``.  Works with both
    :class:`~manifest_client.Registry` and :class:`~manifest_client.AsyncRegistry`.
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

    def close(self) -> None:
        """Nothing to release."""

    async def aclose(self) -> None:
        """Nothing to release."""
