"""Nothing acknowledged is lost when every node is SIGKILLed, compaction included."""

import os
import time

import pytest

from tests.support.cluster import Cluster, wait_until
from tests.support.load import Writers

pytestmark = pytest.mark.cluster

# Compact after 20 entries, and let each node's compaction window come round
# every second, so compaction runs many times during the load below.
COMPACTING = ["--compaction-entries", "20", "--compaction-interval", "1"]


def snapshots_of(cluster) -> list[bool]:
    return [os.path.exists(os.path.join(n.data_dir, "raft.snapshot")) for n in cluster.nodes]


def run_kill_all(tmp_path, extra, seconds=3.0, launcher=None, until=None):
    """Load, kill every node, restart. The load runs ``seconds``, or, given
    ``until(load, cluster)``, until that holds (at most 60 s)."""
    cluster = Cluster(tmp_path, extra=extra, launcher=launcher)
    cluster.start()
    try:
        with Writers(cluster.urls, n=8) as load:
            if until is None:
                time.sleep(seconds)
            else:
                wait_until(lambda: until(load, cluster), 60, what="the load and compaction to get going")
            for node in cluster.nodes:  # all three, mid-load
                node.kill()
        acked = set(load.acked)
        snapshots = snapshots_of(cluster)
        for node in cluster.nodes:
            node.start()
        cluster.wait_ready(timeout=30)
        present = {}
        for node in cluster.nodes:
            r = node.get("/v1/services/load?consistency=linearizable", timeout=10)
            present[node.id] = {i["id"] for i in r.body["instances"]}
        return acked, present, snapshots, cluster
    finally:
        cluster.stop()


@pytest.mark.parametrize("extra", [COMPACTING, COMPACTING + ["--fsync"]], ids=["page-cache", "fsync"])
def test_kill_all_mid_load_with_compaction_loses_nothing(tmp_path, extra):
    # Killed once there is something to lose and every node has compacted, not
    # after a fixed 3 s that a loaded machine fills with fewer writes.
    acked, present, snapshots, _ = run_kill_all(
        tmp_path, extra, until=lambda load, cluster: len(load.acked) >= 100 and all(snapshots_of(cluster)))
    assert len(acked) >= 100, "the load did not get going"
    assert all(snapshots), f"compaction did not run on every node: {snapshots}"
    for node_id, ids in present.items():
        missing = acked - ids
        assert not missing, f"{node_id} lost {len(missing)} of {len(acked)} acknowledged writes"
