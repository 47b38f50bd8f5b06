"""Start a Manifest node with test-only instrumentation: connection redirects and an apply trace.

``CHAOS_REDIRECT`` (the fallback without network namespaces, where every node
listens on loopback and the proxy cannot sit transparently in between): JSON
``{"127.0.0.1:7001": "127.0.0.1:9012"}``. ``socket.socket.connect`` is wrapped
so a connection to a listed peer address goes to that link's proxy port;
pysyncobj still sends the peer's real address in its handshake, so
identities are untouched.

``CHAOS_TRACE`` (diagnosis, ``--trace-apply``): a file that gets one JSON line
per state-machine call: ``apply`` with the Raft index, the envelope's digest,
stamp and term, and revision/epoch/clock/held before and after; ``restore`` with
the snapshot's revision. ``python -m tests.chaos.trace DIR`` compares nodes.

The node code is unchanged; this only wraps it from outside.

    CHAOS_REDIRECT='{...}' CHAOS_TRACE=n1.trace.jsonl python -m tests.chaos.launch node --id n1 ...
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import threading


def install_redirect(redirect: dict[str, str]) -> None:
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


def install_trace(path: str) -> None:
    from manifest_node.consensus import adapter
    from manifest_node.fsm import commands as C
    from manifest_node.fsm.registry import RegistryState

    out = open(path, "a", buffering=1)
    lock = threading.Lock()
    raft = {}
    original_init, original_apply, original_restore = adapter.RaftNode.__init__, RegistryState.apply, \
        RegistryState.restore

    def init(self, *a, **kw):
        raft["node"] = self
        original_init(self, *a, **kw)

    def write(row: dict) -> None:
        with lock:
            out.write(json.dumps(row) + "\n")

    def apply(self, data):
        node = raft.get("node")
        before = (self.revision, self.epoch, self.clock, self.held, self._next_deadline)
        outcome = original_apply(self, data)
        try:
            env = C.decode(data)
            stamp, term, kinds = env.ts_ms, env.term, [c[0] for c in env.commands]
        except Exception:
            stamp = term = kinds = None
        write({"op": "apply", "index": node.raftLastApplied + 1 if node is not None else None,
               "digest": hashlib.sha1(bytes(data)).hexdigest()[:12], "ts": stamp, "term": term,
               "kinds": kinds, "before": before, "after": (self.revision, self.epoch, self.clock, self.held),
               "events": [[e.revision, e.kind, e.record["name"], e.record["id"]] for e in outcome.events]})
        return outcome

    def restore(self, data):
        original_restore(self, data)
        node = raft.get("node")
        write({"op": "restore", "revision": self.revision, "epoch": self.epoch, "clock": self.clock,
               "held": self.held,
               "last_applied": node.raftLastApplied if node is not None else None})

    adapter.RaftNode.__init__, RegistryState.apply, RegistryState.restore = init, apply, restore
    write({"op": "start", "pid": os.getpid()})


def main() -> None:
    redirect = json.loads(os.environ.get("CHAOS_REDIRECT", "{}"))
    if redirect:
        install_redirect(redirect)
    if os.environ.get("CHAOS_TRACE"):
        install_trace(os.environ["CHAOS_TRACE"])
    from manifest_node.entry import main as node_main

    sys.argv = ["manifest", *sys.argv[1:]]
    node_main()


if __name__ == "__main__":
    main()
