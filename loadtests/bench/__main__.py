"""Issue 6's benchmark: Manifest, etcd and bare aiohttp measured with wrk in one run.

    python -m loadtests.bench [--duration 20] [--connections 64] [--threads 2]
                              [--quick] [--out DIR] [--no-etcd] [--kills 10]

Starts a 3-node Manifest cluster (10 instances of ``bench-read`` for reads,
``--heartbeat-instances`` of ``bench-hb`` for heartbeats), a bare aiohttp
server and a 3-node etcd cluster, all on free loopback ports; runs the
one-connection latency scenarios, then the throughput scenarios, then
failover (fresh Manifest cluster; etcd in place). Prints a table and the
target ratios, and writes results.json and bench.png into --out.
wrk (and etcd, unless --no-etcd) are installed with apt-get when missing.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.watcher import Watcher

from . import cpu, failover, lua, profile, report, scenarios, targets, tools, wrk
from .scenarios import HB_PREFIX, HB_SERVICE, READ_SERVICE, Env, Scenario


_T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {msg}" if msg else "", flush=True)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m loadtests.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=20, help="seconds per throughput scenario")
    ap.add_argument("--latency-duration", type=float, default=None, help="seconds per one-connection scenario "
                    "(default: half of --duration, at most 10)")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1-second scenarios, 1 kill: a smoke run (~30 s)")
    ap.add_argument("--out", default="bench-results", help="directory for results.json and bench.png")
    ap.add_argument("--no-etcd", action="store_true", help="skip etcd (and the ratios that need it)")
    ap.add_argument("--kills", type=int, default=10, help="leader kills for failover (Manifest and etcd)")
    ap.add_argument("--heartbeat-instances", type=int, default=1000)
    ap.add_argument("--fsync", action="store_true", help="run the Manifest nodes with --fsync")
    ap.add_argument("--raft-protocol", choices=("v2", "legacy"), default="v2",
                    help="the nodes' Raft wire protocol (legacy: pysyncobj's pickle + Fernet framing)")
    ap.add_argument("--etcd-tmpfs", action="store_true",
                    help="etcd data dirs in /dev/shm (its fsyncs become free, like Manifest without --fsync)")
    ap.add_argument("--rate", type=float, default=None,
                    help="pace every throughput scenario at this many req/s (gentle smoke runs; not a benchmark)")
    ap.add_argument("--profile", action="store_true",
                    help="py-spy every node during the Manifest throughput scenarios (profiles/ in --out)")
    ap.add_argument("--only", default=None, help="comma-separated substrings: run only matching scenarios")
    args = ap.parse_args(argv)
    if args.profile and profile.py_spy() is None:
        # Without it every profile would be silently missing from the run's output.
        ap.error("--profile needs py-spy (in the dev extra: make setup)")
    if args.quick:
        args.duration, args.kills, args.connections = 1, 1, min(args.connections, 16)
        args.heartbeat_instances = min(args.heartbeat_instances, 200)
    if args.latency_duration is None:
        args.latency_duration = max(1.0, min(10.0, args.duration / 2))
    return args


def node_flags(args) -> list[str]:
    return (["--fsync"] if args.fsync else []) + ["--raft-protocol", args.raft_protocol]


def measure(sc: Scenario, wrk_path: str, args, workdir: str, pids: dict | None = None) -> dict:
    one = sc.kind == "latency"
    spies = []
    if args.profile and pids and sc.system == "manifest" and not one:
        spies = profile.start(pids, args.duration, Path(args.out) / "profiles", sc.key)
    pids_by_system = getattr(args, "server_pids", None) or {}
    servers = pids_by_system.get(sc.system, [])
    # The systems not under test should be idle; if one is not (etcd compacting
    # after its put runs, say), the figure is disturbed and the table says so.
    bystanders = [p for system, ps in pids_by_system.items() if system != sc.system for p in ps]
    cpu_before, idle_before = cpu.seconds(servers), cpu.seconds(bystanders)
    res = wrk.run(wrk_path, sc.urls, wrk.script(sc.script), threads=1 if one else args.threads,
                  connections=1 if one else args.connections,
                  duration=args.latency_duration if one else args.duration,
                  tag=sc.key.replace(".", "")[-12:] + str(int(time.time()) % 100000),
                  rate=None if one else args.rate, workdir=workdir)
    out = {"system": sc.system, "kind": sc.kind, "description": sc.description, "target": sc.target,
           **res.to_dict(), **cpu.per_request(cpu_before, cpu.seconds(servers), res.requests, res.duration_s),
           "bystander_cores": round((cpu.seconds(bystanders) - idle_before) / res.duration_s, 2)
           if res.duration_s else None}
    if res.requests and out["error_count"] > 0.01 * res.requests:
        out["warning"] = f"{out['error_count']} errors in {res.requests} requests"
    if spies:
        out["profile"] = {p.stem.rsplit("-", 2)[-2] + "-" + p.stem.rsplit("-", 1)[-1]: profile.hot_spots(p)
                          for p in profile.finish(spies)}
    return out


def node_pids(cluster) -> dict[str, int]:
    leader = cluster.leader()
    return {f"{n.id}-{'leader' if n is leader else 'follower'}": n.proc.pid for n in cluster.nodes}


def heartbeat_run(sc: Scenario, wrk_path: str, args, workdir: str, cluster) -> dict:
    """The heartbeat scenario, with a watch on a follower counting instances marked down.

    Its instances are registered (ttl 30 s) just before, so that none has expired
    waiting for the scenarios before it."""
    hb_ids = [f"{HB_PREFIX}{i}" for i in range(args.heartbeat_instances)]
    acked = targets.register_many(cluster.urls, HB_SERVICE, hb_ids, ttl=30, extra=_record())
    if acked != len(hb_ids):
        raise RuntimeError(f"registered only {acked} of {len(hb_ids)} heartbeat instances")
    cluster.wait_for_replication()
    follower = cluster.followers()[0]
    watcher = Watcher(follower.url, since=None, name=HB_SERVICE).start()
    try:
        out = measure(sc, wrk_path, args, workdir, node_pids(cluster) if args.profile else None)
        time.sleep(0.5)
    finally:
        watcher.stop()
    down_now = len(follower.get(f"/v1/services/{HB_SERVICE}?status=down").body["instances"])
    out["down"] = max(down_now, sum(1 for e in watcher.events if e[1] == "expired"))
    return out


def start_all(args, tmp: Path, etcd_path: str | None, started: list):
    """Start and seed everything; each thing joins ``started`` as soon as it exists (to be stopped)."""
    bare = targets.BareServer(tmp / "bare.log")
    started.append(bare)
    bare.start()
    log(f"bare aiohttp server on {bare.url}")
    cluster = targets.start_manifest(tmp / "manifest", node_flags(args), started)
    leader, follower = cluster.leader(), cluster.followers()[0]
    log(f"manifest: leader {leader.url}, followers {[n.url for n in cluster.followers()]}")
    n = targets.register_many([leader.url], READ_SERVICE, [f"r{i}" for i in range(10)], ttl=3600,
                              extra=_record())
    cluster.wait_for_replication()
    log(f"seeded {n} instances of {READ_SERVICE} ({HB_SERVICE} is seeded just before its scenario)")
    env = Env(leader.url, follower.url, cluster.urls, args.heartbeat_instances, bare.url)
    args.server_pids = {"manifest": [n.proc.pid for n in cluster.nodes], "aiohttp": [bare.proc.pid]}
    etcd = None
    if etcd_path:
        etcd_dir = Path(tempfile.mkdtemp(prefix="etcd-", dir="/dev/shm")) if args.etcd_tmpfs else tmp / "etcd"
        etcd = targets.EtcdCluster(etcd_path, etcd_dir)
        started.append(etcd)
        etcd.start()
        e_leader = etcd.leader()
        env.etcd_leader, env.etcd_follower = e_leader.url, etcd.followers()[0].url
        etcd.put_prefix(scenarios.ETCD_READ_PREFIX, 10, json.dumps(_record(), separators=(",", ":")))
        env.lease_ids = etcd.grant_leases(args.heartbeat_instances, ttl=3600)
        args.server_pids["etcd"] = [m.proc.pid for m in etcd.members]
        log(f"etcd: leader {e_leader.url}; seeded 10 keys, {len(env.lease_ids)} leases (data in {etcd_dir})")
    return bare, cluster, etcd, env


def _record() -> dict:
    return dict(lua.RECORD)


def run_scenarios(args, env: Env, cluster, wrk_path: str, workdir: str, results: dict) -> None:
    plan = scenarios.latency_scenarios(env) + scenarios.throughput_scenarios(env)
    for sc in plan:
        if args.only and not any(s in sc.key for s in args.only.split(",")):
            continue
        log(f"- {sc.key}: {sc.description} [{sc.kind}, {sc.target}]")
        try:
            if sc.key == "manifest.heartbeat.spread":
                results[sc.key] = heartbeat_run(sc, wrk_path, args, workdir, cluster)
            else:
                results[sc.key] = measure(sc, wrk_path, args, workdir, node_pids(cluster) if args.profile else None)
        except Exception as exc:  # one broken scenario must not lose the others
            results[sc.key] = {"system": sc.system, "kind": sc.kind, "error": repr(exc)[:300]}
        r = results[sc.key]
        if "rps" in r:
            log(f"    {r['rps']:.0f} req/s, p50 {r['latency_ms'].get('p50', 0):.2f} ms, "
                f"p99 {r['latency_ms'].get('p99', 0):.2f} ms, errors {r['error_count']}, "
                f"{r.get('cpu_us_per_req')} CPU us/req on {r.get('cpu_cores')} cores "
                f"(other systems meanwhile: {r.get('bystander_cores')} cores)"
                + (f", down {r['down']}" if "down" in r else ""))
        else:
            log(f"    {r}")
        for node, spots in r.get("profile", {}).items():
            log(f"    hot ({node}, self): " + "; ".join(f"{n} {p}%" for n, p in spots["self"][:5]))
        time.sleep(0.1 if args.quick else 2)  # let queues drain between scenarios


def source_state() -> dict:
    """The commit measured, and whether node/ had uncommitted changes (read-only git)."""
    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "--short", "HEAD"), "node_dirty": bool(git("status", "--porcelain", "node"))}


def run(args) -> int:
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrk_path = tools.ensure_wrk(log)
    etcd_path = None
    if not args.no_etcd:
        etcd_path = tools.ensure_etcd(log)
        if etcd_path is None:
            log("running WITHOUT etcd: its scenarios and the ratios against it are reported as skipped")
    skip_reason = "--no-etcd" if args.no_etcd else "etcd not installed (apt-get install etcd-server)"
    results: dict = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="manifest-bench-") as tmpname:
        tmp = Path(tmpname)
        running: list = []
        etcd = None
        try:
            bare, cluster, etcd, env = start_all(args, tmp, etcd_path, running)
            run_scenarios(args, env, cluster, wrk_path, tmpname, results)
            bare.stop()
            cluster.stop()
            if not args.only or "failover" in args.only:
                results.update(run_failover(args, tmp, etcd))
        finally:
            for thing in running:
                thing.stop()
            if etcd is not None and args.etcd_tmpfs:
                shutil.rmtree(os.path.dirname(etcd.members[0].data_dir), ignore_errors=True)
    if etcd_path is None:
        for key in scenarios.ETCD_KEYS:
            results.setdefault(key, {"system": "etcd", "skipped": skip_reason})
    targets_eval = report.evaluate(results)
    meta = {"duration_s": args.duration, "latency_duration_s": args.latency_duration,
            "connections": args.connections, "threads": args.threads, "quick": args.quick, "kills": args.kills,
            "heartbeat_instances": args.heartbeat_instances, "rate": args.rate, "fsync": args.fsync,
            "raft_protocol": args.raft_protocol,
            "etcd_tmpfs": args.etcd_tmpfs,
            "etcd": etcd_path is not None, "cpus": os.cpu_count(), "python": platform.python_version(),
            "loadavg_end": os.getloadavg()[0], **source_state(),
            "wall_s": round(time.monotonic() - started, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                        time.gmtime())}
    report.write_json(out_dir / "results.json", meta, results, targets_eval)
    plotted = report.plot(out_dir / "bench.png", results)
    log("")
    print(report.table(results, targets_eval), flush=True)
    log("")
    log(f"wrote {out_dir / 'results.json'}" + (f" and {out_dir / 'bench.png'}" if plotted else
                                               " (no plot: pip install matplotlib)"))
    return 0


def run_failover(args, tmp: Path, etcd) -> dict:
    out = {}
    if args.kills <= 0:
        return out
    log(f"- failover.manifest: fresh 3-node cluster, {args.kills} leader kills")
    running: list = []
    try:
        cluster = targets.start_manifest(tmp / "failover", node_flags(args), running)
        out["failover.manifest"] = {"system": "manifest", "kind": "failover",
                                    **failover.summary(failover.manifest(cluster, args.kills, log))}
    except Exception as exc:
        out["failover.manifest"] = {"system": "manifest", "kind": "failover", "error": repr(exc)[:300]}
    finally:
        for thing in running:
            thing.stop()
    if etcd is not None:
        log(f"- failover.etcd: {args.kills} leader kills")
        try:
            out["failover.etcd"] = {"system": "etcd", "kind": "failover",
                                    **failover.summary(failover.etcd(etcd, args.kills, log))}
        except Exception as exc:
            out["failover.etcd"] = {"system": "etcd", "kind": "failover", "error": repr(exc)[:300]}
    return out


def main(argv=None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so everything started is stopped on SIGTERM too
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
