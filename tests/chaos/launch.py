"""Start a Manifest node whose connections to its peers go through the chaos proxy.

Only for the fallback without network namespaces, where every node listens
on loopback and the proxy cannot sit transparently in between. The node code
is unchanged: ``socket.socket.connect`` is wrapped so a connection to a peer
address listed in ``CHAOS_REDIRECT`` (JSON ``{"127.0.0.1:7001":
"127.0.0.1:9012"}``) goes to that link's proxy port instead. pysyncobj still
sends the peer's real address in its handshake, so identities are untouched.
uvloop is kept out because its sockets bypass ``socket.socket``.

    CHAOS_REDIRECT='{...}' python -m tests.chaos.launch node --id n1 ...
"""

from __future__ import annotations

import json
import os
import socket
import sys


def install(redirect: dict[str, str]) -> None:
    table = {}
    for src, dst in redirect.items():
        host, _, port = src.rpartition(":")
        dhost, _, dport = dst.rpartition(":")
        table[(host, int(port))] = (dhost, int(dport))
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def target(address):
        if isinstance(address, tuple) and len(address) >= 2:
            return table.get((address[0], address[1]), address)
        return address

    def connect(self, address):
        return original_connect(self, target(address))

    def connect_ex(self, address):
        return original_connect_ex(self, target(address))

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex


def main() -> None:
    install(json.loads(os.environ.get("CHAOS_REDIRECT", "{}")))
    sys.modules["uvloop"] = None  # import uvloop -> ImportError: plain asyncio sockets
    from manifest_node.cli import main as node_main

    sys.argv = ["manifest", *sys.argv[1:]]
    node_main()


if __name__ == "__main__":
    main()
