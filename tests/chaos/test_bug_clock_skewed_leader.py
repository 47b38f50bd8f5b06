"""Regression tests (found by the chaos suite, now fixed): a leader whose wall clock is hours ahead.

Each term used to start registry time at ``max(state.clock, wall clock)``.
When a node whose clock ran an hour fast won an election, registry time
jumped an hour forward and stayed there. Consequences, contrary to CONTRACT.md:

1. every ``down`` instance was removed at the new leader's first tick instead
   of after the grace period (``--down-grace``, default 60 s);
2. ``registered_at``/``last_heartbeat`` of every later record were an hour
   in the future, for the rest of the cluster's life;
3. an instance that heartbeated seconds ago, within its ttl, was marked
   ``down`` at the skewed leader's first tick (CI chaos run, seed 61: all
   three heartbeating instances expired at once).

Fixed by the two stamps of docs/architecture.md ("The expiry clock"): expiry
runs on leader-held time from monotonic clocks, and a new leader stamps
registry wall time extrapolated from the last live stamp, not its own clock.
"""

import datetime
import os
import signal
import time

import pytest

from tests.support.cluster import Cluster, wait_until
from tests.support.http import call

pytestmark = pytest.mark.cluster


def _make_leader(cluster, node, attempts: int = 12) -> bool:
    """Pause whoever leads until ``node`` wins an election (each try is a coin flip)."""
    for _ in range(attempts):
        current = cluster.leader()
        if current is node:
            return True
        os.kill(current.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(1.5)
        finally:
            os.kill(current.proc.pid, signal.SIGCONT)
        time.sleep(1.0)
    return cluster.leader() is node


def _parse(ts: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def test_bug_leader_with_clock_an_hour_fast_removes_down_instances_and_shifts_time(tmp_path):
    with Cluster(tmp_path, extra=["--down-grace", "60"]) as cluster:
        leader = cluster.leader()
        assert call(leader.url, "POST", "/v1/services", {"name": "svc", "id": "a", "ttl": 1}).status == 201
        wait_until(lambda: call(leader.url, "GET", "/v1/services/svc/a").body["status"] == "down", 10,
                   what="a down")
        skewed = next(n for n in cluster.nodes if n is not leader)
        skewed.extra = [*skewed.extra, "--clock-offset", "3600"]
        cluster.restart(skewed)
        cluster.wait_ready(20)
        assert _make_leader(cluster, skewed), "could not get the skewed node elected"
        time.sleep(2.5)  # a couple of its ticks
        after = call(skewed.url, "GET", "/v1/services/svc/a?consistency=linearizable")
        fresh = call(skewed.url, "POST", "/v1/services", {"name": "svc", "id": "b"})
        skew = _parse(fresh.body["registered_at"]) - datetime.datetime.now(datetime.timezone.utc)
        problems = []
        if after.status != 200:
            problems.append(f"down instance removed ~10 s after going down, grace is 60 s ({after.status})")
        if abs(skew.total_seconds()) > 60:
            problems.append(f"registered_at is {skew.total_seconds():.0f} s off the real time")
        assert not problems, problems


def test_bug_leader_with_clock_an_hour_fast_marks_a_live_instance_down(tmp_path):
    with Cluster(tmp_path) as cluster:
        first = cluster.leader()
        body = {"name": "svc", "id": "live", "ttl": 60}
        assert call(first.url, "POST", "/v1/services", body).status == 201
        registered = time.monotonic()
        # A whole term without a heartbeat: another leader, and its first tick.
        second = next(n for n in cluster.nodes if n is not first)
        assert _make_leader(cluster, second), "could not change the leader"
        time.sleep(2.0)
        # Only now does a node get a clock an hour fast (it never led with it before).
        skewed = next(n for n in cluster.nodes if n is not cluster.leader())
        skewed.extra = [*skewed.extra, "--clock-offset", "3600"]
        cluster.restart(skewed)
        cluster.wait_ready(20)
        assert _make_leader(cluster, skewed), "could not get the skewed node elected"
        time.sleep(1.5)  # its first ticks
        status = call(skewed.url, "GET", "/v1/services/svc/live?consistency=linearizable").body["status"]
        since = time.monotonic() - registered
        assert status == "up", f"registered {since:.1f} s ago with ttl 60 s, yet {status}"
