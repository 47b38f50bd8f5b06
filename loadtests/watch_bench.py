"""Figures for watches, blocking reads and linearizable reads on a 3-node cluster.

    python -m loadtests.watch_bench [--writes 1000] [--fanout 0] [--idle 10000]
                                    [--blocking 5000] [--window 30] [--reads 1000]
                                    [--floor] [--profile DIR] [--launcher CMD]

1. Notification latency: a watcher on a follower; one writer registers on the
   leader, one at a time; latency = event arrival on the follower's stream
   minus the moment the write was acknowledged (p50/p99). ``--fanout N`` keeps
   N more unfiltered watch streams open on that follower meanwhile (they read
   and discard), to show what fanning each event out costs.
2. Log entries per N concurrent linearizable reads (on a follower and on the
   leader): the Raft commit index before and after.
3. Idle cost: the follower's CPU over ``--window`` s with nothing open (the
   node's own floor: Raft heartbeats, the leader's ticks), then with
   ``--idle`` watch streams and ``--blocking`` blocking reads held open. The
   window must cover at least one keep-alive period (15 s by default) or it
   can miss every keep-alive.
4. ``--floor``: the same idle streams on a bare aiohttp SSE server (asyncio's loop as the node's, one
   shared keep-alive loop, nothing else): what 10,000 idle connections cost
   any aiohttp server on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from tests.support.cluster import Cluster, free_port, wait_until
from tests.support.http import call


# Instances registered here outlive the run: one expiring during the idle
# measurement would wake every blocking read and measure that instead.
_TTL = 3600


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


async def cpu_over(pid: int, seconds: float) -> float:
    before, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - t0) * 100


class _Sink(asyncio.Protocol):
    """A watcher that reads and drops everything: fan-out load without parsing cost here."""

    def __init__(self, target: bytes):
        self.target = target
        self.received = 0

    def connection_made(self, transport):
        transport.write(b"GET " + self.target + b" HTTP/1.1\r\nHost: bench\r\n\r\n")

    def data_received(self, data: bytes) -> None:
        self.received += len(data)


async def open_sinks(url: str, target: str, n: int) -> list:
    loop, host, port = asyncio.get_running_loop(), *url.removeprefix("http://").split(":")
    out = []
    for batch in range(0, n, 500):
        out += await asyncio.gather(*[loop.create_connection(lambda: _Sink(target.encode()), host, int(port))
                                      for _ in range(batch, min(n, batch + 500))])
    return [transport for transport, _ in out]


async def notification_latency(leader, follower, writes: int, fanout: int) -> list[float]:
    arrivals: dict[str, float] = {}
    sinks = await open_sinks(follower.url, "/v1/watch", fanout)
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
            async with s.post(leader.url + "/v1/services", json={"name": "notify", "id": f"n{i}", "ttl": _TTL}) as r:
                assert r.status == 201
            acked[f"n{i}"] = time.perf_counter()
        await asyncio.sleep(0.5)
        reader.cancel()
        resp.close()
    for t in sinks:
        t.close()
    return [(arrivals[k] - acked[k]) * 1000 for k in acked if k in arrivals]


async def idle_cost(url: str, pid: int, n: int, blocking: int, window: float, watch_path,
                    profile: Path | None = None) -> tuple[int, int, float]:
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=None)) as s:
        streams, blocked = [], []
        for batch in range(0, n, 500):
            streams += await asyncio.gather(*[s.get(url + watch_path(i))
                                              for i in range(batch, min(n, batch + 500))])
        if blocking:
            index = (await (await s.get(url + "/v1/services")).json())["revision"]
            blocked = [asyncio.create_task(s.get(url + f"/v1/services?index={index}&wait=600s"))
                       for _ in range(blocking)]
        await asyncio.sleep(5)  # let every request settle into its wait
        open_streams = sum(1 for r in streams if r.status == 200)
        waiting = sum(1 for t in blocked if not t.done())
        spy = _profile(pid, window, profile) if profile else None
        cpu = await cpu_over(pid, window)
        if spy is not None:
            spy.wait()
        for r in streams:
            r.close()
        for t in blocked:
            t.cancel()
    return open_streams, waiting, cpu


def _profile(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    exe = Path(sys.executable).with_name("py-spy")
    exe = str(exe) if exe.exists() else shutil.which("py-spy")
    if exe is None:
        print("py-spy not found: no profile")
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-f", "raw", "-o", str(out),
                             "--nonblocking", "--gil", "-r", "100"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


# ---- the floor: a bare aiohttp SSE server --------------------------------------

def _serve_bare(port: int, keepalive: float) -> None:
    from aiohttp import web

    streams: set = set()

    async def sse(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        await resp.write(b"retry: 1000\n\n")
        streams.add(resp)
        try:
            await asyncio.Future()
        except asyncio.CancelledError:
            pass
        finally:
            streams.discard(resp)
        return resp

    async def keepalives(app):
        async def run():
            while True:
                await asyncio.sleep(keepalive)
                for resp in list(streams):
                    try:
                        await resp.write(b": keep-alive\n\n")
                    except ConnectionError:
                        pass
        task = asyncio.get_running_loop().create_task(run())
        yield
        task.cancel()

    async def ok(request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/sse", sse)
    app.router.add_get("/ok", ok)
    app.cleanup_ctx.append(keepalives)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=asyncio.new_event_loop())


async def bare_floor(args) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "loadtests.watch_bench", "--serve-bare", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: call(url, "GET", "/ok", timeout=1).status == 200, 20, what="bare SSE server")
        quiet = await cpu_over(proc.pid, min(args.window, 10))
        streams, _, cpu = await idle_cost(url, proc.pid, args.idle, 0, args.window, lambda i: "/sse")
        print(f"floor, bare aiohttp SSE server: {quiet:.1f}% with nothing open; {streams} idle streams "
              f"(shared 15 s keep-alive) {cpu:.1f}% over {args.window:.0f} s")
    finally:
        proc.kill()
        proc.wait(10)


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
        cluster = Cluster(Path(tmp), launcher=args.launcher.split() if args.launcher else None)
        cluster.start()
        try:
            leader, follower = cluster.leader(), cluster.followers()[0]
            if args.writes:
                lat = await notification_latency(leader, follower, args.writes, args.fanout)
                print(f"write ack -> event on a follower: p50 {pct(lat, .5):.2f} ms, p99 {pct(lat, .99):.2f} ms "
                      f"(n={len(lat)} of {args.writes}, {args.fanout} other watchers)")
            if args.reads:
                async with aiohttp.ClientSession() as s:
                    await s.post(leader.url + "/v1/services", json={"name": "lin", "id": "x", "ttl": _TTL})
                for label, node in (("follower", follower), ("leader", leader)):
                    ok, entries = await reads_per_entries(node, args.reads)
                    print(f"{args.reads} concurrent linearizable reads on the {label}: {ok} ok, "
                          f"{entries} log entries (ticks included)")
            if args.idle:
                quiet = await cpu_over(follower.proc.pid, min(args.window, 10))
                prof = Path(args.profile) / "idle-follower.txt" if args.profile else None
                streams, waiting, cpu = await idle_cost(follower.url, follower.proc.pid, args.idle, args.blocking,
                                                        args.window, lambda i: f"/v1/watch?name=idle{i % 100}", prof)
                print(f"idle on one node: {quiet:.1f}% with nothing open; {streams} watch streams + {waiting} "
                      f"blocking reads: node CPU {cpu:.1f}% over {args.window:.0f} s")
        finally:
            cluster.stop()
    if args.floor and args.idle:
        await bare_floor(args)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writes", type=int, default=1000)
    ap.add_argument("--fanout", type=int, default=0, help="other watch streams on the follower during the latency run")
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--reads", type=int, default=1000)
    ap.add_argument("--blocking", type=int, default=5000,
                    help="blocking reads held open beside the idle watch streams")
    ap.add_argument("--window", type=float, default=30.0,
                    help="seconds of idle CPU measurement (cover a keep-alive period: 15 s by default)")
    ap.add_argument("--floor", action="store_true", help="also measure a bare aiohttp SSE server")
    ap.add_argument("--profile", metavar="DIR", help="py-spy the idle node into DIR/idle-follower.txt")
    ap.add_argument("--launcher", help="command that starts a node instead of `python -m manifest_node` "
                                       "(A/B runs of modified code), split on spaces")
    ap.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    # Each idle request is one socket here and one in the node (which inherits the limit).
    _raise_fd_limit(args.idle + args.blocking + args.fanout + 1024)
    if args.serve_bare:
        _serve_bare(args.serve_bare, 15.0)
        return 0
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
