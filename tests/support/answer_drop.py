"""An HTTP/1.1 proxy in front of one real node that can lose answers on their way back.

For the client's write outcomes (issue 17, point 7): the request reaches the
node and is applied, and the client never hears so. ``plan`` decides per
request, in order, from its method and path: ``"pass"`` forwards it and its
answer, ``"drop"`` forwards it, reads the node's whole answer and closes the
client's connection instead of sending it, ``"reset"`` closes the client's
connection without forwarding anything, ``"close"`` stops listening
altogether (later connections are refused: the request provably never left
the client). Requests the plan does not match pass.

Only what the client library sends is handled: one request at a time per
connection, bodies with Content-Length, answers with Content-Length.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from .cluster import free_port

Plan = Callable[[str, str], str]  # (method, path) -> "pass" | "drop" | "reset" | "close"


def _read_message(sock: socket.socket, buf: bytearray) -> bytes | None:
    """One HTTP message (head and Content-Length body) from ``sock``, or None at EOF."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head_end = buf.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buf[:head_end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(buf) < head_end + length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    message = bytes(buf[:head_end + length])
    del buf[:head_end + length]
    return message


class AnswerDropProxy:
    def __init__(self, upstream_port: int, plan: Plan) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.plan = plan
        self.port = free_port()
        self.seen: list[tuple[str, str, str]] = []  # (method, path, what was done)
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._listener.close()

    def __enter__(self) -> AnswerDropProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        buf = bytearray()
        with client, socket.create_connection(self.upstream) as node:
            node_buf = bytearray()
            while True:
                request = _read_message(client, buf)
                if request is None:
                    return
                method, path = request.split(b" ", 2)[:2]
                method, path = method.decode(), path.decode().partition("?")[0]
                action = self.plan(method, path)
                self.seen.append((method, path, action))
                if action == "close":
                    self.close()
                    return
                if action == "reset":
                    return
                node.sendall(request)
                answer = _read_message(node, node_buf)
                if answer is None or action == "drop":
                    return  # the node applied it; the client hears nothing
                client.sendall(answer)


def drop_first(method: str, path_prefix: str, then: str = "pass", meanwhile=None) -> Plan:
    """Drop the first answer to ``method`` on a path under ``path_prefix``; ``then`` for later ones.
    ``meanwhile()``, if given, runs before each later one goes on (something that happens on the
    cluster between the two attempts)."""
    state = {"dropped": False}

    def plan(m: str, p: str) -> str:
        if m != method or not p.startswith(path_prefix):
            return "pass"
        if not state["dropped"]:
            state["dropped"] = True
            return "drop"
        if meanwhile is not None:
            meanwhile()
        return then

    return plan


def hiding_members(plan: Plan) -> Plan:
    """``plan``, but ``GET /v1/cluster`` fails: a client with member discovery on knows only the proxy."""
    return lambda m, p: "reset" if p == "/v1/cluster" else plan(m, p)
