"""A userspace TCP proxy with per-link faults, run as its own process.

One listener per directed link (``n1>n2``: connections n1 opens to n2). Each
link is ``pass``, ``blackhole`` (bytes are held, both ways, until the link
passes again, the way TCP retransmits across a partition), or ``reset``
(connections are aborted and new ones refused with a RST). On top of that a
link may add ``delay_ms`` to every chunk (order kept) and, with ``loss``,
stall a chunk for 200-600 ms with that probability (a userspace stand-in
for retransmissions; real loss is iptables' job when namespaces exist).

Control: one JSON object per line on stdin, answered with ``ok`` or
``error: ...`` on stdout::

    {"op": "listen", "link": "n1>n2", "listen": "10.99.7.1:9012", "target": "10.99.7.12:8501",
     "source": "10.99.7.101"}            (optional: connect onwards from this address)
    {"op": "set", "link": "n1>n2", "mode": "pass", "delay_ms": 150, "loss": 0.0}

End of stdin (the test process went away) stops the proxy.

    python -m tests.chaos.proxy
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import sys
import time


class Link:
    def __init__(self, name: str, target: tuple[str, int], source: str | None = None):
        self.name, self.target, self.source = name, target, source
        self.mode, self.delay, self.loss = "pass", 0.0, 0.0
        self.changed = asyncio.Event()
        self.conns: set = set()

    def set(self, mode: str, delay_ms: float, loss: float) -> None:
        self.mode, self.delay, self.loss = mode, delay_ms / 1000.0, loss
        if mode == "reset":
            for w in list(self.conns):
                _abort(w)
        self.changed.set()
        self.changed = asyncio.Event()

    async def passable(self) -> None:
        while self.mode == "blackhole":
            await self.changed.wait()


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:  # linger 0: close sends a RST, like a refused or reset connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def _pump(link: Link, reader, writer, peer_writer) -> None:
    queue: asyncio.Queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            await link.passable()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await link.passable()
            peer_writer.write(data)
            await peer_writer.drain()

    task = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(65536)
            due = time.monotonic() + link.delay
            if link.loss and random.random() < link.loss:
                due += random.uniform(0.2, 0.6)
            await queue.put((due, data or None))
            if not data:
                break
        await task
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        task.cancel()


async def _handle(link: Link, reader, writer) -> None:
    if link.mode == "reset":
        _abort(writer)
        return
    try:
        up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(
            *link.target, local_addr=(link.source, 0) if link.source else None), 5)
    except (OSError, asyncio.TimeoutError):
        _abort(writer)
        return
    link.conns.update((writer, up_writer))
    pumps = [asyncio.create_task(_pump(link, reader, writer, up_writer)),
             asyncio.create_task(_pump(link, up_reader, up_writer, writer))]
    try:  # either side ending ends the connection (Raft needs no half-close)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in pumps:
            t.cancel()
        link.conns.difference_update((writer, up_writer))
        for w in (writer, up_writer):
            w.transport.abort()


def _hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


async def main() -> None:
    links: dict[str, Link] = {}
    servers = []
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while True:
        line = await stdin.readline()
        if not line:
            break
        try:
            cmd = json.loads(line)
            if cmd["op"] == "listen":
                link = links[cmd["link"]] = Link(cmd["link"], _hostport(cmd["target"]), cmd.get("source"))
                host, port = _hostport(cmd["listen"])
                servers.append(await asyncio.start_server(
                    lambda r, w, link=link: _handle(link, r, w), host, port, reuse_address=True))
            elif cmd["op"] == "set":
                links[cmd["link"]].set(cmd.get("mode", "pass"), float(cmd.get("delay_ms", 0)),
                                       float(cmd.get("loss", 0)))
            else:
                raise ValueError(f"unknown op {cmd['op']!r}")
            reply = "ok"
        except Exception as exc:  # the controller reads the reason
            reply = f"error: {exc!r}"
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
