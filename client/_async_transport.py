"""The asyncio transport on ``aiohttp`` (see ``_transport.py`` for what a transport does)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from ._errors import ConnectionFailed, ManifestError, RequestTimeout, TLSError
from ._http import Request, Response
from ._transport import SyncTransport, merge_headers, tls_failure

__all__ = ["AsyncTransport"]

_CHUNK = 65536


def _failure(exc: BaseException, endpoint: str, *, timed_out: str = "no answer within timeout") -> ManifestError | None:
    """The client's error for an aiohttp failure, or ``None`` when it is not one (a bug: re-raise)."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorCertificateError) or (
            isinstance(exc, aiohttp.ClientConnectorSSLError) and tls_failure(exc.os_error)):
        return TLSError(f"TLS failed: {exc}", endpoint=endpoint)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return RequestTimeout("connect timed out", sent=False, endpoint=endpoint)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectionFailed(f"cannot connect: {exc}", sent=False, endpoint=endpoint)
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return RequestTimeout(timed_out, sent=True, endpoint=endpoint)
    if isinstance(exc, aiohttp.ClientError | OSError):
        return ConnectionFailed(f"connection failed: {exc!r}", sent=True, endpoint=endpoint)
    return None


class _AsyncStream:
    """A streamed body; closing it closes its connection (never handed back mid-stream)."""

    def __init__(self, resp: Any, request: Request) -> None:
        self._resp = resp
        self._endpoint = request.endpoint
        self._stalled = f"stream stalled: nothing received for {request.read_timeout or request.timeout:g} s"

    def __aiter__(self) -> _AsyncStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._resp.content.readany()
        except Exception as exc:
            self._resp.close()
            error = _failure(exc, self._endpoint, timed_out=self._stalled)
            if error is None:
                raise
            raise error from exc
        if not chunk:
            self._resp.close()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        self._resp.close()


class AsyncTransport:
    """Asyncio transport on ``aiohttp``; the session is created on first use.

    ``ssl_context`` applies to every ``https://`` endpoint: requests, streams,
    and the blocking :meth:`handle_request` used where no loop can be awaited.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, limit_per_host: int = 8) -> None:
        self._ssl_context = ssl_context
        self._limit_per_host = limit_per_host
        self._sessions: dict[bool, Any] = {}
        self._loop: Any = None
        self._blocking: SyncTransport | None = None

    def _session(self, fresh: bool) -> Any:
        # aiohttp is imported lazily so that sync-only programs and the CLI start fast.
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

    async def _open(self, request: Request, session: Any, timeout: Any) -> Any:
        try:
            return await session.request(
                request.method, request.url, data=request.body, headers=dict(request.headers),
                timeout=timeout, allow_redirects=False,
            )
        except Exception as exc:
            error = _failure(exc, request.endpoint)
            if error is None:
                raise
            raise error from exc

    async def handle_async_request(self, request: Request) -> Response:
        """Send ``request`` and return the answer, whatever its status."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=request.timeout, connect=request.timeout)
        resp = await self._open(request, self._session(fresh=not request.idempotent), timeout)
        try:
            body = await resp.read()
        except Exception as exc:
            resp.close()
            error = _failure(exc, request.endpoint)
            if error is None:
                raise
            raise error from exc
        resp.release()
        return Response(resp.status, merge_headers(resp.headers.items()), body)

    async def handle_async_stream(self, request: Request) -> Response:
        """Send ``request`` on a connection of its own; return once the headers are in.

        The answer's ``stream`` yields the body as it arrives; a wait longer than
        ``request.read_timeout`` raises :class:`RequestTimeout`. Streams never
        take a slot of the pooled connections that requests share.
        """
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, connect=request.timeout,
                                        sock_read=request.read_timeout or request.timeout)
        try:
            # The headers are due within ``timeout``; only the body may be slower.
            resp = await asyncio.wait_for(self._open(request, self._session(fresh=True), timeout),
                                          request.timeout)
        except TimeoutError as exc:
            raise RequestTimeout("no answer within timeout", sent=True, endpoint=request.endpoint) from exc
        return Response(resp.status, merge_headers(resp.headers.items()), stream=_AsyncStream(resp, request))

    def handle_request(self, request: Request) -> Response:
        """Send ``request`` with blocking I/O, for signal handlers and ``atexit`` (no loop to await)."""
        if self._blocking is None:
            self._blocking = SyncTransport(ssl_context=self._ssl_context)
        return self._blocking.handle_request(request)

    async def aclose(self) -> None:
        """Close the aiohttp sessions (and the blocking connections, if any)."""
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()
        if self._blocking is not None:
            self._blocking.close()
