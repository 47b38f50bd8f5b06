"""Client workloads, each a bounded thread that records into the history.

- ``Writer``: registers (metadata ``{"v": <unique>}``) or deregisters one of a
  fixed set of keys ``chaos/k0..`` on a random node.
- ``Reader``: linearizable (``get``) or local (``lget``) reads of one key.
- ``Heartbeater``: keeps one ``hb/*`` instance alive (every ttl/3, rotating
  to the next node on failure), optionally stopping at a set time.
- ``Sampler``: local reads of the ``hb`` service on every node, to catch a
  node reporting a live instance ``down``; and of the ``chk`` service, whose
  instances only a leader-run health check keeps alive, to catch a flap.
- ``Drainer``: registers ``drain/*`` instances and drains them with a short
  deadline on a random node; the leader's tick must remove each.

Heartbeats carry the generation their registration returned (fencing): a
live heartbeater told ``409 stale_generation`` is an unexpected answer.

Keyed instances use a ttl of a day so only writes change them.
"""

from __future__ import annotations

import random
import threading

from .client import request, unexpected, write_outcome
from .history import History

SERVICE, HB_SERVICE, KEY_TTL = "chaos", "hb", 86400
CHECK_SERVICE, DRAIN_SERVICE, DRAIN_DEADLINE = "chk", "drain", 1.0


def register_body(key_id: str, value: str, service: str = SERVICE, ttl: int = KEY_TTL) -> dict:
    return {"name": service, "id": key_id, "metadata": {"v": value}, "ttl": ttl}


def do_put(h: History, proc: str, url: str, node: str, key_id: str, value: str, timeout: float = 3.0):
    op = h.begin(proc, "put", f"{SERVICE}/{key_id}", node, value=value)
    r = request(url, "POST", "/v1/services", register_body(key_id, value), timeout=timeout)
    h.finish(op, write_outcome(r), status=r.status, code=r.code,
             flag=(r.status == 201) if r.status in (200, 201) else None)
    if unexpected(r, allow_404=False):
        op.extra["unexpected"] = True
    return op


def do_del(h: History, proc: str, url: str, node: str, key_id: str, timeout: float = 3.0):
    op = h.begin(proc, "del", f"{SERVICE}/{key_id}", node)
    r = request(url, "DELETE", f"/v1/services/{SERVICE}/{key_id}", timeout=timeout)
    if r.status == 404 and r.code == "not_found":
        h.finish(op, "ok", status=404, code=r.code, flag=False)
    else:
        h.finish(op, write_outcome(r), status=r.status, code=r.code,
                 flag=True if r.status == 200 else None)
    if unexpected(r):
        op.extra["unexpected"] = True
    return op


def do_get(h: History, proc: str, url: str, node: str, key_id: str, linearizable: bool,
           timeout: float = 3.0, service: str = SERVICE):
    op = h.begin(proc, "get" if linearizable else "lget", f"{service}/{key_id}", node)
    path = f"/v1/services/{service}/{key_id}" + ("?consistency=linearizable" if linearizable else "")
    r = request(url, "GET", path, timeout=timeout)
    if r.status == 200 and isinstance(r.body, dict):
        h.finish(op, "ok", status=200, value=r.body.get("metadata", {}).get("v"))
        op.extra["status"] = r.body.get("status")
    elif r.status == 404 and r.code == "not_found":
        h.finish(op, "ok", status=404, value=None)
    else:
        h.finish(op, "fail", status=r.status, code=r.code)
    if unexpected(r):
        op.extra["unexpected"] = True
    return op


class Worker(threading.Thread):
    def __init__(self, name: str, nodes: dict[str, str], history: History, stop: threading.Event, seed: str):
        super().__init__(name=name, daemon=True)
        self.nodes, self.h, self.stop_event = nodes, history, stop
        self.rng = random.Random(f"{seed}/{name}")

    def pick(self) -> tuple[str, str]:
        node = self.rng.choice(sorted(self.nodes))
        return node, self.nodes[node]


class Writer(Worker):
    def __init__(self, *a, keys: list[str], p_delete: float = 0.15, pause=(0.01, 0.06), **kw):
        super().__init__(*a, **kw)
        self.keys, self.p_delete, self.pause = keys, p_delete, pause

    def run(self) -> None:
        n = 0
        while not self.stop_event.is_set():
            key = self.rng.choice(self.keys)
            node, url = self.pick()
            if self.rng.random() < self.p_delete:
                do_del(self.h, self.name, url, node, key)
            else:
                n += 1
                do_put(self.h, self.name, url, node, key, f"{self.name}-{n}")
            self.stop_event.wait(self.rng.uniform(*self.pause))


class Reader(Worker):
    def __init__(self, *a, keys: list[str], linearizable: bool, pause=(0.01, 0.05), **kw):
        super().__init__(*a, **kw)
        self.keys, self.linearizable, self.pause = keys, linearizable, pause

    def run(self) -> None:
        while not self.stop_event.is_set():
            node, url = self.pick()
            do_get(self.h, self.name, url, node, self.rng.choice(self.keys), self.linearizable)
            self.stop_event.wait(self.rng.uniform(*self.pause))


class Heartbeater(Worker):
    """Heartbeats ``hb/<instance>`` every ttl/3 until ``stop_at`` (run time) or the end."""

    def __init__(self, *a, instance: str, ttl: float, stop_at: float | None = None,
                 generation: int | None = None, **kw):
        super().__init__(*a, **kw)
        self.instance, self.ttl, self.stop_at = instance, ttl, stop_at
        self.generation = generation
        self.stopped_at: float | None = None
        self.current = self.rng.randrange(len(self.nodes))

    def run(self) -> None:
        order = sorted(self.nodes)
        while not self.stop_event.is_set():
            if self.stop_at is not None and self.h.clock.now() >= self.stop_at:
                self.stopped_at = self.h.clock.now()
                return
            began = self.h.clock.now()
            for _ in range(len(order)):
                node = order[self.current % len(order)]
                op = self.h.begin(self.name, "hb", f"{HB_SERVICE}/{self.instance}", node)
                body = None if self.generation is None else {"generation": self.generation}
                r = request(self.nodes[node], "PUT", f"/v1/services/{HB_SERVICE}/{self.instance}/heartbeat",
                            body, timeout=2.5)
                outcome = "ok" if r.status == 200 else write_outcome(r)
                self.h.finish(op, outcome, status=r.status, code=r.code)
                if r.status in (200, 404):  # 404: the registry lost it (a checker flags that)
                    break
                self.current += 1  # rotate on failure
            self.stop_event.wait(max(0.05, self.ttl / 3 - (self.h.clock.now() - began)))


class Sampler(Worker):
    """Every ``period``, one node's local view of the hb service (nodes in turn)."""

    def __init__(self, *a, period: float = 0.5, **kw):
        super().__init__(*a, **kw)
        self.period, self.samples = period, []

    def run(self) -> None:
        order, i = sorted(self.nodes), 0
        while not self.stop_event.is_set():
            node = order[i % len(order)]
            i += 1
            t = self.h.clock.now()
            r = request(self.nodes[node], "GET", f"/v1/services/{HB_SERVICE}", timeout=1.5)
            c = request(self.nodes[node], "GET", f"/v1/services/{CHECK_SERVICE}", timeout=1.5)
            if r.status == 200 and isinstance(r.body, dict):
                statuses = {inst["id"]: inst["status"] for inst in r.body.get("instances", [])}
                checked = ({inst["id"]: inst["status"] for inst in c.body.get("instances", [])}
                           if c.status == 200 and isinstance(c.body, dict) else {})
                self.samples.append({"t": t, "node": node, "statuses": statuses, "checked": checked})
            self.stop_event.wait(self.period)


class Drainer(Worker):
    """Registers ``drain/dN`` and drains it with a deadline; the leader's tick removes it."""

    def __init__(self, *a, pause=(0.3, 0.8), **kw):
        super().__init__(*a, **kw)
        self.pause = pause

    def run(self) -> None:
        n = 0
        while not self.stop_event.is_set():
            n += 1
            key = f"d{n}"
            node, url = self.pick()
            op = self.h.begin(self.name, "reg", f"{DRAIN_SERVICE}/{key}", node)
            r = request(url, "POST", "/v1/services", {"name": DRAIN_SERVICE, "id": key, "ttl": KEY_TTL},
                        timeout=3.0)
            self.h.finish(op, write_outcome(r), status=r.status, code=r.code)
            if r.status in (200, 201):
                node, url = self.pick()
                op = self.h.begin(self.name, "drain", f"{DRAIN_SERVICE}/{key}", node)
                r = request(url, "PUT", f"/v1/services/{DRAIN_SERVICE}/{key}/drain",
                            {"deadline": DRAIN_DEADLINE}, timeout=3.0)
                self.h.finish(op, write_outcome(r), status=r.status, code=r.code)
            if unexpected(r):
                op.extra["unexpected"] = True
            self.stop_event.wait(self.rng.uniform(*self.pause))
