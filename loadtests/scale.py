"""Issue 6, target 7: a large fleet heartbeating steadily against a 3-node cluster.

    python -m loadtests.scale [--instances 100000] [--interval 10] [--minutes 10]
                              [--ttl 30] [--connections 300] [--every 5] [--out DIR]

Beats each of ``--instances`` instances of service ``scale`` (ttl ``--ttl``)
every ``--interval`` seconds: instances/interval heartbeats/s in all, spread
over the three nodes, paced by wrk (a token schedule per thread; every
instance belongs to one wrk thread, which cycles through its share). wrk runs
in ``--every``-second rounds, each printing one progress line: heartbeats/s
achieved, p50/p99 latency, errors, RSS per node, instances marked down so far
(``expired`` events on a follower's watch stream, from the settle phase on)
and snapshots written.

Phases: ``register`` (a background registrar registers the fleet in id
order while the instances registered so far are already beaten, so none
waits a ttl for its first heartbeat), ``settle`` (one ttl of full-rate
heartbeats: every instance has been beaten under the full rotation, or is
down, by its end), then ``measure`` (``--minutes``): only these rounds count,
and every ``expired`` event in them is an instance falsely marked down.

At the end: the overall figures, a final count of down instances on every
node, and the snapshot + restore cost of that state, measured two ways:
(1) in-process, ``SnapshotHooks.serialize``/``deserialize`` (what a node runs:
``RegistryState.snapshot()``/``restore()`` plus msgpack and the file) on the
``raft.snapshot`` a node wrote during the run; (2) a follower SIGKILLed and
restarted, timed until it is ready and has caught up with the leader.
Results go to ``--out``/scale.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack

from manifest_node.consensus.pysyncobj.config import SERIALIZER_STATE
from manifest_node.consensus.snapshot import SnapshotHooks, read_dump
from manifest_node.fsm.registry import RegistryState
from manifest_node.memory import GC_THRESHOLDS
from tests.support.cluster import wait_until
from tests.support.watcher import Watcher

from .bench import lua, targets, tools, wrk

SERVICE, PREFIX = "scale", "s-"


def log(msg: str) -> None:
    print(msg, flush=True)


def snapshot_cost(path: str, workdir: str) -> dict:
    """Time what a node does to write and to load this snapshot, in this process, with a node's collector."""
    saved = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)  # the default ones made restore three times slower than a node's
    try:
        return _snapshot_cost(path, workdir)
    finally:
        gc.set_threshold(*saved)


def _snapshot_cost(path: str, workdir: str) -> dict:
    dump = read_dump(path)
    state = RegistryState()
    hooks_in = SnapshotHooks(state, threading.Lock(), fsync=False, on_restore=lambda rev: None)
    t0 = time.perf_counter()
    last, prev, cluster = hooks_in.deserialize(path)  # with the collector paused, as a node does
    restore_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state.capture()  # what the node's snapshot writer (a forked child) does first
    capture_s = time.perf_counter() - t0
    fork_s = fork_cost()
    target = os.path.join(workdir, "scale.snapshot")
    t0 = time.perf_counter()
    hooks_in.serialize(target, (last, prev, list(cluster)))  # forks a writer, as a node's does
    hooks_in.wait(120)
    if hooks_in.check() != SERIALIZER_STATE.SUCCESS or not os.path.exists(target):
        raise RuntimeError(f"the snapshot writer did not write {target}")
    snapshot_s = time.perf_counter() - t0  # until the file is in place: the child's capture, pack and write
    return {"file": path, "bytes": os.path.getsize(path), "instances": instance_count(dump),
            "snapshot_s": round(snapshot_s, 3), "restore_s": round(restore_s, 3), "capture_s": round(capture_s, 4),
            "fork_s": round(fork_s, 4), "total_s": round(snapshot_s + restore_s, 3)}


def fork_cost() -> float:
    """Seconds this process, holding the state, takes to fork: the part of a node's snapshot that
    holds its state lock (consensus/snapshot.py)."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    elapsed = time.perf_counter() - t0
    os.waitpid(pid, 0)
    return elapsed


def instance_count(dump: dict) -> int:
    state = dump["state"]
    if isinstance(state, bytes):
        state = msgpack.unpackb(state, raw=False)
    return len(state.get("instances", []))


def restart_cost(cluster) -> tuple[float, float]:
    """SIGKILL a follower, start it again: seconds until it is ready and caught up with the leader,
    and its RSS then (MB), which a node built from the leader's snapshot has, not from the log."""
    follower = cluster.followers()[0]
    follower.kill()
    t0 = time.monotonic()
    follower.start()

    def caught_up():
        h = follower.health()
        lead = cluster.leader().health().body["revision"]
        return h.status == 200 and h.body["revision"] >= lead
    wait_until(caught_up, 120, interval=0.02, what="restarted follower caught up")
    return time.monotonic() - t0, targets.rss_mb(follower.proc.pid)


def snapshot_mtimes(cluster) -> dict:
    out = {}
    for n in cluster.nodes:
        p = Path(n.data_dir) / "raft.snapshot"
        out[n.id] = p.stat().st_mtime if p.exists() else None
    return out


def run(args) -> dict:
    wrk_path = tools.ensure_wrk(log)
    rate = args.instances / args.interval
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.connections + 1024)), hard))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = ["--compaction-entries", str(args.compaction_entries)] if args.compaction_entries else []
    started: list = []
    with tempfile.TemporaryDirectory(prefix="manifest-scale-") as tmp:
        try:
            cluster = targets.start_manifest(Path(tmp) / "cluster", extra, started)
            return _run(args, cluster, wrk_path, rate, tmp)
        finally:
            for thing in started:
                thing.stop()
            # The nodes' logs outlive the run: an election or an error in a round is explained there.
            for path in (Path(tmp) / "cluster").glob("*.log"):
                shutil.copy(path, out_dir / path.name)


class _Registrar(threading.Thread):
    """Registers the fleet in id order, in chunks, in the background; ``done`` counts a prefix."""

    def __init__(self, urls: list[str], count: int, ttl: int, chunk: int = 2000):
        super().__init__(daemon=True)
        self.urls, self.count, self.ttl, self.chunk = urls, count, ttl, chunk
        self.done = self.acked = 0
        self.seconds = 0.0

    def run(self) -> None:
        t0 = time.monotonic()
        for start in range(0, self.count, self.chunk):
            ids = [f"{PREFIX}{i}" for i in range(start, min(self.count, start + self.chunk))]
            self.acked += targets.register_many(self.urls, SERVICE, ids, ttl=self.ttl, concurrency=64,
                                                extra=dict(lua.RECORD))
            self.done = start + len(ids)
        self.seconds = time.monotonic() - t0


class _Rounds:
    """wrk rounds of paced heartbeats with a progress line each; the measured ones are kept."""

    def __init__(self, args, cluster, wrk_path: str, tmp: str):
        self.args, self.cluster, self.wrk_path, self.tmp = args, cluster, wrk_path, tmp
        self.pids = {n.id: n.proc.pid for n in cluster.nodes}
        self.rss_max = {k: 0.0 for k in self.pids}
        self.snaps = {k: 0 for k in self.pids}
        self.mtimes = snapshot_mtimes(cluster)
        self.position = [0, 0, 0]  # requests made so far by each node's wrk (one thread each)
        self.t0 = time.monotonic()
        self.kept: list[dict] = []

    def one(self, count: int, seconds: int, phase: str, down: int | None) -> dict:
        batch, threads = self.args.batch, 3  # one wrk thread per node
        rate = count / self.args.interval / batch  # requests/s
        script = wrk.script(lua.manifest_heartbeat(SERVICE, PREFIX, count) if batch == 1
                            else lua.manifest_heartbeat_batch(SERVICE, PREFIX, count, batch))
        res = wrk.run(self.wrk_path, self.cluster.urls, script, threads=threads,
                      connections=self.args.connections, duration=seconds, tag=f"r{int(time.monotonic())}",
                      rate=rate, workdir=self.tmp, process_args=[[str(p)] for p in self.position])
        self.position = [p + done * batch for p, done in zip(self.position, res.per_process)]
        res.rps *= batch  # heartbeats/s, whatever the request size
        rss = {k: targets.rss_mb(pid) for k, pid in self.pids.items()}
        for k, v in rss.items():
            self.rss_max[k] = max(self.rss_max[k], v)
        mt = snapshot_mtimes(self.cluster)
        for k in mt:
            self.snaps[k] += mt[k] is not None and mt[k] != self.mtimes.get(k)
        self.mtimes = mt
        term = self._term()
        lat = res.latency_us
        log(f"{time.monotonic() - self.t0:>6.0f} {phase:9} {count:>7} {res.rps:>7.0f} "
            f"{lat.get('p50', 0) / 1000:>7.2f} {lat.get('p99', 0) / 1000:>7.2f} {sum(res.errors.values()):>6} "
            f"{'-' if down is None else down:>5}  " + " ".join(f"{k}={v:.0f}" for k, v in rss.items())
            + "   " + " ".join(f"{k}={v}" for k, v in self.snaps.items()) + f"   {term}")
        return {"t": round(time.monotonic() - self.t0, 1), "phase": phase, "instances": count, **res.to_dict(),
                "rss_mb": rss, "grid": res.grid, "leader_term": term}

    def _term(self) -> str:
        """``leader-id@term`` as a node sees it: a change between rounds is an election under load."""
        for n in self.cluster.nodes:
            try:
                body = n.get("/v1/cluster", timeout=2).body
            except OSError:
                continue
            leader = next((m["id"] for m in body["members"] if m.get("api") == body["leader"]), "?")
            return f"{leader}@{body['term']}"
        return "?"


def _run(args, cluster, wrk_path: str, rate: float, tmp: str) -> dict:
    rounds = _Rounds(args, cluster, wrk_path, tmp)
    log(f"{args.instances} instances, heartbeat every {args.interval:g} s = {rate:.0f}/s over 3 nodes, "
        f"ttl {args.ttl} s, {args.connections} connections, {args.batch} per request; phases: register "
        f"(beating those registered so far), settle {args.ttl} s, measure {args.minutes:g} min")
    log(f"{'t':>6} {'phase':9} {'beating':>7} {'hb/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'expd':>5}  "
        "RSS MB per node   snapshots   leader@term")
    registrar = _Registrar(cluster.urls, args.instances, args.ttl)
    registrar.start()
    while registrar.is_alive():
        if registrar.done == 0:
            time.sleep(0.5)
            continue
        rounds.one(registrar.done, args.every, "register", None)
    follower = cluster.followers()[0]
    watcher = Watcher(follower.url, since=None, name=SERVICE).start()

    def expired(since: int = 0) -> int:
        return sum(1 for e in watcher.events[since:] if e[1] == "expired")

    settle_end = time.monotonic() + args.ttl  # every instance beaten under the full rotation, or down by now
    while time.monotonic() < settle_end:
        rounds.one(args.instances, max(1, min(args.every, round(settle_end - time.monotonic()))), "settle",
                   expired())
    settle_expired, mark = expired(), len(watcher.events)
    run_end = time.monotonic() + args.minutes * 60
    while time.monotonic() < run_end - 0.5:
        dur = max(1, min(args.every, round(run_end - time.monotonic())))
        rounds.kept.append(rounds.one(args.instances, dur, "measure", expired(mark)))
    register_s, acked = registrar.seconds, registrar.acked
    rss_max, snaps, rounds = rounds.rss_max, rounds.snaps, rounds.kept
    time.sleep(1)
    watcher.stop()
    measure_expired = expired(mark)
    down_final = {n.id: len(n.get(f"/v1/services/{SERVICE}?status=down", timeout=30).body["instances"])
                  for n in cluster.nodes}
    up_final = len(cluster.leader().get(f"/v1/services/{SERVICE}?status=up", timeout=30).body["instances"])
    merged = wrk.merge_grids([{"requests": r["requests"], "grid": r["grid"]} for r in rounds if r["requests"]])
    total_req = sum(r["requests"] for r in rounds) * args.batch  # heartbeats, whatever the request size
    total_s = sum(r["duration_s"] for r in rounds)
    dumps = [str(Path(n.data_dir) / "raft.snapshot") for n in cluster.nodes
             if (Path(n.data_dir) / "raft.snapshot").exists()]
    snap = (snapshot_cost(max(dumps, key=os.path.getmtime), tmp) if dumps else
            {"error": "no snapshot written during the run (run longer, or pass --compaction-entries)"})
    restart_s, restart_rss = restart_cost(cluster)
    result = {
        "instances": args.instances, "registered": acked, "register_s": round(register_s, 1),
        "interval_s": args.interval, "ttl_s": args.ttl, "minutes": args.minutes, "connections": args.connections,
        "batch": args.batch,
        "target_rate": rate, "achieved_rate": round(total_req / total_s, 1) if total_s else 0,
        "heartbeats": total_req, "errors": sum(r["error_count"] for r in rounds),
        "latency_ms": {k: round(dict(merged).get(q, 0) / 1000, 3) for k, q in
                       (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))},
        "worst_round_p99_ms": max((r["latency_ms"].get("p99", 0) for r in rounds), default=0),
        "down_events": measure_expired, "settle_expired": settle_expired, "down_final": down_final,
        "up_final": up_final, "missing_final": args.instances - up_final - max(down_final.values()), "rss_max_mb": {k: round(v, 1) for k, v in rss_max.items()},
        "snapshots_written": snaps, "snapshot": snap, "follower_restart_s": round(restart_s, 2),
        "follower_restart_rss_mb": round(restart_rss, 1), "elections": _elections(rounds),
        "rounds": [{k: v for k, v in r.items() if k != "grid"} for r in rounds],
        "note": "figures are from the measure phase only (after registration and a ttl of settling)",
    }
    result["targets"] = _targets(result)
    return result


def _targets(r: dict) -> list[dict]:
    snap_total = r["snapshot"].get("total_s")
    checks = [
        ("load achieved (>= 98% of instances/interval)", r["achieved_rate"], r["target_rate"] * 0.98, True),
        ("zero instances marked down while measuring", r["down_events"], 0, False),
        ("every instance up at the end", r["instances"] - r["up_final"], 0, False),
        ("p99 heartbeat latency <= 50 ms", r["latency_ms"]["p99"], 50, False),
        ("zero elections while measuring", r["elections"], 0, False),
        # Issue 16 target 4 (issue 6 asked for 300 MB and 3 s); a restarted node counts too.
        ("RSS per node <= 250 MB", max([*r["rss_max_mb"].values(), r["follower_restart_rss_mb"]]), 250, False),
        ("snapshot + restore <= 2 s (in-process)", snap_total, 2, False),
    ]
    return [{"target": t, "value": v, "limit": lim,
             "pass": None if v is None else (v >= lim if higher else v <= lim)} for t, v, lim, higher in checks]


def _elections(rounds: list[dict]) -> int:
    """Leader or term changes between measured rounds, as ``leader@term`` shows them."""
    terms = [r["leader_term"] for r in rounds if r.get("leader_term") not in (None, "?")]
    return sum(a != b for a, b in zip(terms, terms[1:]))


def print_table(r: dict) -> None:
    log("")
    log(f"instances {r['instances']} (registered {r['registered']} in {r['register_s']} s), "
        f"interval {r['interval_s']:g} s, ttl {r['ttl_s']} s, {r['minutes']:g} min")
    log(f"heartbeats/s: target {r['target_rate']:.0f}, achieved {r['achieved_rate']:.0f} "
        f"({r['heartbeats']} sent, {r['errors']} errors)")
    lat = r["latency_ms"]
    log(f"latency: p50 {lat['p50']:.2f} ms, p90 {lat['p90']:.2f} ms, p99 {lat['p99']:.2f} ms, "
        f"p99.9 {lat['p99.9']:.2f} ms (worst {r['worst_round_p99_ms']:.1f} ms p99 in a round)")
    log(f"down: {r['down_events']} expired events while measuring ({r['settle_expired']} while settling); "
        f"at the end: up {r['up_final']}, down per node {r['down_final']}, gone {r['missing_final']} "
        "(expired, then removed after the grace period: their heartbeats got 404)")
    log(f"RSS max per node (MB): {r['rss_max_mb']}; snapshots written per node: {r['snapshots_written']}")
    s = r["snapshot"]
    if "error" in s:
        log(f"snapshot: {s['error']}")
    else:
        log(f"snapshot of {s['instances']} instances, {s['bytes'] / 1e6:.1f} MB: serialize {s['snapshot_s']:.3f} s "
            f"+ restore {s['restore_s']:.3f} s = {s['total_s']:.3f} s (in-process, SnapshotHooks); "
            f"the state lock is held for the fork: {s['fork_s'] * 1000:.1f} ms")
    log(f"follower SIGKILL + restart until caught up: {r['follower_restart_s']:.2f} s, "
        f"its RSS then {r['follower_restart_rss_mb']:.0f} MB; elections while measuring: {r['elections']}")
    log("")
    for t in r["targets"]:
        res = {True: "PASS", False: "FAIL", None: "n/a"}[t["pass"]]
        log(f"  {t['target']:48} {t['value']!s:>10}  (limit {t['limit']:g})  {res}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.scale", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=100_000)
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between an instance's heartbeats")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--ttl", type=int, default=30, help="instance ttl, seconds (README: beat every ttl/3)")
    ap.add_argument("--connections", type=int, default=300, help="wrk connections, split over the nodes")
    ap.add_argument("--every", type=int, default=5, help="seconds per progress line (one wrk round)")
    ap.add_argument("--batch", type=int, default=1,
                    help="heartbeats per request: 1 = PUT .../heartbeat per instance, N = POST /v1/heartbeats "
                         "with N instances each (an agent beating for the instances of its host)")
    ap.add_argument("--compaction-entries", type=int, default=None,
                    help="pass --compaction-entries to the nodes (default: the node's own, 5000)")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the nodes are stopped on SIGTERM too
    result = run(args)
    print_table(result)
    path = Path(args.out) / "scale.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
