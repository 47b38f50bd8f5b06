"""The ADS server of a real node, driven by a raw gRPC stub: subscriptions, pushes, ACK and NACK."""

from __future__ import annotations

import pytest

from tests.support.ads import CDS, EDS, LDS, RDS, AdsClient, decode, endpoints
from tests.mesh.conftest import register
from tests.support.cluster import Cluster, free_port, wait_until

pytestmark = pytest.mark.cluster


@pytest.fixture
def ads(xds_node):
    client = AdsClient(xds_node.xds)
    yield client
    client.close()


def test_the_four_resources_a_grpc_client_asks_for(xds_node, ads):
    register(xds_node, "orchestrator", "o1", 7001, metadata={"region": "eu", "zone": "eu-1"}, weight=2)
    register(xds_node, "orchestrator", "o2", 7002)
    ads.request(LDS, ["orchestrator"])
    _, lds = ads.next()
    listener = decode(lds)["orchestrator"]
    assert listener.api_listener.api_listener.type_url.endswith("HttpConnectionManager")
    ads.ack(lds, ["orchestrator"])
    ads.request(RDS, ["orchestrator"])
    _, rds = ads.next()
    route = decode(rds)["orchestrator"]
    assert route.virtual_hosts[0].routes[0].route.cluster == "orchestrator"
    ads.request(CDS, ["orchestrator"])
    _, cds = ads.next()
    assert decode(cds)["orchestrator"].eds_cluster_config.service_name == "orchestrator"
    ads.request(EDS, ["orchestrator"])
    _, eds = ads.next()
    assignment = decode(eds)["orchestrator"]
    assert endpoints(assignment) == {"127.0.0.1:7001": 20, "127.0.0.1:7002": 10}
    localities = {(loc.locality.region, loc.locality.zone): loc.load_balancing_weight.value
                  for loc in assignment.endpoints}
    assert localities == {("eu", "eu-1"): 20, ("local", ""): 10}  # no region of its own: the node's --region (default local)


def test_changes_are_pushed_and_only_up_instances_are_endpoints(xds_node, ads):
    register(xds_node, "orchestrator", "o1", 7001)
    ads.request(EDS, ["orchestrator"])
    _, first = ads.next()
    assert endpoints(decode(first)["orchestrator"]) == {"127.0.0.1:7001": 10}
    ads.ack(first, ["orchestrator"])
    register(xds_node, "orchestrator", "o2", 7002)
    _, pushed = ads.next()
    assert pushed.version_info != first.version_info and pushed.nonce != first.nonce
    assert endpoints(decode(pushed)["orchestrator"]) == {"127.0.0.1:7001": 10, "127.0.0.1:7002": 10}
    ads.ack(pushed, ["orchestrator"])
    assert xds_node.call("PUT", "/v1/services/orchestrator/o1/maintenance", {}).status == 200
    _, pushed = ads.next()
    assert endpoints(decode(pushed)["orchestrator"]) == {"127.0.0.1:7002": 10}
    ads.ack(pushed, ["orchestrator"])
    assert xds_node.call("DELETE", "/v1/services/orchestrator/o2").status == 200
    _, pushed = ads.next()
    assert endpoints(decode(pushed)["orchestrator"]) == {}
    # Another service's change is not pushed to a stream that does not subscribe to it.
    ads.ack(pushed, ["orchestrator"])
    register(xds_node, "billing", "b1", 7100)
    assert ads.nothing_within(0.5)


def test_a_nack_is_counted_and_nothing_is_resent_until_a_change(xds_node, ads):
    register(xds_node, "orchestrator", "o1", 7001)
    ads.request(EDS, ["orchestrator"])
    _, first = ads.next()
    ads.nack(first, ["orchestrator"], "bad endpoint, says the test")
    assert ads.nothing_within(0.5)
    metrics = xds_node.get("/metrics").raw.decode()
    assert 'manifest_xds_nacks_total{type="eds"} 1.0' in metrics
    log = xds_node.log_text()
    assert "NACK" in log and "bad endpoint, says the test" in log and "client=test-client" in log
    register(xds_node, "orchestrator", "o2", 7002)
    _, pushed = ads.next()
    assert len(endpoints(decode(pushed)["orchestrator"])) == 2


def test_a_stale_nonce_is_ignored_and_added_names_are_answered(xds_node, ads):
    register(xds_node, "a", "a1", 7001)
    register(xds_node, "b", "b1", 7002)
    ads.request(EDS, ["a"])
    _, first = ads.next()
    ads.ack(first, ["a", "b"])  # subscribes to b as well: answered with b only
    _, second = ads.next()
    assert set(decode(second)) == {"b"}
    ads.request(EDS, ["a", "b", "c"], first.version_info, first.nonce)  # stale: ignored
    assert ads.nothing_within(0.5)


def test_wildcard_cds_gets_every_service_and_follows_them(xds_node, ads):
    register(xds_node, "a", "a1", 7001)
    ads.request(CDS, [])
    _, first = ads.next()
    assert set(decode(first)) == {"a"}
    ads.ack(first, [])
    register(xds_node, "b", "b1", 7002)
    _, pushed = ads.next()
    assert set(decode(pushed)) == {"a", "b"}
    ads.ack(pushed, [])
    assert xds_node.call("DELETE", "/v1/services/a/a1").status == 200
    _, pushed = ads.next()
    assert set(decode(pushed)) == {"b"}
    # An unnamed Listener request (an Envoy with lds_config) is answered, with no API listener.
    ads.request(LDS, [])
    _, lds = ads.next()
    assert decode(lds) == {}
    wait_until(lambda: 'manifest_xds_streams 1.0' in xds_node.get("/metrics").raw.decode(), 5,
               what="the stream counted")


def test_a_follower_serves_xds_from_its_own_state_and_pushes_what_it_applies(tmp_path):
    cluster = Cluster(tmp_path, size=3)
    for node in cluster.nodes:
        node.xds = f"127.0.0.1:{free_port()}"
        node.extra += ["--xds", node.xds]
    with cluster:
        follower = cluster.followers()[0]
        client = AdsClient(follower.xds)
        try:
            client.request(EDS, ["orchestrator"])
            _, first = client.next()
            assert endpoints(decode(first)["orchestrator"]) == {}
            client.ack(first, ["orchestrator"])
            register(cluster.leader(), "orchestrator", "o1", 7001)
            _, pushed = client.next()
            assert endpoints(decode(pushed)["orchestrator"]) == {"127.0.0.1:7001": 10}
        finally:
            client.close()


def test_sigterm_ends_the_streams_and_the_node_exits_0(xds_node, ads):
    ads.request(CDS, [])
    ads.next()
    assert xds_node.terminate() == 0
    with pytest.raises(AssertionError, match="stream ended"):
        while True:
            ads.next(timeout=10)
    assert "Traceback" not in xds_node.log_text(), xds_node.log_text()[-3000:]
