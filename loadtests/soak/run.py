"""One soak run: start the cluster, drive the fleet, sample, restart nodes, check, report.

The cluster is tests/support/cluster.py's: three ``manifest node`` processes
on loopback with a generated cluster secret and auth on (a bootstrap admin
token, in their environment). The soak mints a ``service`` token for the
fleet (patterns ``soak-*``) and a ``read`` token for the readers, as an
operator would, and uses the admin token only for its own checks.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from tests.support.cluster import Cluster, wait_until

from . import probe, trend
from .client import Http, Stats, p99
from .fleet import SINGLE, Fleet, service
from .readers import BlockingReader, Watcher, point_reads

RESTART_GRACE_S = 5.0  # after a restarted node is ready and caught up, errors still count as the restart's
# An election the soak did not cause (a node starved of CPU past its election timeout): its 503s, from
# before the old leader stepped down (leader_fallback + propose_timeout) to the new leader's first commits.
ELECTION_WINDOW_S = (-5.0, 3.0)


def restart_times(minutes: float, every: float) -> list[float]:
    """Minutes at which a node restarts: every ``every``, or once at a third of a short run."""
    times, k = [], 1
    while k * every <= minutes - every / 2:
        times.append(k * every)
        k += 1
    return times or [round(minutes / 3, 2)]


class Soak:
    def __init__(self, args, cluster: Cluster):
        self.args, self.cluster = args, cluster
        self.t0 = time.monotonic()
        self.stats = Stats(self.t0)
        self.generation = {n.id: 0 for n in cluster.nodes}
        self.samples: list[dict] = []
        self.restarts: list[dict] = []
        self.elections: list[dict] = []  # every change of (leader, term) the soak saw, restarts' included
        self.ready_at = {n.id: None for n in cluster.nodes}  # monotonic time a restarted node was ready
        self.warmup_s = min(120.0, 3 * args.sample_seconds)

    def now_min(self) -> float:
        return (time.monotonic() - self.t0) / 60

    def log(self, msg: str) -> None:
        print(f"[{self.now_min():6.2f} min] {msg}", flush=True)

    # ---- sampling ------------------------------------------------------------------
    def sample(self) -> None:
        window = self.stats.take_window()
        t_min = round(self.now_min(), 3)
        for node in self.cluster.nodes:
            ready = self.ready_at[node.id]
            warm = ready is None and self.generation[node.id] > 0 or (
                ready is not None and time.monotonic() - ready < self.warmup_s)
            row = {"t_min": t_min, "node": node.id, "segment": self.generation[node.id], "warm": warm,
                   "pid": node.proc.pid if node.alive else None}
            row.update((node.alive and probe.process(node.proc.pid, node.api_port, os.getpid()))
                       or dict.fromkeys(("rss_mb", "fds", "threads", "http_conns", "fds_own", "age_min")))
            row.update(probe.data_dir(node.data_dir))
            writes, reads = window.get((node.url, "write"), []), window.get((node.url, "read"), [])
            row.update(write_p99_ms=p99(writes), read_p99_ms=p99(reads), writes=len(writes), reads=len(reads))
            self.samples.append(row)
        self.log("  ".join(f"{r['node']} rss={r['rss_mb']} fds={r['fds']} own={r['fds_own']} thr={r['threads']} "
                           f"jr={r['journal_mb']:.1f} snap={r['snapshot_mb']:.2f} w99={r['write_p99_ms']} "
                           f"r99={r['read_p99_ms']}" for r in self.samples[-3:]))

    # ---- node restarts -------------------------------------------------------------
    def restart(self, k: int) -> dict:
        """Restart number ``k``: the leader when ``k`` is even, a follower when odd; SIGKILL, SIGTERM alternately."""
        leader = self.cluster.leader(timeout=30)
        followers = [n for n in self.cluster.nodes if n is not leader]
        target = leader if k % 2 == 0 else followers[(k // 2) % len(followers)]
        how = "SIGKILL" if k % 2 == 0 else "SIGTERM"
        entry = {"n": k, "node": target.id, "role": "leader" if target is leader else "follower", "signal": how,
                 "t_min": round(self.now_min(), 3)}
        if how == "SIGKILL":
            target.kill()
        else:
            entry["exit_code"] = target.terminate(30)
        target.start()
        self.ready_at[target.id] = None
        self.generation[target.id] += 1
        self.cluster.wait_ready(120, nodes=[target])
        entry["ready_s"] = round((self.now_min() - entry["t_min"]) * 60, 2)
        head = self.cluster.leader(timeout=30).health().body["revision"]
        wait_until(lambda: target.health().body["revision"] >= head, 120, what=f"{target.id} caught up")
        entry["caught_up_s"] = round((self.now_min() - entry["t_min"]) * 60, 2)
        self.ready_at[target.id] = time.monotonic()
        entry["t_end_min"] = round(self.now_min(), 3)
        return entry

    async def _restarts(self) -> None:
        for k, at in enumerate(restart_times(self.args.minutes, self.args.restart_every)):
            await asyncio.sleep(max(0.0, at * 60 - (time.monotonic() - self.t0)))
            self.log(f"restart {k}: starting")
            entry = await asyncio.to_thread(self.restart, k)
            self.restarts.append(entry)
            self.log(f"restart {k}: {entry}")

    async def _terms(self, http: Http) -> None:
        """Poll /v1/cluster every second; note each change of leader or term with its time."""
        seen, k = None, 0
        while True:
            await asyncio.sleep(1.0)
            k += 1
            status, body, _, _ = await http.send("cluster", None, "GET", "/v1/cluster", node=k % 3, retry=False)
            if status != 200 or not body.get("leader"):
                continue
            now = (body["leader"], body["term"])
            if seen is not None and now != seen:
                self.elections.append({"t_s": round(time.monotonic() - self.t0, 1), "leader": now[0], "term": now[1]})
                self.log(f"leader {now[0]} term {now[1]}")
            seen = now

    # ---- the run -------------------------------------------------------------------
    def _token(self, body: dict) -> str:
        reply = self.cluster.nodes[0].call("POST", "/v1/tokens", body)
        assert reply.status == 201, reply
        return reply.body["token"]

    async def run(self) -> dict:
        args, urls = self.args, self.cluster.urls
        fleet_http = Http(urls, self.stats, self._token({"role": "service", "services": ["soak-*"],
                                                         "description": "soak fleet agent"}))
        read_http = Http(urls, self.stats, self._token({"role": "read", "description": "soak readers"}))
        fleet = Fleet(fleet_http, self.stats, args.instances, args.interval, args.churn_every, args.seed)
        await fleet.register_base()
        self.log(f"registered {len(fleet.acked)} instances in {len(fleet.services)} services")
        fleet.start()
        since = self.cluster.leader().health().body["revision"]
        watchers = [Watcher(read_http, self.stats, k, name, since) for k in range(3) for name in (None, service(0))]
        blocking = [BlockingReader(read_http, self.stats, k, service(k % SINGLE), args.wait) for k in range(6)]
        tasks = [asyncio.create_task(w.run()) for w in watchers] + [asyncio.create_task(b.run()) for b in blocking]
        tasks.append(asyncio.create_task(point_reads(read_http, fleet, args.read_rate)))
        admin_http = Http(urls, self.stats, self.cluster.token, connections=4)
        tasks.append(asyncio.create_task(self._terms(admin_http)))
        restarts = asyncio.create_task(self._restarts())
        end = self.t0 + args.minutes * 60
        next_sample = time.monotonic() + args.sample_seconds
        while next_sample <= end + 0.5:
            await asyncio.sleep(max(0.0, next_sample - time.monotonic()))
            self.sample()
            next_sample += args.sample_seconds
        if not restarts.done():
            self.log("waiting for the restart in progress")
        await restarts
        await fleet.stop()
        await asyncio.sleep(1.0)  # let the watchers take the last events
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await fleet_http.close()
        await read_http.close()
        await admin_http.close()
        final = await asyncio.to_thread(self.final_check, fleet)
        return self.result(fleet, watchers, blocking, final)

    def final_check(self, fleet: Fleet) -> dict:
        """Every instance the soak believes registered is on every node (after replication settles)."""
        revision = self.cluster.wait_for_replication(timeout=60)
        expected = fleet.acked - fleet.unknown
        gone = fleet.deregistered - fleet.acked - fleet.unknown
        out = {"revision": revision, "expected": len(expected), "unknown": len(fleet.unknown), "nodes": {}}
        for node in self.cluster.nodes:
            present, not_up = set(), 0
            for name in fleet.services:
                reply = node.get(f"/v1/services/{name}", timeout=30)
                for inst in (reply.body or {}).get("instances", []):
                    key = (inst["name"], inst["id"])
                    present.add(key)
                    not_up += key in expected and inst["status"] != "up"
            missing = sorted(expected - present)
            out["nodes"][node.id] = {"present": len(present), "missing": len(missing), "missing_ids": missing[:20],
                                     "resurrected": len(gone & present), "not_up": not_up}
        return out

    def result(self, fleet: Fleet, watchers, blocking, final: dict) -> dict:
        fitted = trend.slopes(self.samples, self.args.minutes, self.args.fit_minutes)
        errors = classify(self.stats.events, self.restarts, self.elections)
        checks = {
            "growth": trend.failures(fitted),
            "errors": [f"{n} unexpected {k} answers of status {s}" for (k, s), n in errors["unexpected"].items()],
            "lost": [f"{node}: {v['missing']} acknowledged instances missing" for node, v in final["nodes"].items()
                     if v["missing"]],
            "watch": [f"watcher {w.node}/{w.name or '*'}: {len(w.gaps)} gaps, {len(w.duplicates)} duplicates"
                      for w in watchers if w.gaps or w.duplicates],
        }
        return {
            "config": vars(self.args), "restarts": self.restarts, "elections": self.elections,
            "unplanned_elections": unplanned(self.elections, self.restarts), "samples": self.samples,
            "slopes": [s.to_dict() for s in fitted], "fit_window_min": trend.fit_window(self.args.minutes,
                                                                                       self.args.fit_minutes),
            "status_counts": {f"{k} {s}": n for (k, s), n in sorted(self.stats.counts.items())},
            "errors": {"expected_during_restarts": {f"{k} {s}": n for (k, s), n in errors["expected"].items()},
                       "unexpected": {f"{k} {s}": n for (k, s), n in errors["unexpected"].items()},
                       "first_unexpected": errors["first"],
                       "non_2xx": [dict(zip(("t_s", "kind", "node", "status"), e)) for e in self.stats.events]},
            "latency_ms": {k: {"count": len(v), "p50": _q(v, 0.5), "p99": _q(v, 0.99), "max": _q(v, 1.0)}
                           for k, v in sorted(self.stats.latency.items())},
            "anomalies": dict(self.stats.anomalies), "churn_ops": fleet.ops, "final": final,
            "watchers": [w.to_dict() for w in watchers], "blocking_readers": [b.to_dict() for b in blocking],
            "checks": checks, "pass": not any(checks.values()),
        }


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _restart_windows(restarts: list[dict]) -> list[tuple[float, float]]:
    return [(r["t_min"] * 60 - 0.5, r["t_end_min"] * 60 + RESTART_GRACE_S) for r in restarts]


def unplanned(elections: list[dict], restarts: list[dict]) -> list[dict]:
    """The elections no node restart explains."""
    windows = _restart_windows(restarts)
    return [e for e in elections if not any(a <= e["t_s"] <= b for a, b in windows)]


def classify(events: list[tuple], restarts: list[dict], elections: list[dict] = ()) -> dict:
    """Non-2xx answers: inside a restart's or an unplanned election's window (no answer, 503, or a
    retried delete's 404), or not. Anything else (a 500, a 429, a 404 heartbeat, a 503 out of the
    blue) is unexpected."""
    from collections import Counter
    windows = _restart_windows(restarts) + [(e["t_s"] + ELECTION_WINDOW_S[0], e["t_s"] + ELECTION_WINDOW_S[1])
                                             for e in unplanned(list(elections), restarts)]
    expected, unexpected, first = Counter(), Counter(), []
    for t, kind, node, status in events:
        during = any(a <= t <= b for a, b in windows)
        tolerated = status in (0, 503) or (kind == "deregister" and status == 404)
        if during and tolerated:
            expected[(kind, status)] += 1
        else:
            unexpected[(kind, status)] += 1
            if len(first) < 20:
                first.append({"t_s": t, "kind": kind, "node": node, "status": status})
    return {"expected": expected, "unexpected": unexpected, "first": first}


def start_cluster(workdir: Path, node_args: list[str]) -> Cluster:
    cluster = Cluster(workdir, size=3, extra=node_args, auth=True)
    cluster.start(timeout=90)
    return cluster
