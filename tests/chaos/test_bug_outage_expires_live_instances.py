"""Regression test (found by the chaos suite, now fixed): after an outage, live instances were marked down.

Commit 4520a06 gave the new-term grace only to instances that heartbeated
*during the previous term*. When that term was short, or the cluster had no
majority for a while so no heartbeat could commit, an instance that
heartbeated right before the outage got no grace and was expired at the new
leader's first tick, although its heartbeats were lost through no fault of
its own. 10-minute chaos run, seed 15: two overlapping partitions left no
majority for ~11 s (ttl 10 s) and all three heartbeating instances went
``down`` at once.

Here: a registration (its heartbeat), a leader change 1 s later (a term with
no heartbeat yet), then 10 s without a majority. Fixed by leader-held time:
time without a leader does not count against the ttl.
"""

import os
import signal
import time

import pytest

from tests.support.cluster import Cluster
from tests.support.http import call

pytestmark = pytest.mark.cluster


def test_bug_instance_that_heartbeated_before_an_outage_is_marked_down_after_it(tmp_path):
    with Cluster(tmp_path) as cluster:
        first = cluster.leader()
        body = {"name": "svc", "id": "live", "ttl": 10}
        assert call(first.url, "POST", "/v1/services", body).status == 201  # its last heartbeat
        registered = time.monotonic()
        os.kill(first.proc.pid, signal.SIGSTOP)  # a new term, 2.7 s younger than that heartbeat
        try:
            time.sleep(1.2)
        finally:
            os.kill(first.proc.pid, signal.SIGCONT)
        second = cluster.leader()
        time.sleep(1.5)  # its first tick starts the epoch
        # 10 s without a majority (the heartbeats due at +3.3 s and +6.6 s could not commit).
        stopped = [second, next(n for n in cluster.nodes if n is not second)]
        for n in stopped:
            os.kill(n.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(10)
        finally:
            for n in stopped:
                os.kill(n.proc.pid, signal.SIGCONT)
        cluster.wait_ready(20)
        time.sleep(1.0)  # the new leader's first tick
        status = call(cluster.leader().url, "GET", "/v1/services/svc/live?consistency=linearizable").body["status"]
        assert status == "up", (f"registered {time.monotonic() - registered:.1f} s ago, then no leader for 10 s "
                                f"(ttl 10 s): expected a grace after the outage, got {status}")
