"""Run loadtests/locustfile.py headless against a fresh 3-node cluster.

    python -m loadtests.locust_run [--users 200] [--minutes 1] [--seconds S] [--spawn-rate R] [--out DIR]

Starts the cluster (tests.support.cluster), sets ``MANIFEST_URL`` to its three
nodes, runs ``locust --headless`` with ``--csv DIR/locust`` and
``--html DIR/locust.html`` (log in DIR/locust.log), then prints the per-request
table and one summary line from ``DIR/locust_stats.csv``, plus how many
instances the cluster holds by status at the end. Exits non-zero only when
locust did not produce its statistics.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .bench import targets
from .bench.wrk import merge_grids

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def read_stats(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


_QS = ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%")
LONG_POLLS = ("watch", "wait=")  # held open on purpose: their time is the hold, not the service's


def short_requests(rows: list[dict]) -> dict:
    """p50/p99 over every request except watches and blocking reads: the mixture of the rows'
    percentile columns, each row weighted by its request count (wrk.merge_grids)."""
    runs = [{"requests": int(r["Request Count"]),
             "grid": [(float(q[:-1]), float(r[q] if r[q] not in ("", "N/A") else 0)) for q in _QS]}
            for r in rows if r["Name"] != "Aggregated" and not any(w in r["Name"] for w in LONG_POLLS)]
    merged = dict(merge_grids([r for r in runs if r["requests"]]))
    return {"requests": sum(r["requests"] for r in runs), "p50": merged.get(50.0, 0), "p99": merged.get(99.0, 0)}


def summary_line(row: dict, users: int, seconds: float) -> str:
    return (f"locust: {users} users, {seconds:.0f} s: {row['Request Count']} requests, "
            f"{row['Failure Count']} failures, {float(row['Requests/s']):.1f} req/s, "
            f"p50 {row['50%']} ms, p95 {row['95%']} ms, p99 {row['99%']} ms, "
            f"max {float(row['Max Response Time']):.0f} ms")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.locust_run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=None, help="run time in seconds (overrides --minutes)")
    ap.add_argument("--spawn-rate", type=float, default=None, help="users started per second (default: all in ~5 s)")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    spawn = args.spawn_rate or max(1.0, args.users / 5)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / "locust"
    started: list = []
    with tempfile.TemporaryDirectory(prefix="manifest-locust-") as tmp:
        try:
            cluster = targets.start_manifest(Path(tmp) / "cluster", started=started)
            env = {**os.environ, "MANIFEST_URL": ",".join(cluster.urls)}
            cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
                   "-u", str(args.users), "-r", f"{spawn:g}", "--run-time", f"{max(1, round(seconds))}s",
                   "--stop-timeout", "5", "--csv", str(prefix), "--html", str(out / "locust.html"),
                   "--host", cluster.urls[0], "--exit-code-on-error", "0"]
            print(f"cluster {cluster.urls}; running: {' '.join(cmd[2:])}", flush=True)
            t0 = time.monotonic()
            with open(out / "locust.log", "wb") as log:
                rc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    timeout=seconds + 120).returncode
            elapsed = time.monotonic() - t0
            counts = {}
            for status in ("up", "unhealthy", "down"):
                body = cluster.leader().get(f"/v1/services?status={status}", timeout=30).body
                counts[status] = len(body["instances"])
        finally:
            for thing in started:
                thing.stop()
    stats_path = Path(f"{prefix}_stats.csv")
    if not stats_path.exists():
        print(f"locust exited {rc} without {stats_path}; see {out / 'locust.log'}")
        return 1
    rows = read_stats(stats_path)
    print(f"{'type':6} {'name':46} {'reqs':>7} {'fails':>6} {'req/s':>7} {'p50':>6} {'p99':>6}")
    for row in rows:
        print(f"{row['Type']:6} {row['Name'][:46]:46} {row['Request Count']:>7} {row['Failure Count']:>6} "
              f"{float(row['Requests/s']):>7.1f} {row['50%']:>6} {row['99%']:>6}")
    total = next(r for r in rows if r["Name"] == "Aggregated")
    print(f"instances at the end by status: {counts}")
    short = short_requests(rows)
    print(summary_line(total, args.users, elapsed)
          + f" | without watches and blocking reads: {short['requests']} requests, "
            f"p50 {short['p50']:.0f} ms, p99 {short['p99']:.0f} ms")
    print(f"wrote {stats_path}, {out / 'locust.html'}, {out / 'locust.log'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
