"""The HTTP listener's accept loop: the connection guard decides before a socket costs more than a moment.

asyncio's own accept loop takes up to ``backlog`` sockets per turn of the
loop and hands each to a task that makes its transport and protocol a turn
or two later, so the guard saw a connection only after several more batches
had been accepted. Under a flood of idle connections the sockets accepted
but not yet refused piled up past RLIMIT_NOFILE (EMFILE on accept, then on
the journal and the snapshot: tests/cluster/test_fd_headroom.py failed that
way 1 run in 6). Here each socket is judged the moment it is accepted: a
refused one is closed before the next accept, an admitted one counts as
pending until its protocol exists.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

log = logging.getLogger("manifest.http")

# What accept() answers when the process or the system is out of something:
# stop accepting for a moment instead of spinning (asyncio waits 1 s too).
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_RETRY_AFTER = 1.0


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """A non-blocking listening socket on ``host:port`` (IPv4 or IPv6), SO_REUSEADDR as asyncio sets it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class Acceptor:
    """Accepts on ``sock`` while open; what aiohttp's site needs of a server (``close``, ``sockets``)."""

    def __init__(self, sock: socket.socket, guard, protocol_factory, batch: int, ssl=None,
                 ssl_handshake_timeout: float | None = None):
        self.sockets = [sock]
        self._sock, self._guard, self._factory, self._batch = sock, guard, protocol_factory, batch
        self._tls = {"ssl": ssl, "ssl_handshake_timeout": ssl_handshake_timeout} if ssl is not None else {}
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._starved = False
        self._resume()

    def _resume(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        for _ in range(self._batch):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:  # the client gave up before we took it
                continue
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                if not self._starved:  # one line per episode, not one per attempt
                    log.error("cannot accept connections: %s; retrying every %.0f s", exc.strerror, _RETRY_AFTER)
                    self._starved = True
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(_RETRY_AFTER, self._resume)
                return
            if self._starved:
                log.info("accepting connections again")
                self._starved = False
            refused = self._guard.admit()
            if refused is not None:
                self._guard.metrics.refused(refused)
                conn.close()  # now: no descriptor is held past this line
                continue
            conn.setblocking(False)
            self._guard.pending += 1
            task = self._loop.create_task(self._hand_over(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _hand_over(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn, **self._tls)
        except (OSError, asyncio.TimeoutError) as exc:  # a TLS handshake that failed or timed out
            log.debug("connection dropped before its first request: %r", exc)
            conn.close()
        finally:
            self._guard.pending -= 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
