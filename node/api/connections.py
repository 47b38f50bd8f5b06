"""Which TCP connections the HTTP server takes, and how long a request head may take.

aiohttp takes every connection it is offered and waits for a request head
as long as for an idle keep-alive connection. Here, before aiohttp sees a
connection:

- past ``max_connections`` open ones it is closed at once;
- when fewer than ``fd_headroom`` file descriptors remain below
  RLIMIT_NOFILE it is closed at once too, so that the node's own files
  (journal, snapshot, meta) and its Raft links always find a descriptor:
  80 idle connections under a limit of 64 made every snapshot and meta
  write fail with EMFILE;
- once a request's first bytes arrived, its head must be complete within
  ``header_timeout`` (a slowloris sending a header line every few seconds is
  closed), while an idle connection waits ``idle_timeout`` (aiohttp's
  keep-alive timer, set in app.py).

Each refusal or timeout is counted (metrics.py). The guard admits sockets
as the listener accepts them (listener.py) and wraps aiohttp's protocol
objects; ``GuardedSite`` is a TCPSite whose listener is ours.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time

from aiohttp import web

from .listener import Acceptor, listen

log = logging.getLogger("manifest.http")

# How often the count of descriptors not held by client connections is taken
# again (a listing of /proc/self/fd, too dear for every connection).
_RECOUNT_EVERY = 1.0


def open_fds() -> int | None:
    """Descriptors this process holds, or None where that cannot be known."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # the listing's own descriptor
    except OSError:
        return None


def fd_limit() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


class ConnectionGuard:
    """Admits connections and counts them. One per node; runs on the event loop only."""

    def __init__(self, cfg, metrics, count_fds=open_fds, limit_fds=fd_limit, clock=time.monotonic):
        self.max_connections = cfg.max_connections
        self.fd_headroom = cfg.fd_headroom
        self.header_timeout = cfg.header_timeout
        self.metrics = metrics
        self.open = 0
        self.pending = 0  # admitted by the listener (listener.py), protocol not made yet
        self._count_fds, self._limit_fds, self._clock = count_fds, limit_fds, clock
        self._base_fds: int | None = None  # descriptors besides client connections, at the last count
        self._limit: int | None = None
        self._counted_at = float("-inf")

    def warn_if_starved(self) -> None:
        limit, held = self._limit_fds(), self._count_fds()
        if limit is not None and held is not None and limit - held - self.fd_headroom < 64:
            log.warning("few file descriptors for connections: RLIMIT_NOFILE %d, %d in use, "
                        "fd_headroom %d; raise the limit (ulimit -n)", limit, held, self.fd_headroom)

    def _fds_short(self) -> bool:
        now = self._clock()
        if now - self._counted_at >= _RECOUNT_EVERY:
            self._counted_at = now
            self._limit = self._limit_fds()
            held = self._count_fds()
            self._base_fds = None if held is None else held - self.open
        if self._limit is None or self._base_fds is None:
            return False
        # The connection being admitted holds one descriptor already.
        return self._base_fds + self.open + self.pending + 1 > self._limit - self.fd_headroom

    def admit(self) -> str | None:
        """None to take a new connection, else the name of the limit that refuses it."""
        if self.open + self.pending >= self.max_connections:
            return "max_connections"
        if self.fd_headroom and self._fds_short():
            return "fd_headroom"
        return None

    def factory(self, server: web.Server):
        """The listener's protocol factory: a guarded aiohttp request handler per connection."""
        return lambda: _GuardedConnection(self, server)


def _waiting_for_head(handler) -> bool:
    # aiohttp's own test of "idle between requests" (RequestHandler._process_keepalive);
    # an aiohttp without it makes this False, leaving slow heads to the idle timeout.
    waiter = getattr(handler, "_waiter", None)
    return waiter is not None and not waiter.done()


class _GuardedConnection(asyncio.Protocol):
    """aiohttp's RequestHandler for one connection, behind the guard's admission and head deadline."""

    __slots__ = ("_guard", "_server", "_inner", "_transport", "_head_timer")

    def __init__(self, guard: ConnectionGuard, server: web.Server):
        self._guard, self._server = guard, server
        self._inner = self._transport = self._head_timer = None

    def connection_made(self, transport) -> None:
        # The listener admitted it already (listener.py).
        self._guard.open += 1
        self._guard.metrics.connections.inc()
        self._transport = transport
        self._inner = self._server()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        inner = self._inner
        if inner is None:
            return
        inner.data_received(data)
        if _waiting_for_head(inner):  # part of a head came: it has header_timeout to finish
            if self._head_timer is None:
                loop = asyncio.get_running_loop()
                self._head_timer = loop.call_later(self._guard.header_timeout, self._head_overdue)
        elif self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self._inner is not None and _waiting_for_head(self._inner) and self._transport is not None:
            self._guard.metrics.timeouts.labels("header").inc()
            self._transport.close()

    def eof_received(self):
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc) -> None:
        if self._inner is None:
            return
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._guard.open -= 1
        self._guard.metrics.connections.dec()
        inner, self._inner, self._transport = self._inner, None, None
        inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class GuardedSite(web.BaseSite):
    """aiohttp's TCPSite, but its listener hands each connection to the guard first."""

    __slots__ = ("_host", "_port", "_guard", "_tls")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard, backlog: int = 128,
                 ssl_context=None):
        super().__init__(runner, backlog=backlog)
        self._host, self._port, self._guard, self._tls = host, port, guard, ssl_context

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{'https' if self._tls else 'http'}://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        sock = listen(self._host, self._port, self._backlog)
        # A handshake is held to the same deadline as a request head (slowloris over TLS).
        self._server = Acceptor(sock, self._guard, self._guard.factory(self._runner.server), self._backlog,
                                ssl=self._tls, ssl_handshake_timeout=self._guard.header_timeout)

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return self._server.sockets[0].getsockname()[1]
