"""A raw TCP HTTP/1.1 client for tests: bytes exactly as given, in as many writes as given.

Real clients write a request in one go; these tests need the cases real
clients only produce on slow networks or by mistake: a body in pieces, a
body shorter than its Content-Length, a half-closed connection.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass


@dataclass
class RawReply:
    status: int | None  # None: the server closed the connection without an answer
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def request_bytes(method: str, path: str, body: bytes = b"", headers: dict | None = None,
                  length: int | None = None) -> bytes:
    """A request head (Content-Length = ``length``, default len(body)) followed by ``body``."""
    hdrs = {"Host": "test", **(headers or {})}
    if "Transfer-Encoding" not in hdrs:
        hdrs.setdefault("Content-Length", str(len(body) if length is None else length))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    return head.encode() + body


def chunked(body: bytes, pieces: int = 2, last: bool = True) -> bytes:
    """``body`` in chunked framing; ``last=False`` leaves out the terminating chunk."""
    step = max(1, -(-len(body) // pieces))
    out = b"".join(b"%x\r\n%b\r\n" % (len(body[i:i + step]), body[i:i + step])
                   for i in range(0, len(body), step))
    return out + (b"0\r\n\r\n" if last else b"")


async def exchange(port: int, parts: list[bytes], pause: float = 0.3, end: str = "keep",
                   timeout: float = 10.0) -> RawReply:
    """Send ``parts`` as separate writes ``pause`` s apart, then read one answer.

    ``end``: ``keep`` leaves the connection open, ``shut_wr`` half-closes it,
    ``close`` closes it (any answer is then lost; the reply is status None).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        for i, part in enumerate(parts):
            if i:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        if end == "shut_wr":
            writer.write_eof()
        elif end == "close":
            writer.close()
            return RawReply(None, {}, b"")
        return await asyncio.wait_for(read_reply(reader), timeout)
    finally:
        writer.close()


async def read_reply(reader: asyncio.StreamReader) -> RawReply:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionResetError):
        return RawReply(None, {}, b"")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
    return RawReply(status, headers, body)


async def closed_by_server(reader: asyncio.StreamReader, timeout: float) -> bool:
    """Whether the server closes the connection within ``timeout`` (reading and dropping any bytes)."""
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
