"""Cross-region read latency on loopback: three federated 3-node regions, nine node processes.

Prints p50/p99 (ms) of sequential keep-alive reads from region us: a local
read, a read of region eu (``?region=eu``) entering at us's leader and at
a follower, the ``?region=*`` fan-out, a failover read (no instance in us),
and what the nine idle nodes cost (CPU %, RSS), which is why nine fit on
two cores. Then region ap is partitioned away through the chaos proxy and
local reads and writes, a read of eu and the fan-out are timed again. Also
the cost of the ``?region=`` check on the local hot path, timed on the
wrapper itself.

    .venv/bin/python -m loadtests.federation_bench [--requests 500]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import time
import timeit
from pathlib import Path

from tests.support.cluster import wait_until
from tests.support.regions import Regions


def record(name: str, iid: str) -> dict:
    return {"name": name, "id": iid, "address": "127.0.0.1", "port": 80, "ttl": 600}


def timings(node, path: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", node.api_port, timeout=10)
    headers = {"Authorization": f"Bearer {node.token}"}
    out = []
    for i in range(n + 20):  # the first 20 warm the connections (ours and the node's to the other region)
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path}: HTTP {resp.status}")
        if i >= 20:
            out.append((time.perf_counter() - started) * 1000)
    conn.close()
    return out


def write_timings(node, n: int) -> list[float]:
    """Registrations (updates of one instance) through ``node``: the local write path."""
    conn = http.client.HTTPConnection("127.0.0.1", node.api_port, timeout=10)
    headers = {"Authorization": f"Bearer {node.token}", "Content-Type": "application/json"}
    body = json.dumps(record("bench", "bench-1")).encode()
    out = []
    for i in range(n + 5):
        started = time.perf_counter()
        conn.request("POST", "/v1/services", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status not in (200, 201):
            raise RuntimeError(f"write: HTTP {resp.status}")
        if i >= 5:
            out.append((time.perf_counter() - started) * 1000)
    conn.close()
    return out


def one(node, path: str) -> float:
    started = time.perf_counter()
    reply = node.get(path, timeout=10)
    assert reply.status == 200, reply.status
    return (time.perf_counter() - started) * 1000


def show(label: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"  {label:<44} p50 {statistics.median(ms):7.2f} ms   p99 {p99:7.2f} ms   (n={len(ms)})")


def idle_cost(pids: list[int], seconds: float = 5.0) -> tuple[float, float]:
    """(CPU % of one core for all of them together, total RSS in MB) while idle."""
    def ticks():
        total = 0
        for pid in pids:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total

    before = ticks()
    time.sleep(seconds)
    cpu = (ticks() - before) / os.sysconf("SC_CLK_TCK") / seconds * 100
    rss = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            rss += next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    return cpu, rss / 1024


def hot_path_cost() -> tuple[float, float]:
    """ns per call of a local read handler bare and behind federated.wrap (no region asked)."""
    from manifest_node.api.federated import wrap

    class Url:
        raw_query_string = "status=up&tag=blue"

    class Request:
        rel_url = Url()

    def handler(request):
        return None

    wrapped = wrap(handler, "service")
    request = Request()
    n = 1_000_000
    bare = min(timeit.repeat(lambda: handler(request), number=n, repeat=5)) / n * 1e9
    behind = min(timeit.repeat(lambda: wrapped(request), number=n, repeat=5)) / n * 1e9
    return bare, behind


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        regions = Regions(Path(tmp), ["us", "eu", "ap"], cut="ap", extra={"us": ["--failover", "eu"]})
        try:
            regions.start()
            us, eu = regions["us"], regions["eu"]
            for name, cluster in regions.clusters.items():
                leader = cluster.leader()
                for i in range(10):
                    assert leader.call("POST", "/v1/services", record("api", f"{name}-{i}")).status == 201
            assert eu.leader().call("POST", "/v1/services", record("pay", "pay-eu")).status == 201
            leader, follower = us.leader(), us.followers()[0]
            wait_until(lambda: all(r["healthy"] for r in follower.get("/v1/cluster").body["regions"]), 20,
                       what="every region healthy")
            cpu, rss = idle_cost([n.proc.pid for c in regions.clusters.values() for n in c.nodes])
            print(f"nine idle nodes: {cpu:.1f} % of one core together, {rss:.0f} MB RSS together "
                  f"({os.cpu_count()} cores)")
            n = args.requests
            print(f"sequential keep-alive GETs from region us, 10 instances per region, loopback:")
            show("local read (us follower)", timings(follower, "/v1/services/api", n))
            show("local read (us leader)", timings(leader, "/v1/services/api", n))
            show("?region=eu via us leader", timings(leader, "/v1/services/api?region=eu", n))
            show("?region=eu via us follower", timings(follower, "/v1/services/api?region=eu", n))
            show("?region=* (3 regions) via us follower", timings(follower, "/v1/services/api?region=*", n))
            show("?failover=true, served by eu (via follower)", timings(follower, "/v1/services/pay?failover=true", n))
            rtts = {r["name"]: r["rtt_ms"] for r in follower.get("/v1/cluster").body["regions"]}
            print(f"  probe round-trip times seen by the us follower (ms): {rtts}")
            show("local write (us follower), all regions up", write_timings(follower, n // 5))
            regions.partition()
            cold = one(follower, "/v1/services/api?region=*")
            wait_until(lambda: not next(r for r in follower.get("/v1/cluster").body["regions"]
                                        if r["name"] == "ap")["healthy"], 20, what="ap unhealthy")
            print("region ap partitioned away (chaos proxy, blackhole):")
            print(f"  first ?region=* after the cut (ap's nodes not yet known dead): {cold:.0f} ms "
                  f"(bound: federation_deadline 1.5 s)")
            show("local read (us follower), ap partitioned", timings(follower, "/v1/services/api", n))
            show("local write (us follower), ap partitioned", write_timings(follower, n // 5))
            show("?region=eu via us follower, ap partitioned", timings(follower, "/v1/services/api?region=eu", n))
            show("?region=* via us follower, ap partitioned", timings(follower, "/v1/services/api?region=*", n))
            regions.heal()
        finally:
            regions.stop()
    bare, behind = hot_path_cost()
    print(f"hot path: handler call {bare:.0f} ns bare, {behind:.0f} ns behind the ?region= check "
          f"(+{behind - bare:.0f} ns per local read)")


if __name__ == "__main__":
    main()
