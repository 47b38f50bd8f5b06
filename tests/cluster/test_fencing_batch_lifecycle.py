"""Fencing, batch registration, drain, maintenance and tombstones on a real cluster."""

import threading
import time

import pytest

from manifest_client import Registry
from tests.support.cluster import Cluster, wait_until
from tests.support.http import call

pytestmark = pytest.mark.cluster


@pytest.fixture
def quick(tmp_path):
    """A cluster that removes down instances after 1 s."""
    c = Cluster(tmp_path, extra=["--down-grace", "1"])
    try:
        c.start()
        yield c
    finally:
        c.stop()


def test_fencing_rejects_the_zombie(cluster):
    a, b = cluster.nodes[0].url, cluster.nodes[1].url
    with Registry(cluster.urls) as client:
        zombie = client.register("pay", id="p1", ttl=30, deregister_on_exit=False, handle_signals=False)
        replacement = client.register("pay", id="p1", ttl=30, handle_signals=False)
        try:
            assert replacement.generation > zombie.generation
            # The zombie, paused while it was replaced, wakes up: neither its heartbeat nor its delete counts.
            r = call(a, "PUT", "/v1/services/pay/p1/heartbeat", {"generation": zombie.generation})
            assert r.status == 409 and r.body["error"]["code"] == "stale_generation"
            r = call(b, "DELETE", f"/v1/services/pay/p1?generation={zombie.generation}")
            assert r.status == 409
            zombie._beat()  # what its heartbeat thread does next
            assert zombie.fenced
            wait_until(lambda: not zombie.running, 5, what="the zombie's heartbeats to stop")
            zombie.close(deregister=True)  # closing a fenced handle deletes nothing
            rec = call(b, "GET", "/v1/services/pay/p1").body
            assert rec["generation"] == replacement.generation and rec["status"] == "up"
            stones = call(a, "GET", "/v1/services/pay?include=removed&consistency=linearizable").body["instances"]
            assert [s["removed"]["reason"] for s in stones if "removed" in s] == ["fenced"]
        finally:
            replacement.close()
        r = call(a, "GET", "/v1/services/pay/p1?consistency=linearizable")
        assert r.status == 404  # the replacement's own close, with its generation, did delete


def _count(node, name):
    r = node.get(f"/v1/services/{name}?consistency=linearizable", timeout=3)
    return len(r.body["instances"]) if r.status == 200 else (0 if r.status == 404 else None)


def test_a_batch_is_all_or_none_across_a_leader_kill(cluster):
    for attempt in range(3):
        name = f"batch{attempt}"
        items = [{"name": name, "id": f"i{k}", "ttl": 3600, "tags": ["t"], "metadata": {"k": str(k)}}
                 for k in range(500)]
        leader = cluster.leader()
        follower = next(n for n in cluster.alive() if n is not leader)
        answers = []
        sender = threading.Thread(target=lambda: answers.append(
            call(follower.url, "POST", "/v1/services/batch", {"instances": items}, timeout=10)))
        sender.start()
        time.sleep(0.01 * attempt)  # a different moment of the batch's way each time
        leader.kill()
        sender.join(15)
        cluster.leader(timeout=15)
        counts = wait_until(lambda: [c for c in (_count(n, name) for n in cluster.alive()) if c is not None],
                            15, what="counts")
        assert counts[0] in (0, 500), f"partial batch: {counts}"
        assert len(set(counts)) == 1 or max(counts) in (0, 500)
        if answers and answers[0].status == 201:
            assert counts[0] == 500  # acknowledged means all of it
        cluster.restart(leader)
        cluster.wait_ready(30)


def test_drain_with_a_deadline_removes_it_and_the_tombstone_says_why(quick):
    url = quick.nodes[0].url
    call(url, "POST", "/v1/services", {"name": "web", "id": "w1", "ttl": 3600})
    call(url, "POST", "/v1/services", {"name": "web", "id": "w2", "ttl": 3600})
    r = call(quick.nodes[1].url, "PUT", "/v1/services/web/w1/drain", {"deadline": 2})
    assert r.status == 200 and r.body["status"] == "draining"
    with Registry(quick.urls) as client:
        assert [i.id for i in client.discover("web")] == ["w2"]  # default discovery skips draining
        assert client.choose("web", "round_robin").id == "w2"
    gone = wait_until(lambda: all(call(n.url, "GET", "/v1/services/web/w1").status == 404 for n in quick.alive()),
                      10, what="removed at its deadline")
    assert gone
    for n in quick.alive():
        stones = [i for i in call(n.url, "GET", "/v1/services/web?include=removed").body["instances"]
                  if "removed" in i]
        assert [(s["id"], s["removed"]["reason"]) for s in stones] == [("w1", "drained")]


def test_maintenance_is_never_expired_and_an_expired_instance_leaves_a_tombstone(quick):
    url = quick.leader().url
    call(url, "POST", "/v1/services", {"name": "db", "id": "m1", "ttl": 1})
    call(url, "POST", "/v1/services", {"name": "db", "id": "e1", "ttl": 1})
    r = call(url, "PUT", "/v1/services/db/m1/maintenance", {"reason": "disk swap"})
    assert r.body["status"] == "maintenance"
    wait_until(lambda: call(url, "GET", "/v1/services/db/e1").status == 404, 15, what="e1 expired and removed")
    rec = call(url, "GET", "/v1/services/db/m1").body
    assert rec["status"] == "maintenance" and rec["maintenance"]["reason"] == "disk swap"
    stones = call(url, "GET", "/v1/services/db?include=removed").body["instances"]
    assert [(s["id"], s["removed"]["reason"]) for s in stones if "removed" in s] == [("e1", "expired")]
    with Registry(quick.urls) as client:
        back = client.maintenance("db", "m1", False)
        assert back.status == "up"
        removed = client.list_instances(service="db", include_removed=True)
        assert [i.removed.reason for i in removed if i.removed] == ["expired"]


def test_pick_on_a_follower_honours_filters_and_load_events_are_coalesced(cluster):
    leader = cluster.leader()
    follower = next(n for n in cluster.alive() if n is not leader)
    for i, tag in enumerate(["blue", "blue", "green"]):
        call(leader.url, "POST", "/v1/services", {"name": "svc", "id": f"s{i}", "tags": [tag], "ttl": 3600})
    start = call(leader.url, "GET", "/v1/services/svc").headers["x-manifest-index"]
    for k in range(40):  # 40 small load changes in well under a few seconds
        for i in range(3):
            call(follower.url, "PUT", f"/v1/services/svc/s{i}/heartbeat", {"load": [0.5, 0.1, 0.05][i] + k / 1000})
    cluster.wait_for_replication()
    r = call(follower.url, "GET", "/v1/services/svc?pick=least_loaded&tag=blue")
    assert r.status == 200 and r.body["id"] == "s1"
    r = call(follower.url, "GET", "/v1/services/svc?pick=least_loaded&tag=red")
    assert r.status == 404 and r.body["error"]["code"] == "no_instance"
    end = call(follower.url, "GET", "/v1/services/svc").headers["x-manifest-index"]
    # One event per instance for its first load; the rest moved less than the 0.1 step.
    assert int(end) - int(start) == 3
