"""Divergence detection on real nodes: equal hashes, snapshot continuity, and an alarm.

Raft keeps the nodes' applied states equal; these tests show the check that
would notice if it did not (consensus/divergence.py), including through a
snapshot install, and what an operator sees when one node's state differs.
"""

from __future__ import annotations

import struct
import zlib

from tests.support.cluster import Cluster, wait_until
from tests.support.http import call

FAST = ["--divergence-check-interval", "0.5"]


def register(url: str, i: int, **extra) -> None:
    body = {"name": "div", "id": f"i{i}", "port": 1000 + i, "ttl": 300, **extra}
    r = call(url, "POST", "/v1/services", body)
    assert r.status in (200, 201), r.body


def hashes_at_one_index(cluster: Cluster) -> dict:
    """Sample every live node until they all report the same applied index."""
    def sample():
        seen = {n.id: n.health().body for n in cluster.alive()}
        indices = {b["applied_index"] for b in seen.values()}
        return seen if len(indices) == 1 else None

    return wait_until(sample, 20, interval=0.02, what="all nodes at one applied index")


def test_nodes_publish_the_same_hash_at_the_same_index(tmp_path):
    with Cluster(tmp_path, extra=FAST) as cluster:
        leader = cluster.leader()
        for i in range(30):
            register(leader.url, i)
        cluster.wait_for_replication()
        seen = hashes_at_one_index(cluster)
        digests = {b["applied_hash"] for b in seen.values()}
        assert len(digests) == 1 and None not in digests
        assert all(b["alarms"] == [] for b in seen.values())


def test_a_node_that_installed_a_snapshot_continues_the_chain(tmp_path):
    compact = ["--compaction-entries", "20", "--compaction-interval", "1"]
    with Cluster(tmp_path, extra=FAST + compact) as cluster:
        behind = cluster.followers()[0]
        behind.kill()
        leader = cluster.leader()
        for i in range(120):  # many entries: the others compact past where it stopped
            register(leader.url, i)
        wait_until(lambda: "state restored from a snapshot" in leader.log_text() or
                   __import__("os").path.exists(f"{leader.data_dir}/raft.snapshot"), 20,
                   what="the leader to compact its log")
        behind.start()
        cluster.wait_ready(nodes=[behind])
        cluster.wait_for_replication()
        # It was down for all 120 writes: a restore that holds them came from the leader.
        wait_until(lambda: "revision=120" in behind.log_text(), 20,
                   what="the restarted node to install the leader's snapshot")
        seen = hashes_at_one_index(cluster)
        assert len({b["applied_hash"] for b in seen.values()}) == 1
        assert seen[behind.id]["applied_hash"] is not None


def rewrite_journal(path: str, old: bytes, new: bytes) -> int:
    """Replace ``old`` by ``new`` (same length) inside records, fixing their CRCs."""
    assert len(old) == len(new)
    data = bytearray(open(path, "rb").read())
    pos, changed = 0, 0
    while pos + 8 <= len(data):
        length, _ = struct.unpack_from("<II", data, pos)
        body = bytes(data[pos + 8:pos + 8 + length])
        if old in body:
            body = body.replace(old, new)
            data[pos + 8:pos + 8 + length] = body
            struct.pack_into("<I", data, pos + 4, zlib.crc32(body))
            changed += 1
        pos += 8 + length
    open(path, "wb").write(bytes(data))
    return changed


def test_a_node_whose_state_differs_raises_the_alarm_and_stops_serving(tmp_path):
    with Cluster(tmp_path, extra=FAST) as cluster:
        leader = cluster.leader()
        register(leader.url, 1, metadata={"v": "AAAAAAAA"})
        for i in range(2, 10):
            register(leader.url, i)
        cluster.wait_for_replication()
        bad = cluster.followers()[0]
        bad.kill()
        # What a bug (or a disk that returns wrong bytes with a valid checksum)
        # would do: this node replays a different entry than the others hold.
        assert rewrite_journal(f"{bad.data_dir}/raft.journal", b"AAAAAAAA", b"BBBBBBBB") == 1
        bad.start()

        def alarmed():
            h = bad.health()
            return h if h.status == 503 and any(a["kind"] == "divergence" for a in h.body["alarms"]) else None

        h = wait_until(alarmed, 30, what="the diverged node to report its divergence")
        assert h.body["status"] == "unavailable"
        others = [n for n in cluster.alive() if n is not bad]
        for n in others:
            body = wait_until(lambda: (lambda b: b if b["alarms"] else None)(n.health().body), 10,
                              what=f"{n.id} to see the divergence")
            assert body["alarms"][0]["peer"] == bad.id
            assert n.health().status == 200  # the majority keeps serving
        member = next(m for m in others[0].get("/v1/cluster").body["members"] if m["id"] == bad.id)
        assert member["diverged"] is True
        text = call(others[0].url, "GET", "/metrics").raw.decode()
        assert "manifest_raft_divergence_alarms 1.0" in text
        assert "applied state differs" in bad.log_text()
