"""Issue 13, point 2: what 1,000 instances with 5 s HTTP checks cost the leader.

    python -m loadtests.probe_cost [--instances 1000] [--interval 5] [--seconds 60]

A 3-node cluster on loopback and an HTTP target in this process (a
ThreadingHTTPServer answering 200). Phase 1: the instances registered
without checks (ttl 3600), the leader's CPU over ``--seconds`` (its ticks
and Raft heartbeats: the baseline). Phase 2: the same instances registered
again with ``check: {http, interval}``, once all are ``up``, the leader's
CPU over ``--seconds`` again, and the probes the target saw. Prints both and
the difference per probe. CPU is the leader process's user + system time
from /proc, as a share of one core.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tests.support.cluster import Cluster, wait_until
from tests.support.http import call
from tests.support.probe_targets import HttpTarget


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid: int, seconds: float) -> float:
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


def register(url: str, n: int, check: dict | None) -> None:
    for start in range(0, n, 500):
        items = [{"name": f"svc-{i % 50}", "id": f"i{i:05d}", "ttl": 3600, **({"check": check} if check else {})}
                 for i in range(start, min(n, start + 500))]
        r = call(url, "POST", "/v1/services/batch", {"instances": items}, timeout=30)
        assert r.status in (200, 201), r


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--instances", type=int, default=1000)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--seconds", type=float, default=60.0)
    args = p.parse_args(argv)
    target = HttpTarget()
    with tempfile.TemporaryDirectory() as tmp, Cluster(Path(tmp)) as cluster:
        leader = cluster.leader()
        pid = leader.proc.pid
        register(leader.url, args.instances, None)
        base = measure(pid, args.seconds)
        print(f"baseline: {args.instances} instances without checks, leader CPU {base * 100:.1f} % of a core")
        check = {"http": target.url, "interval": args.interval, "timeout": 2}
        register(leader.url, args.instances, check)

        def all_up():
            counts = call(leader.url, "GET", "/v1/graph").body["nodes"]
            return sum(n["counts"].get("up", 0) for n in counts) == args.instances

        wait_until(all_up, 120, interval=0.5, what="every checked instance up")
        since = time.monotonic()
        hits0 = len(target.probers(since))
        with_checks = measure(pid, args.seconds)
        probes = len(target.probers(since)) - hits0
        rate = probes / args.seconds
        print(f"with checks: {args.instances} HTTP checks every {args.interval:g}s, {rate:.0f} probes/s "
              f"(expected {args.instances / args.interval:.0f}), leader CPU {with_checks * 100:.1f} % of a core")
        extra = with_checks - base
        print(f"cost of the checks: {extra * 100:.1f} % of a core, {extra / max(rate, 1e-9) * 1e6:.0f} us of CPU "
              "per probe (the probe and its bookkeeping; no write, since every probe confirmed the state)")
        print("followers probed:", sorted({w for _, w in target.probers(since)} - {leader.id}) or "none")
    target.close()


if __name__ == "__main__":
    main()
