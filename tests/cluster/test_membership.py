"""Membership changes on real clusters: 3 -> 5 -> 3 under writes, the leader's removal, restarts.

A writer thread registers instances as fast as the nodes answer, always
through a node that is a member, and records every acknowledged write (a
201). After each change, and at the end, every acknowledged write must be on
every remaining node: a change may slow writes, never lose one. The run's
figures (writes acknowledged, lost, each change's duration, the longest gap
between two acknowledgements) are printed for docs/operations.md.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.support.cluster import Cluster, wait_until
from tests.support.http import call

pytestmark = pytest.mark.cluster


class Writer(threading.Thread):
    """Registers ``load/i<k>`` round-robin through ``targets``; keeps what was acknowledged."""

    def __init__(self, targets: list[str]):
        super().__init__(daemon=True)
        self.targets = targets  # replaced by the test as members come and go
        self.acked: list[str] = []
        self.ack_times: list[float] = []
        self.errors: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        k = 0
        while not self.stop.is_set():
            targets = list(self.targets)
            url = targets[k % len(targets)]
            instance_id = f"i{k}"
            k += 1
            try:
                r = call(url, "POST", "/v1/services", {"name": "load", "id": instance_id, "ttl": 3600},
                         timeout=5)
            except OSError as exc:
                self.errors[type(exc).__name__] = self.errors.get(type(exc).__name__, 0) + 1
                continue
            if r.status == 201:
                self.acked.append(instance_id)
                self.ack_times.append(time.monotonic())
            else:
                code = r.body.get("error", {}).get("code", str(r.status)) if isinstance(r.body, dict) else r.status
                self.errors[code] = self.errors.get(code, 0) + 1

    def longest_gap(self, since: float) -> float:
        times = [since] + [t for t in self.ack_times if t >= since]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def ids_on(node) -> set[str]:
    r = node.get("/v1/services/load")
    return {i["id"] for i in r.body["instances"]} if r.status == 200 else set()


def voters(node) -> set[str]:
    return {m["raft"] for m in node.get("/v1/cluster").body["members"]}


def change(node, method: str, path: str, body=None, timeout: float = 40):
    """One membership change; a 409 in progress (the previous one still committing) is retried."""
    def attempt():
        r = node.call(method, path, body, timeout=30)
        if r.status == 409 and r.body["error"]["code"] == "membership_change_in_progress":
            return None
        return r
    return wait_until(attempt, timeout, interval=0.1, what=f"{method} {path}")


def all_present(nodes, acked: list[str]) -> bool:
    want = set(acked)
    return all(want <= ids_on(n) for n in nodes)


def test_three_grow_to_five_and_shrink_back_to_three_under_writes_losing_nothing(tmp_path):
    with Cluster(tmp_path, size=3) as cluster:
        n1, n2, n3 = cluster.nodes
        writer = Writer([n.url for n in cluster.nodes])
        started = time.monotonic()
        writer.start()
        wait_until(lambda: len(writer.acked) >= 20, 20, what="writes flowing")
        durations = {}
        for name in ("n4", "n5"):
            node = cluster.new_node(name, tmp_path)
            node.start()
            wait_until(lambda: node.health().body["role"] is not None, 20, what=f"{name} listening")
            t0 = time.monotonic()
            r = change(cluster.leader(), "POST", "/v1/cluster/members", {"raft": node.raft, "api": node.url})
            durations[f"add {name}"] = time.monotonic() - t0
            assert r.status == 201, r.body
            assert node.raft in {m["raft"] for m in r.body["members"]}
            wait_until(lambda: node.health().status == 200, 30, what=f"{name} caught up")
            assert "state restored from a snapshot" in node.log_text()  # not a replay from index 1
            writer.targets = writer.targets + [node.url]
        assert all(voters(n) == {x.raft for x in cluster.nodes} for n in cluster.nodes)
        wait_until(lambda: all_present(cluster.nodes, writer.acked[:]), 30, what="every write on 5 nodes")
        assert "raft.members" in os.listdir(n1.data_dir)

        # Shrink: the leader (it hands over first, under load) and the first new node.
        leaving = [cluster.leader(), cluster.nodes[3]]
        for node in leaving:
            writer.targets = [u for u in writer.targets if u != node.url]
            stay = next(n for n in cluster.nodes if n not in leaving)
            t0 = time.monotonic()
            r = change(stay, "DELETE", f"/v1/cluster/members/{node.id}")
            durations[f"remove {node.id}" + (" (the leader)" if node is leaving[0] else "")] = time.monotonic() - t0
            assert r.status == 200, r.body
            assert node.raft not in {m["raft"] for m in r.body["members"]}
        remaining = [n for n in cluster.nodes if n not in leaving]
        wait_until(lambda: all(voters(n) == {x.raft for x in remaining} for n in remaining), 20,
                   what="3 voters everywhere")
        before = len(writer.acked)
        wait_until(lambda: len(writer.acked) >= before + 20, 20, what="writes after the shrink")
        writer.stop.set()
        writer.join(10)
        acked = list(writer.acked)
        wait_until(lambda: all_present(remaining, acked), 30, what="every acknowledged write on the 3 left")
        lost = set(acked) - ids_on(remaining[0])
        gap = writer.longest_gap(started)
        print(f"\nmembership 3->5->3: {len(acked)} writes acknowledged, {len(lost)} lost, "
              f"changes {', '.join(f'{k} {v:.2f}s' for k, v in durations.items())}, "
              f"longest gap between acknowledgements {gap:.2f}s, refusals {writer.errors}")
        assert not lost
        for node in leaving:
            node.kill()
        r = call(remaining[0].url, "POST", "/v1/services", {"name": "after", "id": "a1"})
        assert r.status == 201  # two of the three remaining commit without the removed nodes


def test_removing_the_leader_hands_leadership_over_first(tmp_path):
    with Cluster(tmp_path, size=3) as cluster:
        leader = cluster.leader()
        r = call(leader.url, "POST", "/v1/services", {"name": "web", "id": "w1"})
        assert r.status == 201
        r = change(leader, "DELETE", f"/v1/cluster/members/{leader.raft}")
        assert r.status == 200, r.body
        others = [n for n in cluster.nodes if n is not leader]
        assert {m["raft"] for m in r.body["members"]} == {n.raft for n in others}
        assert r.body["leader"] in {n.url for n in others}
        assert "leadership handed over before removing this node" in leader.log_text()
        leader.kill()
        new = cluster.leader()
        assert new in others
        w = call(new.url, "POST", "/v1/services", {"name": "web", "id": "w2"})
        assert w.status == 201
        cluster.wait_for_replication(w.body["revision"])
        assert all(ids_of(n, "web") == {"w1", "w2"} for n in others)


def ids_of(node, service: str) -> set[str]:
    return {i["id"] for i in node.get(f"/v1/services/{service}").body["instances"]}


def test_a_node_restarted_after_changes_comes_back_with_the_current_membership(tmp_path):
    with Cluster(tmp_path, size=3) as cluster:
        n4 = cluster.new_node("n4", tmp_path)
        n4.start()
        wait_until(lambda: n4.health().body is not None, 20, what="n4 listening")
        assert change(cluster.leader(), "POST", "/v1/cluster/members", {"raft": n4.raft, "api": n4.url}).status == 201
        wait_until(lambda: n4.health().status == 200, 30, what="n4 caught up")
        n3 = cluster.nodes[2]
        assert change(cluster.nodes[0], "DELETE", "/v1/cluster/members/n3").status == 200
        n3.kill()
        now = {cluster.nodes[0].raft, cluster.nodes[1].raft, n4.raft}
        # Every node restarts with the flags it first had: n1 and n2 still name n3 in --peer.
        for node in (cluster.nodes[0], cluster.nodes[1], n4):
            node.kill()
        for node in (cluster.nodes[0], cluster.nodes[1], n4):
            node.start()
        live = [cluster.nodes[0], cluster.nodes[1], n4]
        cluster.wait_ready(30, nodes=live)
        for node in live:
            assert voters(node) == now, node.id
            assert "starting with the membership last known here" in node.log_text()
        w = call(n4.url, "POST", "/v1/services", {"name": "web", "id": "w1"})
        assert w.status == 201
        wait_until(lambda: all(ids_of(n, "web") == {"w1"} for n in live), 10, what="write everywhere")


def test_a_replica_follows_a_membership_change_and_restarts_from_its_own_snapshot(tmp_path):
    from tests.cluster.test_replica import add_replica, caught_up

    with Cluster(tmp_path, size=3, extra=["--compaction-entries", "20"]) as cluster:
        replica = add_replica(cluster, tmp_path)
        replica.extra += ["--compaction-entries", "20"]
        replica.kill()
        replica.start()
        wait_until(lambda: caught_up(replica, cluster), 30, what="the replica to catch up")
        n4 = cluster.new_node("n4", tmp_path)
        n4.start()
        wait_until(lambda: n4.health().body is not None, 20, what="n4 listening")
        assert change(cluster.leader(), "POST", "/v1/cluster/members", {"raft": n4.raft, "api": n4.url}).status == 201
        for i in range(60):  # past the compaction threshold: the replica writes snapshots of its own
            assert call(cluster.nodes[i % 3].url, "POST", "/v1/services", {"name": "web", "id": f"w{i}"}).status == 201
        wait_until(lambda: caught_up(replica, cluster) and os.path.exists(os.path.join(replica.data_dir,
                                                                                        "raft.snapshot")),
                   30, what="the replica's own snapshot")
        replica.kill()
        replica.start()
        wait_until(lambda: caught_up(replica, cluster), 30, what="the restarted replica to catch up")
        rafts = {m["raft"] for m in replica.get("/v1/cluster").body["members"] if m["role"] != "replica"}
        assert rafts == {n.raft for n in cluster.nodes if n is not replica}
        assert len(ids_of(replica, "web")) == 60
        replica.kill()
