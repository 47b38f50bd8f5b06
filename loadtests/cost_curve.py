"""Issue 16, target 5: what a registered instance costs, at 1k, 10k, 100k and 1M instances.

    python -m loadtests.cost_curve [--sizes 1000,10000,100000,1000000] [--per-service 100]
                                   [--heartbeat-rate 2000] [--reads 300] [--out DIR]

For each size, a fresh 3-node cluster (cluster secret on, as in production)
is filled with that many instances (``POST /v1/services/batch`` of 500, in
services of ``--per-service`` instances, each with an address, port,
version, two tags and a metadata key, the shape of the soak's fleet). Then,
while every instance is beaten by batches (``POST /v1/heartbeats`` of 500)
at ``min(size / 10 s, --heartbeat-rate)`` heartbeats a second (the slower
rate for the larger fleets: what this machine carries beside the reads; the
ttl is three intervals, so nothing expires), it measures:

- **state**: RSS of every node before the fleet and after it (bytes per
  instance = the growth over the size), the ``raft.snapshot`` a node wrote
  (its bytes, and bytes per instance), and what a node does to write and to
  load that snapshot, timed in this process (``loadtests.scale.snapshot_cost``);
- **catch-up**: a follower restarted with ``--recover`` (its journal and
  snapshot set aside, term and vote kept: a node that joins with nothing),
  seconds until it is ready and has applied the leader's revision;
- **reads**: ``--reads`` requests, one at a time on one keep-alive
  connection to a follower (local reads), of a filtered list
  (``GET /v1/services?status=up&limit=100``) and of a single service
  (``GET /v1/services/{name}``, a random service of ``--per-service``
  instances): p50 and p99.

Then, between consecutive sizes, the exponent of each figure's growth
(log(ratio of the figure) / log(ratio of the sizes)): 1 is linear, 0 flat;
a figure that should be flat (a single-service read) or linear (RSS,
snapshot) and grows faster is listed. ``cost_curve.json`` and
``cost_curve.png`` (log-log) go to ``--out``. Registration and heartbeat
throughput are the benchmark's (``loadtests.bench``), heartbeat latency at
scale is ``loadtests.scale``'s: this run is about size.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp

from manifest_node.consensus.snapshot import read_dump
from tests.support.cluster import Cluster, wait_until

from .bench.targets import rss_mb
from .scale import instance_count, snapshot_cost

BATCH = 500
SIZES = (1_000, 10_000, 100_000, 1_000_000)
# figure -> the exponent it should grow by with the fleet (1 linear, 0 flat); more than SLACK over it is listed
EXPECTED = {"bytes_per_instance_rss": 0.0, "bytes_per_instance_snapshot": 0.0, "rss_per_node_mb": 1.0,
            "snapshot_bytes": 1.0, "snapshot_s": 1.0, "restore_s": 1.0, "capture_s": 1.0, "catch_up_s": 1.0,
            "list_p50_ms": 0.0, "list_p99_ms": 0.0, "service_p50_ms": 0.0, "service_p99_ms": 0.0}
SLACK = 0.15


def log(msg: str) -> None:
    print(msg, flush=True)


def record(i: int, per_service: int, ttl: int) -> dict:
    address = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
    return {"name": f"svc-{i // per_service:05d}", "id": f"i-{i}", "address": address,
            "port": 8000 + i % 1000, "ttl": ttl, "version": "1.0.0", "tags": ["cost", f"rack-{i % 100}"],
            "metadata": {"zone": f"z{i % 3}"}}


async def register(urls: list[str], size: int, per_service: int, ttl: int, concurrency: int = 4) -> float:
    """Every instance in batches of ``BATCH``, spread over the nodes; seconds taken."""
    chunks = iter(range(0, size, BATCH))
    t0 = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def worker(k: int) -> None:
            for start in chunks:
                body = {"instances": [record(i, per_service, ttl) for i in range(start, min(size, start + BATCH))]}
                await _post(session, urls[(start // BATCH + k) % len(urls)], "/v1/services/batch", body)
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return time.monotonic() - t0


async def _post(session: aiohttp.ClientSession, base: str, path: str, body: dict, tries: int = 20) -> dict:
    for attempt in range(tries):
        try:
            async with session.post(base + path, json=body) as r:
                if r.status in (200, 201):
                    return await r.json()
                text = await r.text()
                if r.status != 503:
                    raise RuntimeError(f"{path} answered {r.status}: {text[:200]}")
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(min(2.0, 0.1 * (attempt + 1)))
    raise RuntimeError(f"{path}: no 2xx after {tries} tries")


class Beater(threading.Thread):
    """Beats every instance in turn at ``rate`` heartbeats a second, in batches; counts what failed."""

    def __init__(self, urls: list[str], size: int, per_service: int, rate: float):
        super().__init__(daemon=True)
        self.urls, self.size, self.per_service, self.rate = urls, size, per_service, rate
        self.stop_flag = threading.Event()
        self.sent = self.failed = 0

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            period, at, n = BATCH / self.rate, time.monotonic(), 0
            while not self.stop_flag.is_set():
                start = (n * BATCH) % self.size
                ids = [(start + k) % self.size for k in range(min(BATCH, self.size))]
                body = {"heartbeats": [{"name": f"svc-{i // self.per_service:05d}", "id": f"i-{i}"} for i in ids]}
                self.failed += await self._send(session, n, body)
                self.sent += len(ids)
                n += 1
                at += period
                await asyncio.sleep(max(0.0, at - time.monotonic()))

    async def _send(self, session: aiohttp.ClientSession, n: int, body: dict) -> int:
        """One batch, moving on to the next node when one does not answer (the one restarted); how many failed."""
        for k in range(len(self.urls)):
            try:
                out = await _post(session, self.urls[(n + k) % len(self.urls)], "/v1/heartbeats", body, tries=2)
                return sum(1 for r in out["results"] if not r.get("ok"))
            except RuntimeError:
                continue
        return len(body["heartbeats"])

    def stop(self) -> None:
        self.stop_flag.set()
        self.join(30)


def read_latency(url: str, paths: list[str]) -> dict:
    """Each path once, in order, on one keep-alive connection: p50/p99 in ms."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    ms = []
    for path in paths:
        t0 = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        ms.append((time.perf_counter() - t0) * 1000)
        if resp.status != 200:
            raise RuntimeError(f"GET {path} answered {resp.status}")
    conn.close()
    ms.sort()
    return {"p50": round(ms[len(ms) // 2], 3), "p99": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 3)}


def catch_up(cluster: Cluster, node) -> float:
    """``node`` SIGKILLed and started with ``--recover``: seconds until ready and at the leader's revision."""
    node.kill()
    node.extra.append("--recover")
    t0 = time.monotonic()
    node.start()
    node.extra.remove("--recover")

    def caught_up() -> bool:
        h = node.health()
        return h.status == 200 and h.body["revision"] >= cluster.leader().health().body["revision"]
    wait_until(caught_up, 600, interval=0.05, what=f"{node.id} caught up from nothing")
    return time.monotonic() - t0


def whole_snapshot(cluster: Cluster, size: int, after: float, workdir: str, timeout: float) -> str:
    """A copy of the first ``raft.snapshot`` written after ``after`` that holds the whole fleet."""
    deadline, seen = time.monotonic() + timeout, after
    while True:
        def fresh():
            paths = [Path(n.data_dir) / "raft.snapshot" for n in cluster.nodes]
            new = [p for p in paths if p.exists() and p.stat().st_mtime > seen]
            return max(new, key=lambda p: p.stat().st_mtime) if new else None
        path = wait_until(fresh, max(1.0, deadline - time.monotonic()), interval=0.5,
                          what=f"a snapshot of all {size:,} instances")
        seen = path.stat().st_mtime
        copy = os.path.join(workdir, f"whole-{size}.snapshot")
        shutil.copyfile(path, copy)  # a node replaces its file at the next compaction
        if instance_count(read_dump(copy)) >= size:
            return copy


def one_size(size: int, args, tmp: Path) -> dict:
    rate = min(size / 10.0, args.heartbeat_rate)
    ttl = max(30, math.ceil(3 * size / rate))
    batches = math.ceil(size / BATCH)
    # One snapshot, a few seconds after the fleet is in (heartbeat batches add 0.2-4 entries a second), and
    # none while it registers or while the reads are timed: a snapshot costs a core for seconds at this
    # size, and one every 50 entries at a million instances stalled registration (335 s) and the reads
    # (p99 150 ms) for what the node's own setting (5,000 entries or 300 s) does rarely.
    entries_per_s = rate / BATCH
    extra = ["--compaction-entries", str(batches + max(2, math.ceil(2 * entries_per_s))),
             "--compaction-interval", "3600", "--max-instances", str(max(size, 1_000_000)),
             "--max-instances-per-service", str(max(args.per_service, 100_000))]
    cluster = Cluster(tmp / f"c{size}", size=3, extra=extra)
    try:
        cluster.start(timeout=90)
        rss_empty = {n.id: rss_mb(n.proc.pid) for n in cluster.nodes}
        register_s = asyncio.run(register(cluster.urls, size, args.per_service, ttl))
        revision = cluster.wait_for_replication(timeout=300)
        registered_at = time.time()
        beater = Beater(cluster.urls, size, args.per_service, rate)
        beater.start()
        snap_copy = whole_snapshot(cluster, size, registered_at, str(tmp), timeout=max(120, size / 2000))
        rss = {n.id: rss_mb(n.proc.pid) for n in cluster.nodes}
        follower = cluster.followers()[0]
        services = max(1, size // args.per_service)
        rng = random.Random(size)
        lists = read_latency(follower.url, ["/v1/services?status=up&limit=100"] * args.reads)
        single = read_latency(follower.url, [f"/v1/services/svc-{rng.randrange(services):05d}"
                                             for _ in range(args.reads)])
        catch_up_s = catch_up(cluster, cluster.followers()[-1])
        beater.stop()
        cluster.stop()
        snap = snapshot_cost(snap_copy, str(tmp))  # timed on a machine the cluster no longer shares
        os.unlink(snap_copy)
        rss_node = max(rss.values())
        out = {
            "instances": size, "services": services, "revision": revision, "register_s": round(register_s, 2),
            "heartbeat_rate": rate, "ttl_s": ttl, "heartbeats_sent": beater.sent, "heartbeats_failed": beater.failed,
            "rss_empty_mb": rss_empty, "rss_mb": rss, "rss_per_node_mb": round(rss_node, 1),
            "bytes_per_instance_rss": round((rss_node - max(rss_empty.values())) * 2**20 / size),
            "snapshot_bytes": snap["bytes"], "bytes_per_instance_snapshot": round(snap["bytes"] / size),
            "snapshot_s": snap["snapshot_s"], "restore_s": snap["restore_s"], "capture_s": snap["capture_s"],
            "snapshot_instances": snap["instances"],
            "catch_up_s": round(catch_up_s, 2),
            "list_p50_ms": lists["p50"], "list_p99_ms": lists["p99"],
            "service_p50_ms": single["p50"], "service_p99_ms": single["p99"],
        }
        log(json.dumps(out))
        return out
    finally:
        cluster.stop()


def exponents(rows: list[dict]) -> list[dict]:
    """Between consecutive sizes: how fast each figure grew, against how fast it should."""
    out = []
    for a, b in zip(rows, rows[1:]):
        grow = math.log(b["instances"] / a["instances"])
        for key, expected in EXPECTED.items():
            lo, hi = a.get(key), b.get(key)
            if not lo or not hi:
                continue
            k = math.log(hi / lo) / grow
            out.append({"from": a["instances"], "to": b["instances"], "figure": key, "exponent": round(k, 2),
                        "expected": expected, "faster": k > expected + SLACK})
    return out


def table(rows: list[dict]) -> str:
    cols = [("instances", "{:,}"), ("rss_per_node_mb", "{:.0f}"), ("bytes_per_instance_rss", "{:,}"),
            ("snapshot_bytes", "{:,}"), ("bytes_per_instance_snapshot", "{:,}"), ("snapshot_s", "{:.3f}"),
            ("restore_s", "{:.3f}"), ("capture_s", "{:.3f}"), ("catch_up_s", "{:.2f}"), ("list_p50_ms", "{:.2f}"),
            ("list_p99_ms", "{:.2f}"),
            ("service_p50_ms", "{:.2f}"), ("service_p99_ms", "{:.2f}"), ("register_s", "{:.1f}")]
    lines = ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(f.format(r[c]) for c, f in cols) + " |" for r in rows]
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sizes = [r["instances"] for r in rows]
    panels = [("memory and disk per instance (bytes)", ["bytes_per_instance_rss", "bytes_per_instance_snapshot"]),
              ("snapshot, restore, capture, catch-up (s)", ["snapshot_s", "restore_s", "capture_s", "catch_up_s"]),
              ("local read on a follower (ms)", ["list_p50_ms", "list_p99_ms", "service_p50_ms", "service_p99_ms"]),
              ("RSS per node (MB)", ["rss_per_node_mb"])]
    fig, axes = plt.subplots(1, 4, figsize=(20, 5))
    for ax, (title, keys) in zip(axes, panels):
        for key in keys:
            ax.plot(sizes, [r[key] for r in rows], marker="o", label=key)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("registered instances")
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("Manifest: cost per registered instance (python -m loadtests.cost_curve)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.cost_curve", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated instance counts")
    ap.add_argument("--per-service", type=int, default=100, help="instances per service")
    ap.add_argument("--heartbeat-rate", type=float, default=2000.0, help="heartbeats/s at most, any size")
    ap.add_argument("--reads", type=int, default=300, help="requests per read figure")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the nodes are stopped on SIGTERM too
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="manifest-cost-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            log(f"--- {size:,} instances, load average {os.getloadavg()[0]:.2f}")
            rows.append(one_size(size, args, Path(tmp)))
    grown = exponents(rows)
    result = {"sizes": rows, "exponents": grown, "per_service": args.per_service,
              "heartbeat_rate_max": args.heartbeat_rate, "reads": args.reads}
    (out / "cost_curve.json").write_text(json.dumps(result, indent=1) + "\n")
    png = plot(rows, str(out / "cost_curve.png"))
    print("\n" + table(rows))
    faster = [g for g in grown if g["faster"]]
    print("\ngrows faster than it should (exponent between consecutive sizes; 1 linear, 0 flat):")
    print("\n".join(f"  {g['figure']}: {g['from']:,} -> {g['to']:,}: {g['exponent']:+.2f} (expected "
                    f"{g['expected']:g})" for g in faster) or "  nothing")
    print(f"wrote {out / 'cost_curve.json'}" + (f" and {png}" if png else " (no plot: matplotlib missing)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
