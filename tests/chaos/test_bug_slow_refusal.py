"""Regression test (a bug the chaos suite found, now fixed): a request queued behind in-flight batches
waits twice the propose timeout before its 503.

docs/architecture.md: "A write that cannot reach a leader within propose_timeout
(2 s) gets 503"; docs/watch.md: a node that cannot reach a majority "answers 503
within about 2 s". The Proposer starts a batch's timer when the batch is
*submitted* to Raft, not when its requests arrived. With ``max_inflight`` (2)
batches already travelling to a majority that is gone, a new write or
linearizable-read barrier first waits up to 2 s for a slot, then 2 s more.

In chaos runs (default settings) a leader cut off by a partition while the
workload kept it busy answered its probes only after ~3.9 s. Here the race is
made deterministic: a long ``leader_fallback`` keeps the cut-off node leader
for the whole test. Fixed: the Proposer starts every command's deadline on arrival.
"""

import os
import signal
import threading
import time

import pytest

from tests.support.cluster import Cluster
from tests.support.http import call

pytestmark = pytest.mark.cluster


def test_bug_queued_request_waits_twice_the_propose_timeout(tmp_path):
    config = tmp_path / "slow-fallback.toml"
    config.write_text("leader_fallback = 6.0\n")
    with Cluster(tmp_path, extra=["--config", str(config)]) as cluster:
        leader = cluster.leader()
        followers = [n for n in cluster.nodes if n is not leader]
        for f in followers:
            os.kill(f.proc.pid, signal.SIGSTOP)
        try:
            bodies = [{"name": "x", "id": f"i{i}"} for i in range(2)]  # two writes fill both in-flight slots
            busy = [threading.Thread(target=call, args=(leader.url, "POST", "/v1/services", b),
                                     kwargs={"timeout": 10}) for b in bodies]
            for t in busy:
                t.start()
            time.sleep(0.3)
            started = time.monotonic()
            read = call(leader.url, "GET", "/v1/services/x?consistency=linearizable", timeout=10)
            took = time.monotonic() - started
            for t in busy:
                t.join()
        finally:
            for f in followers:
                os.kill(f.proc.pid, signal.SIGCONT)
        assert read.status == 503
        # The bug waited twice the propose_timeout (4 s); the documented bound is
        # about 2 s. Halfway between leaves a loaded machine its slack and still tells them apart.
        assert took < 3.0, f"refused after {took:.2f}s, documented bound is about 2 s"
