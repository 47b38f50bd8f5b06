"""Issue 17, point 5: a long run of a 3-node cluster under a steady fleet, looking for slow leaks.

    python -m loadtests.soak [--minutes 60] [--instances 5000] [--out DIR]

A real 3-node cluster (cluster secret, auth on with a bootstrap token) with
``--instances`` instances heartbeating every ``--interval`` seconds, 90% of
them through fleet agents' batches (POST /v1/heartbeats) and the rest one
PUT each; churn (register, deregister, restart of a random instance) every
``--churn-every`` seconds; watchers (SSE) and blocking readers on every
node; point reads; and a node restart every ``--restart-every`` minutes
(the leader SIGKILLed, then a follower SIGTERMed, alternately; a run shorter
than two periods restarts once, at a third of the run).

Every ``--sample-seconds`` (60; 10 for runs under 30 minutes) it samples per
node: RSS, open fds and threads (/proc), journal, snapshot and audit log
sizes and the snapshot file count (the data dir), and the p99 of the writes
and reads it sent to that node. At the end it fits a slope to each series
over the last ``--fit-minutes`` (30, or the last half of a shorter run) and
fails when one grows past its threshold (loadtests/soak/trend.py); it also
fails on any error outside a node restart, on any acknowledged registration
missing from any node, and on any gap or duplicate in a watch stream.

Writes ``soak.json`` (every sample, the slopes, counts by status) and
``soak.png`` to ``--out``. Exit status 0 pass, 1 fail.

    python -m loadtests.soak --rejudge DIR/soak.json

judges a saved run's samples again with this tree's growth test, prints
the report and plots it beside the file (``soak-rejudged.png``), so a change
to the test can be shown on the runs it was drawn from.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

from . import plot, trend
from .run import Soak, start_cluster

# Bounded buffers made to fill in the first minutes, so the fit window sees their steady state
# (with the defaults, 10,000 watch events and 1 h of tombstones, they fill for hours: docs/operations.md).
NODE_ARGS = ["--watch-history", "1000", "--tombstone-ttl", "600"]


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m loadtests.soak", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--instances", type=int, default=5000)
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between an instance's heartbeats (ttl 3x)")
    ap.add_argument("--churn-every", type=float, default=2.0, help="seconds between churn operations")
    ap.add_argument("--restart-every", type=float, default=10.0, help="minutes between node restarts")
    ap.add_argument("--sample-seconds", type=float, default=None, help="default 60, or 10 under 30 minutes")
    ap.add_argument("--fit-minutes", type=float, default=30.0, help="fit window (at most half the run)")
    ap.add_argument("--wait", type=float, default=10.0, help="blocking readers' wait, seconds")
    ap.add_argument("--read-rate", type=float, default=10.0, help="point reads per second")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--node-arg", action="append", default=None,
                    help=f"extra flag for every node (repeat); default {' '.join(NODE_ARGS)}")
    ap.add_argument("--out", default="soak-results")
    ap.add_argument("--rejudge", metavar="SOAK_JSON", help="judge a saved run's samples again; run nothing")
    args = ap.parse_args(argv)
    if args.sample_seconds is None:
        args.sample_seconds = 60.0 if args.minutes >= 30 else 10.0
    if args.node_arg is None:
        args.node_arg = list(NODE_ARGS)
    return args


def report(result: dict) -> None:
    print("\nslopes over the last %.1f min (segment-aware Theil-Sen; per hour):" % result["fit_window_min"])
    print(trend.table([trend.Slope.from_dict(s) for s in result["slopes"]]))
    print("\nrestarts:", *(f"  {r}" for r in result["restarts"]), sep="\n")
    print(f"elections seen: {len(result['elections'])}, of which no restart caused "
          f"{len(result['unplanned_elections'])}: {result['unplanned_elections']}")
    print("\nanswers by kind and status:", json.dumps(result["status_counts"], indent=1))
    print("errors:", json.dumps(result["errors"], indent=1))
    print("latency (ms):", json.dumps(result["latency_ms"], indent=1))
    print("anomalies:", result["anomalies"], " churn:", result["churn_ops"])
    print("final:", json.dumps(result["final"]["nodes"]), f"expected {result['final']['expected']}")
    print("watchers:", *(f"  {w}" for w in result["watchers"]), sep="\n")
    print("blocking readers:", result["blocking_readers"])
    failed = [m for ms in result["checks"].values() for m in ms]
    print("\nVERDICT:", "PASS" if not failed else "FAIL\n  " + "\n  ".join(failed))


def rejudge(result: dict) -> dict:
    """``result`` with its slopes, growth check and verdict recomputed from its samples."""
    config = result["config"]
    fitted = trend.slopes(result["samples"], config["minutes"], config["fit_minutes"])
    checks = dict(result["checks"], growth=trend.failures(fitted))
    return {**result, "slopes": [s.to_dict() for s in fitted], "checks": checks,
            "pass": not any(checks.values())}


def main(argv=None) -> int:
    args = parse(argv)
    if args.rejudge:
        result = rejudge(json.loads(Path(args.rejudge).read_text()))
        report(result)
        plot.plot(result, str(Path(args.rejudge).with_name("soak-rejudged.png")))
        return 0 if result["pass"] else 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the nodes are stopped on SIGTERM too
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"soak: {args.instances} instances, {args.minutes:g} min, load average {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="manifest-soak-") as tmp:
        cluster = start_cluster(Path(tmp) / "cluster", args.node_arg)
        try:
            result = asyncio.run(Soak(args, cluster).run())
        finally:
            cluster.stop()
            for node in cluster.nodes:
                (out / f"{node.id}.log").write_text(node.log_text())
    result["load_average_end"] = os.getloadavg()
    (out / "soak.json").write_text(json.dumps(result, indent=1) + "\n")
    png = plot.plot(result, str(out / "soak.png"))
    report(result)
    print(f"wrote {out / 'soak.json'}" + (f" and {png}" if png else " (no plot: matplotlib missing)"))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
