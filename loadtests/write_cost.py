"""Where a write's CPU goes: per operation, per node, event-loop thread against the Raft thread.

``loadtests.bench`` gives one CPU figure per request for a whole scenario. This
splits it: a 3-node cluster (cluster secret on, as in production) takes one
kind of request at a time, at a fixed rate with a fixed number in flight,
and for each node the CPU of its event-loop thread (the process's main
thread: HTTP, forwarding, proposing) and of its other threads (pysyncobj's
tick thread, which sends, receives, journals and applies Raft entries) is
read from ``/proc/<pid>/task``. Raft entries committed per request come from
the leader's commit index, so the cost of one entry shows beside the cost of
one request.

    .venv/bin/python -m loadtests.write_cost [--seconds 5] [--fsync]
        [--load 300:1,2000:16]   rate:in-flight pairs, one row each

The idle cluster's own CPU (ticks, Raft heartbeats) is measured first for as
long and printed; the rows include it, as a user's bill would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import aiohttp

from tests.support.cluster import Cluster, wait_until
from tests.support.http import call

_TICK = os.sysconf("SC_CLK_TCK")
SERVICE, INSTANCE = "cost", "a"
WRITTEN = "cost-registered"  # apart from SERVICE, so the read rows answer one instance however many were written


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of ``pid``'s main thread (``loop``) and of all its others (``raft+``)."""
    out = {"loop": 0.0, "raft+": 0.0}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a thread that just ended
        out["loop" if int(tid) == pid else "raft+"] += (int(fields[11]) + int(fields[12])) / _TICK
    return out


def commit_index(url: str) -> int:
    return call(url, "GET", "/v1/health").body["commit_index"]


async def drive(method: str, url: str, rate: float, inflight: int, seconds: float) -> int:
    """Requests of one kind at ``rate``/s, ``inflight`` at a time, for ``seconds``; how many answered 2xx."""
    done = 0
    async with aiohttp.ClientSession() as session:
        async def one(n: int) -> None:
            nonlocal done
            body = ({"name": WRITTEN, "id": f"r{n}", "ttl": 600} if method == "POST" else None)
            async with session.request(method, url, json=body) as r:
                await r.read()
                if r.status < 300:
                    done += 1

        start, sent = time.monotonic(), 0
        while time.monotonic() - start < seconds:
            await asyncio.gather(*(one(sent + k) for k in range(inflight)))
            sent += inflight
            pause = start + sent / rate - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
    return done


def measure(cluster: Cluster, run, seconds: float) -> dict:
    """CPU per node and thread, and Raft entries committed, while ``run()`` runs."""
    leader = cluster.leader()
    before = {n.id: thread_cpu(n.proc.pid) for n in cluster.nodes}
    index0, t0 = commit_index(leader.url), time.monotonic()
    answered = run()
    elapsed = time.monotonic() - t0
    index1 = commit_index(leader.url)
    after = {n.id: thread_cpu(n.proc.pid) for n in cluster.nodes}
    nodes = {}
    for n in cluster.nodes:
        role = "leader" if n is leader else "follower"
        nodes[f"{n.id} {role}"] = {k: after[n.id][k] - before[n.id][k] for k in ("loop", "raft+")}
    return {"answered": answered, "elapsed_s": elapsed, "entries": index1 - index0, "nodes": nodes}


def row(label: str, m: dict) -> str:
    ops = max(1, m["answered"])
    total = sum(v for node in m["nodes"].values() for v in node.values())
    parts = []
    for name, cpu in m["nodes"].items():
        parts.append(f"{name}: loop {cpu['loop'] / ops * 1e6:5.0f} raft+ {cpu['raft+'] / ops * 1e6:5.0f}")
    entries = m["entries"] / ops
    return (f"{label:34s} {m['answered'] / m['elapsed_s']:7.0f}/s {total / ops * 1e6:6.0f} us/op "
            f"{entries:5.2f} entries/op | " + " | ".join(parts))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.write_cost", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--fsync", action="store_true")
    ap.add_argument("--load", default="300:1,2000:16", help="rate:in-flight pairs, comma-separated")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    loads = [tuple(float(x) for x in pair.split(":")) for pair in args.load.split(",")]
    extra = ["--fsync"] if args.fsync else []
    results: dict = {"fsync": args.fsync, "seconds": args.seconds, "rows": {}}
    with Cluster(Path(tempfile.mkdtemp(prefix="manifest-write-cost-")), extra=extra) as cluster:
        leader = cluster.leader()
        follower = next(n for n in cluster.nodes if n is not leader)
        assert call(leader.url, "POST", "/v1/services", {"name": SERVICE, "id": INSTANCE, "ttl": 600}).status == 201
        wait_until(lambda: call(follower.url, "GET", f"/v1/services/{SERVICE}").status == 200, timeout=10)
        idle = measure(cluster, lambda: time.sleep(args.seconds) or 0, args.seconds)
        idle_cores = sum(v for node in idle["nodes"].values() for v in node.values()) / idle["elapsed_s"]
        print(f"idle cluster: {idle_cores:.3f} cores in all, {idle['entries']} entries in {idle['elapsed_s']:.1f} s")
        results["idle_cores"] = idle_cores
        hb = f"/v1/services/{SERVICE}/{INSTANCE}/heartbeat"
        kinds = [("local read, leader", "GET", leader.url + f"/v1/services/{SERVICE}"),
                 ("heartbeat via the leader", "PUT", leader.url + hb),
                 ("heartbeat via a follower", "PUT", follower.url + hb),
                 ("register via the leader", "POST", leader.url + "/v1/services")]
        for rate, inflight in loads:
            for label, method, url in kinds:
                m = measure(cluster, lambda: asyncio.run(drive(method, url, rate, int(inflight), args.seconds)),
                            args.seconds)
                key = f"{label} @{rate:g}/s x{inflight:g}"
                results["rows"][key] = m
                print(row(key, m), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
