"""Non-voting read replicas (issue 16 point 6): they follow, serve, forward, and never count."""

from __future__ import annotations

from tests.support.cluster import Cluster, Node, free_port, wait_until
from tests.support.http import call
from tests.support.watcher import Watcher


def add_replica(cluster: Cluster, tmp_path, name: str = "r1") -> Node:
    voters = [n.raft for n in cluster.nodes]
    replica = Node(name, free_port(), free_port(), str(tmp_path / name), str(tmp_path / f"{name}.log"),
                   peers=voters, extra=["--replica"], secret=cluster.secret)
    replica.start()
    return replica


def caught_up(replica: Node, cluster: Cluster) -> bool:
    """The replica has applied what the leader had committed when asked (ready alone only
    says it applied what *it* knows to be committed)."""
    target = cluster.leader().health().body["commit_index"]
    h = replica.health()
    return h.status == 200 and h.body["applied_index"] >= target and h.body["leader"] is not None


def register(url: str, i: int) -> int:
    return call(url, "POST", "/v1/services", {"name": "rep", "id": f"i{i}", "ttl": 300}, timeout=5).status


def test_a_replica_follows_serves_and_forwards(tmp_path):
    with Cluster(tmp_path) as cluster:
        for i in range(10):
            assert register(cluster.nodes[0].url, i) in (200, 201)
        replica = add_replica(cluster, tmp_path)
        try:
            wait_until(lambda: caught_up(replica, cluster), 30, what="the replica to catch up")
            h = replica.health().body
            assert h["role"] == "replica" and h["leader"] == cluster.leader().url
            listed = replica.get("/v1/services/rep").body["instances"]
            assert len(listed) == 10
            assert register(replica.url, 10) in (200, 201)  # forwarded to the leader
            assert replica.get("/v1/services/rep/i10").status == 200  # read-your-write on the replica
            assert cluster.leader().get("/v1/services/rep/i10").status == 200
            assert replica.get("/v1/services/rep?consistency=linearizable").status == 200
            view = replica.get("/v1/cluster").body
            assert [m["role"] for m in view["members"] if m["self"]] == ["replica"]
            assert sum(1 for m in view["members"] if m["role"] == "leader") == 1
            watcher = Watcher(replica.url, since=0, name="rep").start()
            try:
                wait_until(lambda: len(watcher.events) >= 11, 10, what="11 watch events from the replica")
            finally:
                watcher.stop()
            seen = wait_until(lambda: (lambda a, b: a if a == b else None)(
                replica.health().body["applied_hash"], cluster.leader().health().body["applied_hash"]), 20,
                interval=0.02, what="the replica's applied history to match the leader's")
            assert seen is not None
        finally:
            replica.kill()


def test_a_replica_never_counts_for_a_majority(tmp_path):
    with Cluster(tmp_path) as cluster:
        replica = add_replica(cluster, tmp_path)
        try:
            wait_until(lambda: caught_up(replica, cluster), 30, what="the replica to catch up")
            leader = cluster.leader()
            for node in cluster.nodes:
                if node is not leader:
                    node.kill()
            # Leader + replica are two processes, but one voter of three: no majority.
            r = call(leader.url, "POST", "/v1/services", {"name": "rep", "id": "lost", "ttl": 300}, timeout=10)
            assert r.status == 503
            assert replica.get("/v1/services/rep/lost").status == 404
            wait_until(lambda: replica.health().status == 503, 10, what="the replica to see no leader")
        finally:
            replica.kill()


def test_a_replica_leaving_changes_nothing_for_the_voters(tmp_path):
    with Cluster(tmp_path) as cluster:
        replica = add_replica(cluster, tmp_path)
        wait_until(lambda: caught_up(replica, cluster), 30, what="the replica to catch up")
        replica.kill()
        assert all(register(cluster.nodes[i % 3].url, i) in (200, 201) for i in range(10))
        assert all(n.health().status == 200 for n in cluster.nodes)
