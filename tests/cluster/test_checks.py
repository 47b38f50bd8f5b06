"""Active health checks on a real cluster: the leader probes, and only the leader, through a leader kill."""

import time

import pytest

from tests.support.cluster import wait_until
from tests.support.http import call
from tests.support.probe_targets import GrpcTarget, HttpTarget

pytestmark = pytest.mark.cluster


def record(node, name, iid):
    r = node.get(f"/v1/services/{name}/{iid}", timeout=2)
    return r.body if r.status == 200 else None


def status_on_all(cluster, name, iid, want):
    return all((record(n, name, iid) or {}).get("status") == want for n in cluster.alive())


@pytest.fixture
def target():
    t = HttpTarget()
    yield t
    t.close()


def test_probes_follow_a_leader_kill_without_double_probing_or_flapping(cluster, target):
    interval = 1.0
    check = {"http": target.url, "interval": interval, "timeout": 0.5, "failures_before_unhealthy": 2}
    r = call(cluster.nodes[0].url, "POST", "/v1/services", {"name": "web", "id": "w1", "check": check})
    assert r.status == 201 and r.body["status"] == "starting" and r.body["ttl"] is None
    wait_until(lambda: status_on_all(cluster, "web", "w1", "up"), 15, what="up by its check")
    up_revision = record(cluster.nodes[0], "web", "w1")["revision"]
    old = cluster.leader()
    wait_until(lambda: len(target.probers(time.monotonic() - 3 * interval)) >= 2, 10, what="steady probes")
    assert {who for _, who in target.probers()} == {old.id}, "only the leader probes"
    killed = time.monotonic()
    old.kill()
    new = cluster.leader(timeout=15)
    wait_until(lambda: [w for _, w in target.probers(killed) if w == new.id], 15, what="the new leader probing")
    # Several intervals under the new leader: its probes alone, at its own pace.
    wait_until(lambda: len([w for _, w in target.probers(killed) if w == new.id]) >= 4, 15, what="more probes")
    after = target.probers(killed)
    assert {w for _, w in after} <= {old.id, new.id}
    # A probe the dead leader had in flight may land just after the kill; none later.
    assert all(t < killed + 0.6 for t, w in after if w == old.id)
    first_new = min(t for t, w in after if w == new.id)
    assert first_new - killed < 15  # an election and at most one interval
    gaps = [b - a for (a, _), (b, _) in zip(sorted(after), sorted(after)[1:]) if a > first_new]
    assert all(g > 0.3 * interval for g in gaps), "two nodes probing would halve the interval"
    # No flapping: the record never changed since it came up.
    for n in cluster.alive():
        rec = record(n, "web", "w1")
        assert rec["status"] == "up" and rec["revision"] == up_revision


def test_http_failures_make_it_unhealthy_then_down_and_passes_bring_it_back(cluster, target):
    check = {"http": target.url, "interval": 1, "timeout": 0.5, "failures_before_unhealthy": 1,
             "failures_before_down": 3}
    call(cluster.nodes[1].url, "POST", "/v1/services", {"name": "api", "id": "a1", "check": check, "ttl": 3600})
    wait_until(lambda: status_on_all(cluster, "api", "a1", "up"), 15, what="up")
    target.status = 503
    wait_until(lambda: status_on_all(cluster, "api", "a1", "unhealthy"), 10, what="unhealthy after one failure")
    wait_until(lambda: status_on_all(cluster, "api", "a1", "down"), 10, what="down after three")
    target.status = 200
    wait_until(lambda: status_on_all(cluster, "api", "a1", "up"), 10, what="up again")


def test_tcp_and_grpc_checks(cluster, target):
    grpc_target = GrpcTarget()
    try:
        url = cluster.leader().url
        call(url, "POST", "/v1/services", {"name": "db", "id": "d1",
                                           "check": {"tcp": f"127.0.0.1:{target.port}", "interval": 1}})
        call(url, "POST", "/v1/services", {"name": "rpc", "id": "r1",
                                           "check": {"grpc": grpc_target.target, "interval": 1, "timeout": 1}})
        wait_until(lambda: status_on_all(cluster, "db", "d1", "up"), 15, what="tcp up")
        wait_until(lambda: status_on_all(cluster, "rpc", "r1", "up"), 15, what="grpc up")
        grpc_target.set(False)
        wait_until(lambda: status_on_all(cluster, "rpc", "r1", "unhealthy"), 10, what="grpc NOT_SERVING")
    finally:
        grpc_target.close()
