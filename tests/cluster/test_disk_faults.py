"""Failing and slow disks under a running cluster (issue 17 point 2).

An LD_PRELOAD shim (tests/support/faultfs.c) makes one node's writes and
fsyncs of its data directory fail with EIO, EROFS (a file system gone
read-only) or ENOSPC (a full one, as the chaos disk fault makes it), or its
fsyncs take 200 ms, while
the test flips the fault on and off. In each case the node acknowledges
nothing it did not persist, says so in /v1/health, steps down if it leads,
and recovers by itself; the rest of the cluster keeps serving. The metrics
say the same as /v1/health: ``manifest_storage_ok{file}`` is 0 for the file it
cannot write while the fault lasts and 1 again after, and
``manifest_storage_errors_total{file}`` counted the failures. (A full file
system: test_disk_full.py.)
"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

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


def storage_metrics(node) -> tuple[dict[str, float], dict[str, float]]:
    """``manifest_storage_ok`` and ``manifest_storage_errors_total`` by file, from /metrics."""
    ok, errors = {}, {}
    for family in text_string_to_metric_families(node.get("/metrics").raw.decode()):
        for sample in family.samples:
            if sample.name == "manifest_storage_ok":
                ok[sample.labels["file"]] = sample.value
            elif sample.name == "manifest_storage_errors_total":
                errors[sample.labels["file"]] = sample.value
    return ok, errors


def metrics_show_the_fault(node) -> dict[str, float]:
    """The fault as the metrics show it, matching /v1/health; returns the error counts."""
    def shown():
        failing = {p["file"] for p in node.health().body["storage"]}
        ok, errors = storage_metrics(node)
        down = {f for f, v in ok.items() if v == 0.0}
        return errors if failing and down == failing and all(errors[f] >= 1 for f in down) else None
    return wait_until(shown, 10, what=f"{node.id}'s storage metrics to show the fault")


def metrics_back_to_ok(node, during: dict[str, float]) -> None:
    ok, errors = wait_until(lambda: (lambda m: m if set(m[0].values()) == {1.0} else None)(storage_metrics(node)),
                            10, what=f"{node.id}'s storage metrics to be ok again")
    assert set(ok) == {"journal", "meta", "snapshot"}, ok
    # A counter: what failed during the fault is still counted after it.
    assert all(errors[f] >= n for f, n in during.items()) and sum(errors.values()) >= 1, (during, errors)


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
        during = metrics_show_the_fault(leader)
        assert storage_metrics(new)[0] == {"journal": 1.0, "meta": 1.0, "snapshot": 1.0}
        faults[leader.id].clear()
        wait_until(lambda: leader.health().status == 200, 30, what="the node to recover by itself")
        metrics_back_to_ok(leader, during)
        assert new.health().status == 200
        acked += writes(cluster, 300, 10)[0]
        all_acked_everywhere(cluster, acked)
        log = leader.log_text()
        assert log.count("cannot write the journal") == 1 and "writing the journal works again" in log


@pytest.mark.parametrize("mode,shows", [("eio", "EIO"), ("slow:200", "slow")])
def test_a_follower_whose_disk_fails_or_crawls_acknowledges_nothing_and_catches_up(tmp_path, shim, mode, shows):
    cluster, faults = faulty_cluster(tmp_path, shim)
    with cluster:
        follower = cluster.followers()[0]
        faults[follower.id].set(mode)
        acked, _ = writes(cluster, 0, 40)
        assert len(acked) >= 30  # through it too: the leader and the other follower make a majority
        wait_until(lambda: follower.health().status == 503, 10, what="the follower to report its disk")
        assert any(shows in p["error"] for p in follower.health().body["storage"])
        during = metrics_show_the_fault(follower)
        faults[follower.id].clear()
        wait_until(lambda: follower.health().status == 200, 30, what="the follower to recover")
        metrics_back_to_ok(follower, during)
        all_acked_everywhere(cluster, acked)
        # One line per change of state: each refused append used to log a traceback (chaos disk fault).
        log = follower.log_text()
        assert log.count("cannot write the journal") == 1 and "Traceback" not in log, log[-3000:]
