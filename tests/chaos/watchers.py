"""Watch-stream consumers that survive node faults by resuming on another node.

Like ``tests/support/watcher.py`` but for chaos: a short read timeout (nodes
run with ``--watch-keepalive 1``) notices a paused or vanished node, the
watcher then resumes on the next node with ``Last-Event-ID``, and every
``hop_every`` seconds it moves deliberately: back to its home node, or from
home to the next one (so the watchers stay spread over the nodes). Each item records the node
that sent it; a ``reset`` keeps its full instance list so the final state can
be rebuilt from the stream.
"""

from __future__ import annotations

import http.client
import json
import threading

from .client import auth_headers, connection
from .history import Clock


def _summary(record: dict) -> list:
    return [record.get("status"), (record.get("metadata") or {}).get("v")]


class ChaosWatcher(threading.Thread):
    def __init__(self, name: str, nodes: dict[str, str], home: str, clock: Clock,
                 read_timeout: float = 3.0, hop_every: float | None = None):
        super().__init__(name=name, daemon=True)
        self.nodes, self.order = nodes, sorted(nodes)
        self.pos = self.home = self.order.index(home)
        self.clock, self.read_timeout, self.hop_every = clock, read_timeout, hop_every
        self.last = 0
        self.items: list[dict] = []
        self.errors: list[list] = []
        self._stop_event = threading.Event()
        self._conn: http.client.HTTPConnection | None = None

    @property
    def node(self) -> str:
        return self.order[self.pos % len(self.order)]

    def stop(self) -> None:
        self._stop_event.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(2)
            except OSError:
                pass
        self.join(10)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self._stream()
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                if self._stop_event.is_set():
                    return
                self.errors.append([round(self.clock.now(), 3), self.node, repr(exc)[:200]])
                self.pos += 1  # resume on the next node
                self._stop_event.wait(0.2)

    def _stream(self) -> None:
        node = self.node
        self._conn = conn = connection(self.nodes[node], self.read_timeout)
        conn.request("GET", "/v1/watch", headers={**auth_headers(), "Last-Event-ID": str(self.last)})
        resp = conn.getresponse()
        if resp.status != 200:
            raise ValueError(f"watch answered {resp.status}")
        hop_at = None if self.hop_every is None else self.clock.now() + self.hop_every
        current: dict = {}
        while not self._stop_event.is_set():
            if hop_at is not None and self.clock.now() > hop_at and not current:
                # Away from home: go back (watchers stay spread over the nodes); at home: visit the next.
                self.pos = self.home if self.pos % len(self.order) != self.home else self.pos + 1
                conn.close()
                return
            line = resp.fp.readline()
            if not line:
                raise OSError("stream closed")
            line = line.decode().rstrip("\n")
            if line == "" and "data" in current:
                self._item(node, int(current["id"]), current["event"], json.loads(current["data"]))
                current = {}
            elif line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                current[key] = value

    def _item(self, node: str, rev: int, kind: str, data: dict) -> None:
        t = round(self.clock.now(), 3)
        if kind == "reset":
            instances = {f"{i['name']}/{i['id']}": _summary(i) for i in data.get("instances", [])}
            self.items.append({"reset": rev, "instances": instances, "node": node, "t": t})
        elif kind == "protection":  # a service's change, not an instance's: keyed by the service alone
            self.items.append({"rev": rev, "kind": kind, "key": f"{data['name']}/",
                               "state": [data.get("protected"), data.get("reason")], "reason": data.get("reason"),
                               "node": node, "t": t})
        else:
            self.items.append({"rev": rev, "kind": kind, "key": f"{data['name']}/{data['id']}",
                               "state": _summary(data), "reason": data.get("reason"), "node": node, "t": t})
        self.last = rev
