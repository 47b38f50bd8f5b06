"""Raft's wire protocols side by side: a cluster mid-upgrade, and a stranger with the wrong secret."""

from __future__ import annotations

from tests.support.cluster import Cluster, wait_until
from tests.support.http import call


def register(url: str, i: int) -> int:
    return call(url, "POST", "/v1/services", {"name": "proto", "id": f"i{i}", "ttl": 300}, timeout=5).status


def test_nodes_speaking_legacy_and_v2_form_one_cluster(tmp_path):
    cluster = Cluster(tmp_path)
    cluster.nodes[0].extra += ["--raft-protocol", "legacy"]  # the node not yet switched to v2
    with cluster:
        for i in range(20):
            assert register(cluster.nodes[i % 3].url, i) in (200, 201)
        cluster.wait_for_replication()
        leader = cluster.leader()
        leader.kill()
        new = cluster.leader()
        assert new is not leader
        assert register(new.url, 99) in (200, 201)
        survivors = [n for n in cluster.alive()]
        wait_until(lambda: all(n.get("/v1/services/proto/i99").status == 200 for n in survivors), 10,
                   what="the write after the kill on every live node")


def test_a_node_with_another_secret_never_joins(tmp_path):
    cluster = Cluster(tmp_path)
    stranger = cluster.nodes[2]
    stranger.secret = "another-secret-of-32-bytes-long!"
    try:
        for node in cluster.nodes:
            node.start()
        # Not cluster.wait_ready(): it also waits for every live node, the stranger too, to be a member.
        wait_until(lambda: all(n.health().status == 200 for n in cluster.nodes[:2]), 45,
                   what="the two nodes that share a secret to elect a leader")
        assert register(cluster.nodes[0].url, 1) in (200, 201)
        h = stranger.health()
        assert h.status == 503 and h.body["leader"] is None
        assert all(m["role"] != "leader" for m in stranger.get("/v1/cluster").body["members"] if not m["self"])
    finally:
        cluster.stop()
