"""Failover and retry rules of the shared core, seen through the sync Registry and a fake cluster."""

from __future__ import annotations


import pytest

from tests.client.mc_fakes import N1, N2, N3, FakeCluster

from manifest_client import (
    ConnectionFailed,
    Instance,
    InvalidRequest,
    NotFound,
    OutcomeUnknown,
    Registry,
    RequestTimeout,
    Unavailable,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(cluster: FakeCluster, seeds=(N1, N2, N3), **kwargs) -> Registry:
    kwargs.setdefault("retry_wait", 0.0)
    kwargs.setdefault("discover_members", False)
    return Registry(list(seeds), transport=cluster.transport, **kwargs)


def test_read_fails_over_when_endpoint_refuses():
    cluster = FakeCluster()
    cluster.add("n8n", "a")
    cluster.refused.add(N1)
    found = make(cluster).discover("n8n")
    assert [i.id for i in found] == ["a"]
    assert [c[0] for c in cluster.sent("GET", "/v1/services")] == [N1, N2]


def test_read_fails_over_on_503_and_on_timeout():
    cluster = FakeCluster()
    cluster.add("n8n", "a")
    cluster.unavailable.add(N1)
    cluster.blackholed.add(N2)
    found = make(cluster).discover("n8n")
    assert len(found) == 1
    assert [c[0] for c in cluster.sent("GET", "/v1/services")] == [N1, N2, N3]


def test_non_idempotent_register_is_never_sent_twice_after_it_may_have_arrived():
    cluster = FakeCluster()
    cluster.blackholed.add(N1)
    reg = make(cluster)
    with pytest.raises(OutcomeUnknown) as info:
        reg.register_instance({"name": "orchestrator", "port": 8080})
    assert isinstance(info.value.cause, RequestTimeout) and info.value.cause.sent is True
    assert "not sent again" in str(info.value) and "may have been applied" in str(info.value)
    assert len(cluster.sent("POST")) == 1


def test_non_idempotent_register_moves_on_after_a_503_that_says_nothing_was_proposed():
    cluster = FakeCluster()
    cluster.unavailable.add(N1)  # 503 no_leader: refused before proposing
    record = make(cluster).register_instance(Instance(name="orchestrator"))
    assert [c[0] for c in cluster.sent("POST")] == [N1, N2] and len(cluster.instances) == 1
    assert record.id == "orchestrator-gen1"
    cluster.unavailable |= {N1, N2, N3}
    with pytest.raises(Unavailable) as info:  # failed, not unknown: no node proposed it
        make(cluster).register_instance(Instance(name="orchestrator"))
    assert not isinstance(info.value, OutcomeUnknown)


def test_non_idempotent_register_moves_on_when_provably_never_sent():
    cluster = FakeCluster()
    cluster.refused.add(N1)
    record = make(cluster).register_instance(Instance(name="orchestrator"))
    assert record.id == "orchestrator-gen1"
    assert [c[0] for c in cluster.sent("POST")] == [N1, N2]
    assert len(cluster.instances) == 1


def test_register_with_id_is_idempotent_and_fails_over():
    cluster = FakeCluster()
    cluster.blackholed.add(N1)
    cluster.unavailable.add(N2)
    record = make(cluster).register_instance(Instance(name="orchestrator", id="o-1"))
    assert record.id == "o-1"
    assert [c[0] for c in cluster.sent("POST")] == [N1, N2, N3]


def test_heartbeat_and_deregister_fail_over():
    cluster = FakeCluster()
    cluster.add("svc", "a")
    cluster.blackholed.add(N1)
    reg = make(cluster)
    record = reg.heartbeat("svc", "a", "unhealthy")
    assert record is not None and record.status == "unhealthy"
    reg.deregister("svc", "a")
    assert ("svc", "a") not in cluster.instances
    assert [c[0] for c in cluster.sent("DELETE")] == [N2]  # N1 is in back-off now


def test_deregister_retried_after_possible_delivery_treats_404_as_done():
    cluster = FakeCluster()
    cluster.add("svc", "a")
    reg = make(cluster)

    original = cluster.__call__

    def first_delete_lost(request):
        response = original(request)
        if request.method == "DELETE" and len(cluster.sent("DELETE")) == 1:
            raise RequestTimeout("answer lost", sent=True, endpoint=request.endpoint)
        return response

    cluster.transport.handler = first_delete_lost
    reg.deregister("svc", "a")  # second attempt sees 404 and must not raise
    assert len(cluster.sent("DELETE")) == 2
    with pytest.raises(NotFound):
        reg.deregister("svc", "a")


def test_writes_prefer_the_leader_named_by_a_response():
    cluster = FakeCluster(leader=N3)
    cluster.add("svc", "a")
    reg = make(cluster)
    reg.discover("svc")  # answered by N1, which names N3 as leader
    assert reg.leader == N3
    reg.heartbeat("svc", "a")
    reg.register_instance(Instance(name="svc", id="b"))
    assert [c[0] for c in cluster.sent("PUT")] == [N3]
    assert [c[0] for c in cluster.sent("POST")] == [N3]
    reg.discover("svc")
    # reads stay on the node that last answered a read-or-write successfully
    assert cluster.sent("GET")[-1][0] == N3


def test_failed_endpoint_is_backed_off_then_retried():
    cluster = FakeCluster()
    cluster.add("svc", "a")
    clock = Clock()
    reg = make(cluster, backoff_base=1.0, backoff_max=8.0)
    reg._core.pool._clock = clock
    cluster.refused.add(N1)
    reg.discover("svc")
    cluster.refused.clear()
    reg.discover("svc")
    reg.discover("svc")
    gets = [c[0] for c in cluster.sent("GET")]
    assert gets == [N1, N2, N2, N2]  # N1 not tried while backed off
    clock.now += 1.5
    cluster.refused.add(N2)  # make N2 fail so the order shows N1 is back in rotation
    reg.discover("svc")
    assert [c[0] for c in cluster.sent("GET")][-2:] == [N2, N1]


def test_back_off_grows_exponentially():
    cluster = FakeCluster()
    clock = Clock()
    reg = make(cluster, seeds=(N1, N2), backoff_base=1.0, backoff_max=8.0)
    pool = reg._core.pool
    pool._clock = clock
    for _ in range(3):
        pool.mark_failed(N1)
    clock.now += 3.9
    assert pool.backed_off(N1)  # third failure: 4 s
    clock.now += 0.2
    assert not pool.backed_off(N1)
    for _ in range(10):
        pool.mark_failed(N1)
    clock.now += 8.1
    assert not pool.backed_off(N1)  # capped at backoff_max


def test_members_are_discovered_from_one_seed():
    cluster = FakeCluster()
    cluster.add("svc", "a")
    reg = Registry(N1, transport=cluster.transport, retry_wait=0.0)
    reg.discover("svc")
    assert reg.endpoints == [N1, N2, N3]
    cluster.refused.add(N1)
    assert len(reg.discover("svc")) == 1
    assert cluster.sent("GET", "/v1/services")[-1][0] == N2


def test_all_endpoints_down_raises_connection_failed_after_retry_rounds():
    cluster = FakeCluster()
    cluster.refused.update({N1, N2, N3})
    reg = make(cluster, retries=1)
    with pytest.raises(ConnectionFailed) as info:
        reg.discover("svc")
    assert "no registry endpoint reachable" in str(info.value)
    assert len(cluster.sent("GET")) == 6  # two rounds over three nodes


def test_all_nodes_503_raises_unavailable():
    cluster = FakeCluster()
    cluster.unavailable.update({N1, N2, N3})
    with pytest.raises(Unavailable) as info:
        make(cluster, retries=0).heartbeat("svc", "a")
    assert info.value.retriable and info.value.status == 503
    assert len(cluster.sent("PUT")) == 3


def test_client_errors_are_not_retried():
    cluster = FakeCluster()
    reg = make(cluster)
    with pytest.raises(InvalidRequest) as info:
        reg.register_instance(Instance(name="", id="x"))
    assert info.value.field == "name" and info.value.status == 400
    with pytest.raises(NotFound):
        reg.get("svc", "missing")
    assert len(cluster.calls) == 2


def test_single_endpoint_one_try_keeps_its_own_error():
    cluster = FakeCluster()
    cluster.refused.add(N1)
    reg = make(cluster, seeds=(N1,), retries=0)
    with pytest.raises(ConnectionFailed) as info:
        reg.health(N1)
    assert info.value.message == "connection refused" and info.value.sent is False
