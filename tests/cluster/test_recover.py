"""A node whose Raft state is damaged refuses to start, and --recover brings it back from the leader."""

from __future__ import annotations

import glob
import os
import random

from tests.support.cluster import Cluster, wait_until
from tests.support.http import call


def damage_middle(path: str) -> None:
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x10
    open(path, "wb").write(bytes(data))


def test_a_damaged_journal_stops_the_node_and_recover_rejoins_it(tmp_path):
    with Cluster(tmp_path) as cluster:
        leader = cluster.leader()
        for i in range(40):
            assert call(leader.url, "POST", "/v1/services", {"name": "rec", "id": f"i{i}", "ttl": 600}).status \
                in (200, 201)
        cluster.wait_for_replication()
        victim = cluster.followers()[0]
        victim.kill()
        damage_middle(f"{victim.data_dir}/raft.journal")
        victim.start()
        assert victim.proc.wait(30) == 2
        log = victim.log_text()
        assert "refusing to start" in log and "--recover" in log and "Traceback" not in log

        victim.extra.append("--recover")
        victim.start()
        cluster.wait_ready(nodes=[victim], timeout=45)
        cluster.wait_for_replication()
        assert victim.get("/v1/services/rec").body["instances"].__len__() == 40

        def same_history():
            a, b = victim.health().body, cluster.leader().health().body
            return a["applied_index"] == b["applied_index"] and a["applied_hash"] == b["applied_hash"]

        wait_until(same_history, 20, interval=0.02, what="the recovered node's history to match the leader's")
        assert "set aside" in victim.log_text() or "moved raft.journal" in victim.log_text()


def test_a_damaged_snapshot_stops_a_node_with_one_line_and_recover_starts_it_clean(tmp_path):
    """One node: a snapshot with one flipped bit at a seeded random offset is refused, never served.

    With no leader to rejoin from, --recover starts it empty, which is the point: nothing it serves comes
    from the damaged file (the rejoin itself is the journal test above)."""
    with Cluster(tmp_path, size=1, extra=["--compaction-entries", "10", "--compaction-interval", "1"]) as cluster:
        node = cluster.nodes[0]
        for i in range(25):
            assert node.call("POST", "/v1/services", {"name": "snap", "id": f"i{i}", "ttl": 600}).status in (200, 201)
        snapshot = f"{node.data_dir}/raft.snapshot"
        wait_until(lambda: os.path.exists(snapshot), 30, what="a snapshot")
        assert node.terminate() == 0
        data = bytearray(open(snapshot, "rb").read())
        rng = random.Random(17)
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
        open(snapshot, "wb").write(bytes(data))

        node.start()
        assert node.proc.wait(30) == 2
        refusal = [line for line in node.log_text().splitlines() if "refusing to start" in line]
        assert len(refusal) == 1 and "raft.snapshot" in refusal[0] and "--recover" in refusal[0], refusal
        assert "Traceback" not in node.log_text()

        node.extra.append("--recover")
        node.start()
        cluster.wait_ready(nodes=[node], timeout=45)
        assert node.get("/v1/services/snap").body.get("instances", []) == []
        assert [open(p, "rb").read() for p in glob.glob(f"{node.data_dir}/damaged-*/raft.snapshot")] == [bytes(data)]
        assert node.call("POST", "/v1/services", {"name": "snap", "id": "again", "ttl": 600}).status in (200, 201)
