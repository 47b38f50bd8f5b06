"""Figures for watches, blocking reads and linearizable reads on a 3-node cluster.

    python -m loadtests.watch_bench [--writes 1000] [--idle 10000] [--reads 1000]

1. Notification latency: a watcher on a follower; one writer registers on the
   leader, one at a time; latency = event arrival on the follower's stream
   minus the moment the write was acknowledged (p50/p99).
2. Idle cost: N watch streams and N blocking reads held open on one node,
   then the node's CPU use over 10 s of quiet.
3. Log entries per N concurrent linearizable reads (on a follower and on the
   leader): the Raft commit index before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from tests.support.cluster import Cluster


def _raise_fd_limit(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def notification_latency(leader, follower, writes: int) -> list[float]:
    arrivals: dict[str, float] = {}
    async with aiohttp.ClientSession() as s:
        resp = await s.get(follower.url + "/v1/watch?name=notify", timeout=aiohttp.ClientTimeout(total=None))

        async def read():
            async for line in resp.content:
                if line.startswith(b"data: "):
                    arrivals[json.loads(line[6:])["id"]] = time.perf_counter()

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.2)
        acked: dict[str, float] = {}
        for i in range(writes):
            async with s.post(leader.url + "/v1/services", json={"name": "notify", "id": f"n{i}"}) as r:
                assert r.status == 201
            acked[f"n{i}"] = time.perf_counter()
        await asyncio.sleep(0.5)
        reader.cancel()
        resp.close()
    return [(arrivals[k] - acked[k]) * 1000 for k in acked if k in arrivals]


async def idle_cost(node, n: int, blocking: int) -> tuple[int, int, float]:
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=None)) as s:
        streams, blocked = [], []
        for batch in range(0, n, 500):
            streams += await asyncio.gather(*[
                s.get(node.url + f"/v1/watch?name=idle{i % 100}") for i in range(batch, min(n, batch + 500))])
        index = (await (await s.get(node.url + "/v1/services")).json())["revision"]
        blocked = [asyncio.create_task(s.get(node.url + f"/v1/services?index={index}&wait=60s"))
                   for _ in range(blocking)]
        await asyncio.sleep(5)  # let every request settle into its wait
        open_streams = sum(1 for r in streams if r.status == 200)
        waiting = sum(1 for t in blocked if not t.done())
        before, t0 = cpu_seconds(node.proc.pid), time.monotonic()
        await asyncio.sleep(10)
        cpu = (cpu_seconds(node.proc.pid) - before) / (time.monotonic() - t0) * 100
        for r in streams:
            r.close()
        for t in blocked:
            t.cancel()
    return open_streams, waiting, cpu


async def reads_per_entries(node, n: int) -> tuple[int, int]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        async def commit():
            async with s.get(node.url + "/v1/health") as r:
                return (await r.json())["commit_index"]

        before = await commit()
        rs = await asyncio.gather(*[s.get(node.url + "/v1/services/lin?consistency=linearizable")
                                    for _ in range(n)])
        ok = sum(1 for r in rs if r.status == 200)
        await asyncio.sleep(0.3)
        return ok, await commit() - before


async def run(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp))
        cluster.start()
        try:
            leader, follower = cluster.leader(), cluster.followers()[0]
            lat = await notification_latency(leader, follower, args.writes)
            print(f"write ack -> event on a follower: p50 {pct(lat, .5):.2f} ms, p99 {pct(lat, .99):.2f} ms "
                  f"(n={len(lat)} of {args.writes})")
            async with aiohttp.ClientSession() as s:
                await s.post(leader.url + "/v1/services", json={"name": "lin", "id": "x"})
            for label, node in (("follower", follower), ("leader", leader)):
                ok, entries = await reads_per_entries(node, args.reads)
                print(f"{args.reads} concurrent linearizable reads on the {label}: {ok} ok, "
                      f"{entries} log entries (ticks included)")
            if args.idle:
                streams, waiting, cpu = await idle_cost(follower, args.idle, args.blocking)
                print(f"idle on one node: {streams} watch streams + {waiting} blocking reads, "
                      f"node CPU {cpu:.1f}% over 10 s")
        finally:
            cluster.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writes", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--reads", type=int, default=1000)
    ap.add_argument("--blocking", type=int, default=5000,
                    help="blocking reads held open beside the idle watch streams")
    args = ap.parse_args()
    # Each idle request is one socket here and one in the node (which inherits the limit).
    _raise_fd_limit(args.idle + args.blocking + 1024)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
