"""Syscalls per write, by thread: ``strace -c`` on every thread of the leader and of one follower
while 900 heartbeats go one at a time, at 300/s, through the leader (issue 16, 2026-12-03).

    .venv/bin/python docs/experiments/syscalls_per_write.py    # then: head -12 /tmp/st-*.txt

``/tmp/st-L-main.txt`` is the leader's event-loop thread, ``/tmp/st-L-<tid>.txt`` its other
threads (the Raft tick thread among them); ``F`` the same for the follower. Needs strace and
the right to trace the nodes (root). A measurement kept with the figures it produced
(docs/benchmarks.md), not a benchmark: strace slows every syscall it counts.
"""

import asyncio
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import aiohttp

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.support.cluster import Cluster  # noqa: E402
from tests.support.http import call  # noqa: E402

WRITES, RATE = 900, 300


async def drive(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        start = time.monotonic()
        for i in range(WRITES):
            async with session.put(url) as r:
                await r.read()
            pause = start + (i + 1) / RATE - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)


def main() -> None:
    with Cluster(pathlib.Path(tempfile.mkdtemp())) as cluster:
        leader = cluster.leader()
        follower = next(n for n in cluster.nodes if n is not leader)
        assert call(leader.url, "POST", "/v1/services", {"name": "s", "id": "a", "ttl": 60}).status == 201
        time.sleep(1)
        tracers = []
        for node, tag in ((leader, "L"), (follower, "F")):
            for tid in os.listdir(f"/proc/{node.proc.pid}/task"):
                name = "main" if int(tid) == node.proc.pid else tid
                tracers.append(subprocess.Popen(["strace", "-c", "-p", tid, "-o", f"/tmp/st-{tag}-{name}.txt"],
                                                stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        asyncio.run(drive(leader.url + "/v1/services/s/a/heartbeat"))
        for t in tracers:
            t.send_signal(2)
        for t in tracers:
            t.wait()


if __name__ == "__main__":
    main()
