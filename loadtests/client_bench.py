"""The Python client on a real 3-node cluster: heartbeats through leader kills, and discover() cost (issue 3).

    python -m loadtests.client_bench [--kills 5] [--ttl 3] [--calls 2000] [--instances 10]

1. One instance registered with ``Registry(...).register(ttl=3)`` (heartbeats
   every ttl/3 = 1 s) while the leader is SIGKILLed ``--kills`` times in a row:
   kill (by default 0.1 s before a heartbeat is due, so that the beat meets
   the election), wait for a new leader, restart the killed node, wait until
   every node is ready, let it settle for one TTL, next kill.  Every live, ready node is
   asked for the instance every 0.1 s; any ``down`` or missing answer counts
   (there must be none).  The client's failed heartbeats are counted from its
   own log records, with the longest run of consecutive failures per kill.
2. ``discover()`` of a service with ``--instances`` up instances, ``--calls``
   calls each without and with the stale-if-error cache, one client, one
   request at a time, in interleaved blocks; a raw keep-alive ``http.client``
   GET of the same URL on the same node is the baseline, so the difference is
   what the client itself adds.

Exit status 1 when the instance was ever seen down or missing.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from manifest_client import Registry
from tests.support.cluster import Cluster, Node
from tests.support.http import call

SERVICE_HB = "bench-heartbeat"
SERVICE_DISCOVER = "bench-discover"


# ---- part 1: heartbeats through leader kills --------------------------------------------------

class FailureLog(logging.Handler):
    """Collects the client's own 'heartbeat ... failed (N in a row)' and re-registration records."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.failures: list[tuple[float, int, str]] = []  # (monotonic, run length, error)
        self.reregistrations: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.msg if isinstance(record.msg, str) else ""
        if msg.startswith("heartbeat for") and record.args and len(record.args) >= 4:
            self.failures.append((time.monotonic(), int(record.args[2]), str(record.args[3])))
        elif msg.startswith("registry forgot"):
            self.reregistrations.append(time.monotonic())


@dataclass
class Poller:
    """Asks every watched node for the instance every ``interval`` seconds, in a thread."""

    name: str
    iid: str
    interval: float = 0.1
    watched: list[Node] = field(default_factory=list)
    observations: int = 0
    bad: list[tuple[float, str, str]] = field(default_factory=list)  # (monotonic, node, "down"/"missing")
    errors: list[tuple[float, str, str]] = field(default_factory=list)
    per_node: dict[str, int] = field(default_factory=dict)
    handle: object = None  # the Registration, to sample the time since its last accepted heartbeat
    silences: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, seconds)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, node: Node) -> None:
        with self._lock:
            if node not in self.watched:
                self.watched.append(node)

    def unwatch(self, node: Node) -> None:
        with self._lock:
            if node in self.watched:
                self.watched.remove(node)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        path = f"/v1/services/{self.name}/{self.iid}"
        while not self._stop.is_set():
            started = time.monotonic()
            with self._lock:
                nodes = list(self.watched)
            if self.handle is not None and self.handle.last_success is not None:
                self.silences.append((started, time.time() - self.handle.last_success))
            for node in nodes:
                try:
                    r = node.get(path, timeout=2)
                except OSError as exc:
                    with self._lock:
                        if node in self.watched:  # not one we just stopped watching to kill it
                            self.errors.append((time.monotonic(), node.id, repr(exc)))
                    continue
                self.observations += 1
                self.per_node[node.id] = self.per_node.get(node.id, 0) + 1
                if r.status == 404:
                    self.bad.append((time.monotonic(), node.id, "missing"))
                elif r.status != 200:
                    self.errors.append((time.monotonic(), node.id, f"HTTP {r.status}"))
                elif r.body["status"] != "up":
                    self.bad.append((time.monotonic(), node.id, r.body["status"]))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


def _just_before_next_beat(me, lead: float = 0.1) -> None:
    """Sleep until ``lead`` seconds before the handle's next heartbeat is due (the worst moment to lose
    the leader: that beat meets the election)."""
    while True:
        last = me.last_success or time.time()
        wait = last + me.interval - lead - time.time()
        if wait <= 0:
            time.sleep(0.02)  # just missed it: aim at the next one
            continue
        time.sleep(wait)
        if me.last_success == last:
            return


def survive_leader_kills(cluster: Cluster, kills: int, ttl: float, adversarial: bool = True) -> bool:
    failures = FailureLog()
    client_log = logging.getLogger("manifest_client")
    client_log.addHandler(failures)
    client_log.setLevel(logging.INFO)
    client_log.propagate = False  # counted, not printed
    reg = Registry(cluster.urls)
    me = reg.register(SERVICE_HB, ttl=ttl, port=8080, handle_signals=False)
    print(f"instance {SERVICE_HB}/{me.id}: ttl {ttl:g} s, heartbeat every {me.interval:g} s, "
          f"heartbeat timeout {me.request_timeout:g} s; each kill "
          + ("0.1 s before a heartbeat is due" if adversarial else "at a random moment"))
    cluster.wait_for_replication()
    poller = Poller(SERVICE_HB, me.id, handle=me)
    for node in cluster.nodes:
        poller.watch(node)
    poller.start()
    phases = []
    began = time.monotonic()
    try:
        time.sleep(ttl)
        for k in range(1, kills + 1):
            leader = cluster.leader()
            if adversarial:
                _just_before_next_beat(me)
            poller.unwatch(leader)
            t_kill = time.monotonic()
            leader.kill()
            new_leader = cluster.leader(timeout=15)
            t_elected = time.monotonic()
            leader.start()
            cluster.wait_ready(timeout=30)
            poller.watch(leader)
            t_ready = time.monotonic()
            time.sleep(ttl)  # let the client run on the healed cluster for one TTL
            t_end = time.monotonic()
            runs = [n for (t, n, _) in failures.failures if t_kill <= t < t_end]
            phases.append({
                "kill": k, "killed": leader.id, "new": new_leader.id,
                "election_ms": (t_elected - t_kill) * 1000, "rejoin_s": t_ready - t_elected,
                "failed_beats": len(runs), "max_consecutive": max(runs, default=0),
                "silence": max((v for t, v in poller.silences if t_kill <= t < t_end), default=0.0),
                "bad": [b for b in poller.bad if t_kill <= b[0] < t_end],
            })
    finally:
        poller.stop()
        elapsed = time.monotonic() - began
        status_after = [n.get(f"/v1/services/{SERVICE_HB}/{me.id}", timeout=2) for n in cluster.alive()]
        me.close()
        reg.close()
        client_log.removeHandler(failures)
        client_log.propagate = True

    print(f"\n{'kill':>4}  {'leader killed':>13}  {'new leader':>10}  {'election':>9}  {'rejoin':>7}  "
          f"{'failed beats':>12}  {'max consecutive':>15}  {'longest silence':>15}  {'down/missing':>12}")
    for p in phases:
        print(f"{p['kill']:>4}  {p['killed']:>13}  {p['new']:>10}  {p['election_ms']:>6.0f} ms  "
              f"{p['rejoin_s']:>5.1f} s  {p['failed_beats']:>12}  {p['max_consecutive']:>15}  "
              f"{p['silence']:>13.2f} s  {len(p['bad']):>12}")
    max_runs = [p["max_consecutive"] for p in phases]
    quiet = [v for t, v in poller.silences]
    print("(longest silence: the most time seen since the client's last accepted heartbeat, "
          f"sampled every 0.1 s; {max(quiet, default=0):.2f} s overall against a TTL of {ttl:g} s)")
    print(f"\npolled for {elapsed:.1f} s: {poller.observations} answers from live nodes "
          f"({', '.join(f'{n} {c}' for n, c in sorted(poller.per_node.items()))})")
    print(f"down/missing observations: {len(poller.bad)}  (must be 0)")
    if poller.bad:
        for t, node, what in poller.bad[:20]:
            print(f"  +{t - began:.2f} s  {node}: {what}")
    print(f"poll errors on live nodes: {len(poller.errors)}"
          + (f"  e.g. {poller.errors[:3]}" if poller.errors else ""))
    print(f"client: {len(failures.failures)} failed heartbeats in total; consecutive-failure maxima per kill "
          f"{max_runs}, overall {max(max_runs, default=0)}; re-registrations {len(failures.reregistrations)}")
    print("after the last kill: " + ", ".join(
        f"{r.status}/{r.body['status'] if r.status == 200 else '-'}" for r in status_after))
    return not poller.bad


# ---- part 2: discover() overhead ----------------------------------------------------------------

def _quantiles(samples_ns: list[int]) -> str:
    us = sorted(s / 1000 for s in samples_ns)
    def p(q: float) -> float:
        return us[min(len(us) - 1, int(q * len(us)))]
    return (f"p50 {p(0.50):7.0f} us   p99 {p(0.99):7.0f} us   mean {statistics.fmean(us):7.0f} us   "
            f"(n={len(us)})")


def discover_overhead(cluster: Cluster, calls: int, instances: int) -> None:
    leader = cluster.leader()
    for i in range(instances):
        r = call(leader.url, "POST", "/v1/services",
                 {"name": SERVICE_DISCOVER, "id": f"{SERVICE_DISCOVER}-{i}", "ttl": 3600, "port": 9000 + i,
                  "version": "1.0.0", "tags": ["bench"], "metadata": {"load": "0.1"}})
        assert r.status in (200, 201), r.body
    cluster.wait_for_replication()
    target = cluster.nodes[0]
    seeds = [target.url] + [n.url for n in cluster.nodes if n is not target]
    uncached = Registry(seeds, cache=False)
    cached = Registry(seeds, cache=True)
    raw = http.client.HTTPConnection("127.0.0.1", target.api_port, timeout=5)
    path = f"/v1/services/{SERVICE_DISCOVER}?status=up"

    def raw_get() -> None:
        raw.request("GET", path, headers={"Accept": "application/json"})
        resp = raw.getresponse()
        resp.read()
        assert resp.status == 200

    modes = {
        "discover(), cache=False": lambda: uncached.discover(SERVICE_DISCOVER),
        "discover(), cache=True ": lambda: cached.discover(SERVICE_DISCOVER),
        "raw http.client GET    ": raw_get,
    }
    for name, fn in modes.items():  # warm-up: connections, member discovery
        for _ in range(100):
            fn()
    for reg in (uncached, cached):
        found = reg.discover(SERVICE_DISCOVER)
        assert len(found) == instances and not found.stale, (len(found), found.stale)
        assert reg._core.pool._current == target.url, reg._core.pool._current  # same node as the baseline
    samples: dict[str, list[int]] = {name: [] for name in modes}
    blocks = 4
    clock = time.perf_counter_ns
    for b in range(blocks):  # interleaved, so drift hits every mode alike
        per_block = calls // blocks + (1 if b < calls % blocks else 0)
        for name, fn in modes.items():
            out = samples[name]
            for _ in range(per_block):
                t0 = clock()
                fn()
                out.append(clock() - t0)
    uncached.close()
    cached.close()
    raw.close()
    print(f"\ndiscover({SERVICE_DISCOVER!r}) of {instances} up instances on {target.id} ({target.url}), "
          f"one client, sequential:")
    for name, s in samples.items():
        print(f"  {name}  {_quantiles(s)}")
    base = statistics.median(samples["raw http.client GET    "])
    for name in list(modes)[:2]:
        extra = (statistics.median(samples[name]) - base) / 1000
        print(f"  client overhead at p50, {name.strip()}: {extra:+.0f} us over the raw GET")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--ttl", type=float, default=3.0)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--random-timing", action="store_true",
                    help="kill at any moment instead of 0.1 s before a heartbeat is due")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp))
        cluster.start()
        try:
            print(f"== heartbeating instance through {args.kills} leader kills (3-node cluster) ==")
            survived = survive_leader_kills(cluster, args.kills, args.ttl, not args.random_timing)
            print(f"\n== discover() overhead ({args.calls} calls each) ==")
            discover_overhead(cluster, args.calls, args.instances)
        except BaseException:
            print(cluster.logs(), file=sys.stderr)
            raise
        finally:
            cluster.stop()
    print("\nresult:", "OK, never down or missing" if survived else "FAILED: the instance was seen down or missing")
    return 0 if survived else 1


if __name__ == "__main__":
    sys.exit(main())
