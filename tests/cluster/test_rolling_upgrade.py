"""Issue 17 point 4: a rolling upgrade from the previous release and back, under load.

A 3-node cluster of the pinned release (tests/support/release.py, its own
venv) with auth and the cluster secret, takes registrations from a writer
that rotates over the nodes the whole time. Node by node (followers first,
the leader last, so the cluster goes through one election) each is stopped
with SIGTERM and started on the same data directory with this checkout's
code; then one node goes back to the release. Every acknowledged
registration must be on every node at the end, and the longest stretch
without an acknowledged write must stay within what one election costs in
this code (``one_election_bound``; printed, docs/operations.md "Upgrades").
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from tests.support import release
from tests.support.cluster import Cluster, wait_until

pytestmark = pytest.mark.cluster

CURRENT = [sys.executable, "-m", "manifest_node"]
TIMING = ("election_timeout_max", "propose_timeout")
# A loaded 2-core CI machine: timers fire late and a vote can split once or twice more.
# About two more election rounds at the default 0.6 s plus scheduling delay; not a target.
CI_MARGIN = 1.5


def timing_settings(launcher: list[str]) -> dict[str, float]:
    """The election and commit timing a release's nodes run with (the test passes no flags)."""
    code = ("import json; from manifest_node.config import NodeConfig; c = NodeConfig(); "
            f"print(json.dumps({{k: getattr(c, k) for k in {TIMING!r}}}))")
    done = subprocess.run([launcher[0], "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def one_election_bound(*releases: dict[str, float]) -> float:
    """The longest a writer may go without an acknowledged write while one node is swapped.

    What one election costs here, with each setting at the larger of the two releases':
    - the leader goes (SIGTERM; the current release hands over first, store.py stop(), the
      previous one may not): the followers notice after at most ``election_timeout_max``;
    - the election itself: a candidate whose vote splits waits one more randomized timeout,
      at most ``election_timeout_max`` again (2 x that is what store.py calls waiting out an
      election: ``no_leader_wait``; a write on a follower waits that long for a leader);
    - the writer is sequential, so the one write caught in the change delays the next ack by
      as much as it waits: at most ``propose_timeout``, after which the node answers 503
      (the writer's own 3 s timeout is longer, so the node's answer comes first).
    ``leader_fallback`` does not enter: a stopped leader need not notice it lost the majority.
    """
    worst = {k: max(r[k] for r in releases) for k in TIMING}
    return 2 * worst["election_timeout_max"] + worst["propose_timeout"] + CI_MARGIN


class Writer(threading.Thread):
    """Registers ``upg/wN`` on the nodes in turn; only 201s count as acknowledged."""

    def __init__(self, cluster: Cluster):
        super().__init__(daemon=True)
        self.cluster, self.stop_event = cluster, threading.Event()
        self.acked: list[str] = []
        self.ok_at: list[float] = []
        self.statuses: dict[int, int] = {}

    def run(self) -> None:
        i = 0
        while not self.stop_event.is_set():
            node = self.cluster.nodes[i % len(self.cluster.nodes)]
            ident = f"w{i}"
            i += 1
            try:
                r = node.call("POST", "/v1/services", {"name": "upg", "id": ident, "port": 80, "ttl": 3600},
                              timeout=3)
                status = r.status
            except OSError:
                status = 0
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 201:
                self.acked.append(ident)
                self.ok_at.append(time.monotonic())
            elif status not in (0, 503):
                # Mixed versions must not turn a write into a client error or a bug.
                raise AssertionError(f"write {ident} to {node.id} answered {status}: {r.body}")
            time.sleep(0.01)

    def longest_gap(self, since: float) -> float:
        times = [t for t in self.ok_at if t >= since]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)

    def wait_more(self, count: int, what: str) -> None:
        target = len(self.acked) + count
        wait_until(lambda: len(self.acked) >= target or not self.is_alive(), 60, what=what)
        assert self.is_alive(), "the writer stopped"


def _swap(cluster: Cluster, node, launcher: list[str]) -> None:
    assert node.terminate() == 0, node.log_text()[-3000:]
    node.launcher = list(launcher)
    node.start()
    cluster.wait_ready(60, nodes=[node])


def test_a_rolling_upgrade_from_the_previous_release_and_back_loses_no_acknowledged_write(tmp_path):
    old = release.launcher()
    bound = one_election_bound(timing_settings(old), timing_settings(CURRENT))
    with Cluster(tmp_path, launcher=old, auth=True) as cluster:
        writer = Writer(cluster)
        writer.start()
        try:
            writer.wait_more(30, "writes on the old release")
            began = time.monotonic()
            leader = cluster.leader()
            steps = [*(n for n in cluster.nodes if n is not leader), leader]
            for node in steps:
                _swap(cluster, node, CURRENT)
                writer.wait_more(30, f"writes after upgrading {node.id}")
            back = cluster.nodes[0]
            _swap(cluster, back, old)  # and one node back: a downgrade must work too
            writer.wait_more(30, f"writes after downgrading {back.id}")
            gap = writer.longest_gap(began)
        finally:
            writer.stop_event.set()
            writer.join(10)
        acked = set(writer.acked)
        cluster.wait_for_replication(timeout=30)
        for node in cluster.nodes:
            body = node.get("/v1/services/upg").body
            held = {inst["id"] for inst in body["instances"]}
            assert acked <= held, f"{node.id} lacks acknowledged writes {sorted(acked - held)[:10]}"
        print(f"\nrolling upgrade: {len(acked)} writes acknowledged, answers {writer.statuses}, "
              f"longest stretch without an acknowledged write {gap:.2f} s (bound {bound:.2f} s)")
        # A bound, not a speed target: no unavailability longer than one election (issue 17).
        assert gap <= bound, f"{gap:.2f} s without an acknowledged write; one election is at most {bound:.2f} s"
