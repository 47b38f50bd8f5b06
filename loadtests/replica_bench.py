"""Read replicas under the write benchmark: do they slow writes, and how far do they lag?

One run: a 3-voter cluster (with its cluster secret, as in production) takes
registrations through the leader with wrk, first alone, then with
``--replicas`` non-voting replicas following it; meanwhile every replica's
applied index is sampled against the leader's commit index. Also the local
read rate on a replica next to a follower's. Prints the figures and ratios.

On a machine with fewer cores than processes (the 2-core CI host runs three
voters, the replica and wrk), a replica takes CPU the voters would have had,
so throughput alone would charge the voters with the replica's cost. CPU per
acknowledged write is therefore printed too, for the voters and for the
replica apart: a replica does not slow writes when the voters' CPU per write
stays the same. The lag sampler runs in both phases, so both pay for it.

    .venv/bin/python -m loadtests.replica_bench [--duration 10] [--replicas 1] [--fsync]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from loadtests.bench import cpu, lua, wrk
from loadtests.bench.targets import start_manifest
from tests.support.cluster import Node, free_port, wait_until
from tests.support.http import call


def add_replica(cluster, tmp: Path, name: str, extra: list[str]) -> Node:
    replica = Node(name, free_port(), free_port(), str(tmp / name), str(tmp / f"{name}.log"),
                   peers=[n.raft for n in cluster.nodes], extra=["--replica", *extra], secret=cluster.secret)
    replica.start()
    return replica


def sample_lag(leader: Node, replicas: list[Node], stop: threading.Event, out: list[int]) -> None:
    while not stop.is_set():
        try:
            commit = leader.health().body["commit_index"]
            for r in replicas:
                out.append(max(0, commit - r.health().body["applied_index"]))
        except Exception:
            pass
        stop.wait(0.05)


def writes(wrk_path: str, url: str, seconds: float, tag: str) -> wrk.WrkResult:
    return wrk.run(wrk_path, [url], wrk.script(lua.manifest_register("replica-bench")), threads=2,
                   connections=32, duration=seconds, tag=tag)


def sampled_writes(wrk_path: str, leader: Node, voters: list[Node], replicas: list[Node], seconds: float,
                   tag: str) -> tuple[wrk.WrkResult, list[int], float, float]:
    """Writes through the leader while the lag is sampled: the result, the lags, and CPU us per
    acknowledged write of the voters and of the replicas."""
    stop, lags = threading.Event(), []
    sampler = threading.Thread(target=sample_lag, args=(leader, replicas, stop, lags), daemon=True)
    sampler.start()
    voter_pids, replica_pids = [n.proc.pid for n in voters], [r.proc.pid for r in replicas]
    v0, r0 = cpu.seconds(voter_pids), cpu.seconds(replica_pids)
    try:
        result = writes(wrk_path, leader.url, seconds, tag)
    finally:
        stop.set()
        sampler.join()
    acked = max(1, result.requests)
    return (result, lags, (cpu.seconds(voter_pids) - v0) / acked * 1e6,
            (cpu.seconds(replica_pids) - r0) / acked * 1e6)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m loadtests.replica_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--fsync", action="store_true")
    args = ap.parse_args()
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        raise SystemExit("wrk is not installed (make tools)")
    extra = ["--fsync"] if args.fsync else []
    tmp = Path(tempfile.mkdtemp(prefix="replica-bench-"))
    cluster = start_manifest(tmp / "cluster", extra)
    replicas: list[Node] = []
    try:
        leader = cluster.leader()
        follower = next(n for n in cluster.nodes if n is not leader)
        alone, _, alone_cpu, _ = sampled_writes(wrk_path, leader, cluster.nodes, [], args.duration, "alone")
        replicas = [add_replica(cluster, tmp, f"r{i + 1}", extra) for i in range(args.replicas)]
        target = leader.health().body["commit_index"]
        wait_until(lambda: all(r.health().body["applied_index"] >= target for r in replicas), 120,
                   what="the replicas to catch up")
        followed, lags, voters_cpu, replica_cpu = sampled_writes(wrk_path, leader, cluster.nodes, replicas,
                                                                 args.duration, "with")
        reads = {}
        for name, node in (("follower", follower), ("replica", replicas[0])):
            reads[name] = wrk.run(wrk_path, [node.url + "/v1/services/replica-bench?limit=10"],
                                  wrk.script(lua.static_get()), threads=2, connections=32,
                                  duration=args.duration / 2, tag=f"read-{name}").rps
        caught = time.monotonic()
        target = leader.health().body["commit_index"]
        wait_until(lambda: all(r.health().body["applied_index"] >= target for r in replicas), 60,
                   what="the replicas to catch up after the run")
        settle_ms = (time.monotonic() - caught) * 1000
    finally:
        for r in replicas:
            r.kill()
        cluster.stop()
    lags.sort()
    q = (lambda p: lags[min(len(lags) - 1, int(p * len(lags)))] if lags else 0)
    print(f"writes via the leader, {args.duration:g} s, 32 connections{' (--fsync)' if args.fsync else ''}:")
    print(f"  without replicas   {alone.rps:8.0f} req/s  p50 {alone.latency_us['p50'] / 1000:6.2f} ms  "
          f"p99 {alone.latency_us['p99'] / 1000:6.2f} ms")
    print(f"  with {args.replicas} replica(s)   {followed.rps:8.0f} req/s  p50 "
          f"{followed.latency_us['p50'] / 1000:6.2f} ms  p99 {followed.latency_us['p99'] / 1000:6.2f} ms")
    print(f"  ratio with/without {followed.rps / alone.rps:8.3f}")
    print(f"CPU per acknowledged write: voters {alone_cpu:.0f} us without replicas, {voters_cpu:.0f} us with "
          f"(ratio {voters_cpu / alone_cpu:.3f}); the replica(s) {replica_cpu:.0f} us")
    print(f"replication lag during the run, in log entries behind the leader's commit index "
          f"({len(lags)} samples): p50 {q(0.5)}, p99 {q(0.99)}, max {lags[-1] if lags else 0}; "
          f"caught up {settle_ms:.0f} ms after the run")
    print(f"local reads ({args.duration / 2:g} s): follower {reads['follower']:.0f} req/s, "
          f"replica {reads['replica']:.0f} req/s")
    if lags:
        print(f"  mean lag {statistics.mean(lags):.1f} entries")


if __name__ == "__main__":
    main()
