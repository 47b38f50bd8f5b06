"""End-of-run observations of the healed cluster, each bounded in time.

``wait_converged`` polls every node's local list until all agree (revision
and records, ``last_heartbeat`` aside: heartbeats continue and move it
without a revision); it keeps watching past the limit only to say how late.
``wait_down`` polls every node's local view of one instance until all say
``down`` (or no longer know it: removed after the grace period).
``final_state`` is one linearizable list, as ``{key: [status, v]}`` at its
revision, which the watch streams must replay to.
``applied_hashes`` samples every node's ``applied_index``/``applied_hash``
(the hash of its whole applied history, consensus/divergence.py) until all
report one index, and collects every divergence alarm the nodes raised or
logged during the run.
"""

from __future__ import annotations

import json
import time

from .client import request
from .workload import HB_SERVICE


def _view(url: str):
    r = request(url, "GET", "/v1/services", timeout=1.5)
    if r.status != 200 or not isinstance(r.body, dict):
        return None
    records = [{k: v for k, v in rec.items() if k != "last_heartbeat"} for rec in r.body["instances"]]
    return r.body["revision"], json.dumps(records, sort_keys=True)


def wait_converged(cluster, clock, t_healed: float, limit: float, overtime: float = 10.0) -> dict:
    last_diff = None
    while clock.now() < t_healed + limit + overtime:
        views = {n.id: _view(n.url) for n in cluster.nodes}
        if all(v is not None for v in views.values()) and len(set(views.values())) == 1:
            rev = next(iter(views.values()))[0]
            return {"took": round(clock.now() - t_healed, 3), "limit": limit, "revision": rev}
        last_diff = {k: (v[0] if v else None) for k, v in views.items()}
        time.sleep(0.1)
    return {"took": None, "limit": limit, "last_diff": last_diff}


def wait_down(cluster, clock, instance: str, deadline: float, overtime: float = 5.0):
    """(run time when every node saw it down or removed, or None; last statuses seen)."""
    seen: dict = {}
    while clock.now() < deadline + overtime:
        for n in cluster.nodes:
            r = request(n.url, "GET", f"/v1/services/{HB_SERVICE}/{instance}", timeout=1.5)
            seen[n.id] = r.body.get("status") if r.status == 200 and isinstance(r.body, dict) else (
                "removed" if r.status == 404 else f"error {r.status or r.error}")
        if all(s in ("down", "removed") for s in seen.values()):
            return round(clock.now(), 3), seen
        time.sleep(0.2)
    return None, seen


def final_state(cluster, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    i = 0
    while time.monotonic() < deadline:
        node = cluster.nodes[i % len(cluster.nodes)]
        i += 1
        r = request(node.url, "GET", "/v1/services?consistency=linearizable", timeout=3)
        if r.status == 200 and isinstance(r.body, dict):
            instances = {f"{x['name']}/{x['id']}": [x["status"], (x.get("metadata") or {}).get("v")]
                         for x in r.body["instances"]}
            return {"revision": r.body["revision"], "instances": instances, "node": node.id}
        time.sleep(0.2)
    raise AssertionError("no linearizable list of the final state")


# What a node logs when it raised a divergence alarm (consensus/divergence.py).
ALARM_LINES = ("applied state differs from a peer", "an applied entry was replaced")


def applied_hashes(cluster, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    seen: dict = {}
    while time.monotonic() < deadline:
        seen = {}
        for n in cluster.nodes:
            r = request(n.url, "GET", "/v1/health", timeout=1.5)
            if isinstance(r.body, dict):
                seen[n.id] = {k: r.body.get(k) for k in ("applied_index", "applied_hash", "alarms")}
        if len(seen) == len(cluster.nodes) and len({v["applied_index"] for v in seen.values()}) == 1:
            break
        time.sleep(0.02)
    lines = []
    for n in cluster.nodes:
        try:
            with open(n.log_path, errors="replace") as f:
                lines += [f"{n.id}: {line.strip()}" for line in f if any(a in line for a in ALARM_LINES)]
        except OSError:
            pass
    return {"nodes": seen, "alarm_lines": lines}
