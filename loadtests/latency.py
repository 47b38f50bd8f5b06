"""One-connection write and read latency on a fresh 3-node cluster, and failover time.

    python -m loadtests.latency [--writes 2000] [--fsync] [--kills 5]

Prints p50/p99 of register through the leader and through a follower (one
keep-alive connection, one request at a time), of a local read, and the time
from SIGKILL of the leader to the next acknowledged write, per kill.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.support.cluster import Cluster
from tests.support.load import Writers


def _timed(conn, method, path, body=None) -> float:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    t0 = time.perf_counter()
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    resp.read()
    elapsed = time.perf_counter() - t0
    if resp.status >= 300:
        raise RuntimeError(f"{method} {path} -> {resp.status}")
    return elapsed


def quantiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    return f"p50 {p(0.50):.2f} ms  p99 {p(0.99):.2f} ms  (n={len(ms)})"


def measure_writes(node, n: int, tag: str) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", node.api_port, timeout=10)
    for i in range(50):  # warm-up
        _timed(conn, "POST", "/v1/services", {"name": "bench", "id": f"{tag}-warm-{i}"})
    out = [_timed(conn, "POST", "/v1/services", {"name": "bench", "id": f"{tag}-{i}"}) for i in range(n)]
    conn.close()
    return out


def measure_reads(node, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", node.api_port, timeout=10)
    out = [_timed(conn, "GET", "/v1/services/bench/leader-1") for _ in range(n)]
    conn.close()
    return out


def failover(cluster: Cluster, kills: int) -> list[float]:
    times = []
    for k in range(kills):
        leader = cluster.leader()
        others = [n for n in cluster.alive() if n is not leader]
        t0 = time.monotonic()
        leader.kill()
        i = 0
        while True:
            target = others[i % len(others)]
            i += 1
            try:
                conn = http.client.HTTPConnection("127.0.0.1", target.api_port, timeout=2)
                conn.request("POST", "/v1/services", body=json.dumps({"name": "fo", "id": f"k{k}-{i}"}),
                             headers={"Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
            except OSError:
                status = 0
            if status in (200, 201):
                break
            time.sleep(0.01)
        times.append(time.monotonic() - t0)
        leader.start()
        cluster.wait_ready(timeout=30)
        time.sleep(1.0)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--fsync", action="store_true")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--throughput", type=float, default=5.0,
                    help="seconds of 16 concurrent writers over all nodes (0: skip)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp), extra=["--fsync"] if args.fsync else [])
        cluster.start()
        try:
            leader = cluster.leader()
            follower = cluster.followers()[0]
            print(f"fsync={args.fsync}")
            print("register via leader:   ", quantiles(measure_writes(leader, args.writes, "leader")))
            print("register via follower: ", quantiles(measure_writes(follower, args.writes, "follower")))
            print("local read on follower:", quantiles(measure_reads(follower, args.writes)))
            if args.throughput:
                with Writers(cluster.urls, n=16, service="tput") as load:
                    time.sleep(args.throughput)
                print(f"16 writers over 3 nodes: {len(load.acked) / args.throughput:.0f} acknowledged "
                      f"registrations/s ({load.failed} failed)")
            if args.kills:
                times = failover(cluster, args.kills)
                print("failover (SIGKILL leader -> next acknowledged write):",
                      ", ".join(f"{t * 1000:.0f} ms" for t in times),
                      f"| median {statistics.median(times) * 1000:.0f} ms")
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
