"""A node whose Raft state is damaged refuses to start, and --recover brings it back from the leader."""

from __future__ import annotations

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
