"""The resource builder: registry records in, Envoy v3 protos out (pure, no server)."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2

from manifest_node.mesh import resources as res


def record(iid: str, port: int, status: str = "up", weight=1.0, **meta) -> dict:
    return {"name": "orchestrator", "id": iid, "address": "10.0.0.1", "port": port, "status": status,
            "weight": weight, "metadata": meta, "version": "1.2.3"}


def weights(assignment) -> dict:
    return {(loc.locality.region, loc.locality.zone, e.endpoint.address.socket_address.port_value):
            e.load_balancing_weight.value for loc in assignment.endpoints for e in loc.lb_endpoints}


def test_only_up_instances_with_an_address_a_port_and_a_weight_are_endpoints():
    records = [record("a", 1), record("b", 2, status="draining"), record("c", 3, status="maintenance"),
               record("d", 4, status="down"), record("e", 5, status="unhealthy"), record("f", 6, weight=0),
               {**record("g", 7), "port": None}, {**record("h", 8), "address": ""},
               {**record("i", 9), "address": "orchestrator.internal"}, {**record("j", 10), "address": "fd00::5"}]
    assert weights(res.load_assignment("orchestrator", records)) == {("", "", 1): 10, ("", "", 10): 10}


def test_weights_scale_and_localities_weigh_the_sum_of_their_endpoints():
    records = [record("a", 1, weight=0.5, region="eu", zone="eu-1"), record("b", 2, weight=2, region="eu",
               zone="eu-1"), record("c", 3, weight=1000, region="us"), record("d", 4, weight=0.01)]
    assignment = res.load_assignment("orchestrator", records)
    assert weights(assignment) == {("eu", "eu-1", 1): 5, ("eu", "eu-1", 2): 20, ("us", "", 3): 10000,
                                   ("", "", 4): 1}
    assert {(loc.locality.region, loc.locality.zone): loc.load_balancing_weight.value
            for loc in assignment.endpoints} == {("eu", "eu-1"): 25, ("us", ""): 10000, ("", ""): 1}
    # Without a region of its own an instance is in the serving node's (--region).
    assert weights(res.load_assignment("orchestrator", records, "ap"))[("ap", "", 4)] == 1
    # Which instance an endpoint is, for Envoy's logs.
    meta = assignment.endpoints[0].lb_endpoints[0].metadata.filter_metadata[res.METADATA_KEY]
    assert meta["id"] == "d" and meta["version"] == "1.2.3"


def test_the_same_records_give_the_same_bytes_whatever_their_order():
    records = [record("b", 2, region="us"), record("a", 1, region="eu"), record("c", 3)]
    first = res.load_assignment("orchestrator", records).SerializeToString(deterministic=True)
    again = res.load_assignment("orchestrator", records[::-1]).SerializeToString(deterministic=True)
    assert first == again


def test_the_listener_routes_by_rds_and_ends_with_the_router_filter():
    listener = res.listener("orchestrator:8080")
    assert listener.name == "orchestrator:8080"
    manager = hcm_pb2.HttpConnectionManager()
    assert listener.api_listener.api_listener.Unpack(manager)
    assert manager.rds.route_config_name == "orchestrator" and manager.rds.config_source.HasField("ads")
    assert manager.http_filters[-1].typed_config.type_url == res.PREFIX + "envoy.extensions.filters.http.router.v3.Router"
    route = res.route_config("orchestrator")
    assert list(route.virtual_hosts[0].domains) == ["*"]
    assert route.virtual_hosts[0].routes[0].route.cluster == "orchestrator"


def test_the_cluster_is_eds_over_ads_round_robin():
    cluster = res.cluster("orchestrator")
    assert cluster.type == cluster_pb2.Cluster.EDS and cluster.lb_policy == cluster_pb2.Cluster.ROUND_ROBIN
    assert cluster.eds_cluster_config.eds_config.HasField("ads")
    assert cluster.eds_cluster_config.service_name == "orchestrator"


def test_resource_names_map_to_services():
    assert res.service_of("orchestrator") == "orchestrator"
    assert res.service_of("orchestrator:50051") == "orchestrator"
    for bad in ("", "Orchestrator", "orchestrator:http", "a/b", "-x", "orchestrator:"):
        assert res.service_of(bad) is None, bad
