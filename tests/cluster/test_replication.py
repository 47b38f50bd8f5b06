"""Real three-node clusters: replication, forwarding, failover, catch-up."""

import time

import pytest

from tests.support.cluster import wait_until
from tests.support.http import call
from tests.support.load import Writers

pytestmark = pytest.mark.cluster


def ids_on(node, service="load"):
    r = node.get(f"/v1/services/{service}", timeout=5)
    return {i["id"] for i in r.body["instances"]} if r.status == 200 else set()


def test_write_via_follower_is_committed_and_visible_everywhere(cluster):
    leader, follower = cluster.leader(), cluster.followers()[0]
    r = call(follower.url, "POST", "/v1/services", {"name": "web", "id": "w1", "port": 80})
    assert r.status == 201
    # Read-your-write on the node that answered, at once.
    assert follower.get("/v1/services/web/w1").status == 200
    cluster.wait_for_replication(r.body["revision"])
    for node in cluster.nodes:
        got = node.get("/v1/services/web/w1")
        assert got.status == 200 and got.body["port"] == 80
        assert got.headers["x-manifest-leader"] == leader.url
    members = follower.get("/v1/cluster").body["members"]
    assert sorted(m["api"] for m in members) == sorted(cluster.urls)
    assert [m["role"] for m in members if m["api"] == leader.url] == ["leader"]
    assert follower.get("/v1/health").body["leader"] == leader.url


def test_linearizable_read_on_any_node_sees_an_acknowledged_write(cluster):
    nodes = cluster.nodes
    for i in range(30):
        writer, reader = nodes[i % 3], nodes[(i + 1) % 3]
        r = call(writer.url, "POST", "/v1/services", {"name": "lin", "id": f"i{i}"})
        assert r.status == 201
        got = reader.get(f"/v1/services/lin/i{i}?consistency=linearizable")
        assert got.status == 200, got.body


def test_leader_kill_under_load_loses_no_acknowledged_write(cluster):
    with Writers(cluster.urls) as load:
        # Counts, not seconds: a loaded machine writes slower, and the test waits for it.
        wait_until(lambda: len(load.acked) >= 50, 30, what="50 writes acknowledged before the kill")
        leader = cluster.leader()
        killed_at = time.monotonic()
        leader.kill()
        wait_until(lambda: len(load.acked_after(killed_at)) >= 10, 10, what="writes after the kill")
        first_after = load.acked_after(killed_at)[0] - killed_at
        wait_until(lambda: len(load.acked_after(killed_at)) >= 50, 30, what="50 writes after the kill")
    assert first_after < 3.0, f"first write after the kill took {first_after:.2f}s"
    acked = set(load.acked)
    survivors = cluster.alive()
    cluster.wait_for_replication()
    for node in survivors:
        missing = acked - ids_on(node)
        assert not missing, f"{node.id} lost {len(missing)} acknowledged writes: {sorted(missing)[:5]}"


def test_restarted_node_catches_up(cluster):
    victim = cluster.followers()[0]
    victim.kill()
    with Writers([n.url for n in cluster.alive()], n=3) as load:
        wait_until(lambda: len(load.acked) >= 30, 30, what="30 writes while the node is down")
    victim.start()
    cluster.wait_ready(nodes=[victim])
    rev = cluster.wait_for_replication()
    assert rev >= len(load.acked)
    assert set(load.acked) <= ids_on(victim)


def test_sigterm_leaves_cleanly_and_hands_over_leadership(cluster):
    leader = cluster.leader()
    started = time.monotonic()
    assert leader.terminate() == 0
    new = cluster.leader(timeout=5)
    assert new is not leader
    r = call(new.url, "POST", "/v1/services", {"name": "web", "id": "after"})
    assert r.status == 201
    assert time.monotonic() - started < 6


def test_bad_input_on_a_real_node_changes_nothing_and_the_node_keeps_serving(cluster):
    node = cluster.followers()[0]
    before = node.health().body["revision"]
    bad = [
        dict(raw=b"{nope", headers={"Content-Type": "application/json"}),
        dict(body={"name": "web", "port": "eighty"}),
        dict(body={"name": "web", "unknown": 1}),
        dict(body={"name": "NOT VALID"}),
        dict(raw=b"x" * 200_000, headers={"Content-Type": "application/json"}),
        dict(raw=b"\x00\x01", headers={"Content-Type": "text/plain"}),
    ]
    for kw in bad:
        r = call(node.url, "POST", "/v1/services", **kw)
        assert 400 <= r.status < 500, (kw, r.status)
        assert "error" in r.body
    assert call(node.url, "PUT", "/v1/services/web/x/heartbeat", raw=b"[", headers={
        "Content-Type": "application/json"}).status == 400
    assert node.get("/v1/services?limit=-5").status == 400
    cluster.wait_for_replication()
    assert all(n.health().body["revision"] == before for n in cluster.nodes)
    assert call(node.url, "POST", "/v1/services", {"name": "web", "id": "ok"}).status == 201


def test_expired_instances_are_logged_by_the_leader(cluster):
    call(cluster.nodes[0].url, "POST", "/v1/services", {"name": "short", "id": "s1", "ttl": 1})
    leader = cluster.leader()
    wait_until(lambda: "instance expired" in leader.log_text(), 5, what="an expiry log line")
    assert "instance=s1" in leader.log_text()


def test_cluster_with_a_secret_encrypts_raft_and_signs_forwarded_writes(tmp_path):
    from tests.support.cluster import Cluster

    with Cluster(tmp_path, secret="correct horse battery staple") as secured:
        follower = secured.followers()[0]
        r = call(follower.url, "POST", "/v1/services", {"name": "web", "id": "s1"})
        assert r.status == 201
        # The internal endpoint refuses unsigned forwards.
        forged = call(follower.url, "POST", "/v1/internal/propose", raw=b"\x80",
                      headers={"Content-Type": "application/msgpack"})
        assert forged.status == 401
        secured.wait_for_replication(r.body["revision"])
