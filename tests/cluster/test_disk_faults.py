"""Failing and slow disks under a running cluster (issue 17 point 2).

An LD_PRELOAD shim (tests/support/faultfs.c) makes one node's writes and
fsyncs of its data directory fail with EIO, EROFS (a file system gone
read-only) or ENOSPC (a full one, as the chaos disk fault makes it), or its
fsyncs take 200 ms, while
the test flips the fault on and off. In each case the node acknowledges
nothing it did not persist, says so in /v1/health, steps down if it leads,
and recovers by itself; the rest of the cluster keeps serving. (A full file
system: test_disk_full.py.)
"""

from __future__ import annotations

import pytest

from tests.support.cluster import Cluster, wait_until
from tests.support.faultfs import Faults, build
from tests.support.http import call


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return build(tmp_path_factory.mktemp("shim"))


def faulty_cluster(tmp_path, shim, extra=()):
    cluster = Cluster(tmp_path, extra=["--fsync", *extra])
    faults = {}
    for node in cluster.nodes:
        faults[node.id] = Faults(shim, node.data_dir, tmp_path / f"{node.id}.faults")
        node.environ.update(faults[node.id].environ)
    return cluster, faults


def register(url: str, i: int):
    return call(url, "POST", "/v1/services", {"name": "faults", "id": f"i{i}", "ttl": 3600}, timeout=5)


def writes(cluster: Cluster, start: int, count: int) -> tuple[list[int], list]:
    acked, refused = [], []
    for i in range(start, start + count):
        r = register(cluster.nodes[i % 3].url, i)
        (acked if r.status in (200, 201) else refused).append(i if r.status in (200, 201) else (i, r.status))
    return acked, refused


def all_acked_everywhere(cluster: Cluster, acked: list[int]) -> None:
    cluster.wait_for_replication()
    for node in cluster.nodes:
        missing = [i for i in acked if node.get(f"/v1/services/faults/i{i}").status != 200]
        assert missing == [], f"{node.id} lacks acknowledged writes {missing[:5]}"


@pytest.mark.parametrize("mode,shows", [("eio", "EIO"), ("erofs", "EROFS"), ("enospc", "ENOSPC"),
                                        ("slow:200", "slow")])
def test_a_leader_whose_disk_fails_or_crawls_steps_down_and_comes_back(tmp_path, shim, mode, shows):
    cluster, faults = faulty_cluster(tmp_path, shim)
    with cluster:
        acked, _ = writes(cluster, 0, 20)
        leader = cluster.leader()
        faults[leader.id].set(mode)
        more, refused = writes(cluster, 100, 60)
        acked += more
        # Writes sent to it meanwhile were refused, never acknowledged without being on its disk.
        assert all(status == 503 for _, status in refused), refused
        new = wait_until(lambda: (lambda n: n if n is not leader else None)(cluster.leader()), 20,
                         what="another node to lead")
        h = leader.health()
        assert h.status == 503 and any(shows in p["error"] for p in h.body["storage"]), h.body
        assert len(more) > 30, "the cluster stopped taking writes"
        faults[leader.id].clear()
        wait_until(lambda: leader.health().status == 200, 30, what="the node to recover by itself")
        assert new.health().status == 200
        acked += writes(cluster, 300, 10)[0]
        all_acked_everywhere(cluster, acked)
        log = leader.log_text()
        assert log.count("cannot write the journal") == 1 and "writing the journal works again" in log


def test_a_follower_whose_fsyncs_fail_acknowledges_nothing_and_catches_up(tmp_path, shim):
    cluster, faults = faulty_cluster(tmp_path, shim)
    with cluster:
        follower = cluster.followers()[0]
        faults[follower.id].set("eio")
        acked, _ = writes(cluster, 0, 40)
        assert len(acked) >= 30  # through it too: the leader and the other follower make a majority
        wait_until(lambda: follower.health().status == 503, 10, what="the follower to report its disk")
        faults[follower.id].clear()
        wait_until(lambda: follower.health().status == 200, 30, what="the follower to recover")
        all_acked_everywhere(cluster, acked)
        # One line per change of state: each refused append used to log a traceback (chaos disk fault).
        log = follower.log_text()
        assert log.count("cannot write the journal") == 1 and "Traceback" not in log, log[-3000:]
