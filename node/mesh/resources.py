"""Envoy v3 resources from registry records: pure functions, no I/O, no store.

One service ``S`` is four resources, all named ``S``:

    Listener S (or S:PORT)   an API listener (gRPC's xDS client asks for the target's
                             name); its HttpConnectionManager takes routes from RDS
    RouteConfiguration S     every path of every authority to cluster S
    Cluster S                type EDS, endpoints over ADS, round robin
    ClusterLoadAssignment S  the service's ``up`` instances with a weight above 0 and an
                             IP address, grouped by locality (metadata ``region``/``zone``/
                             ``sub_zone``); EDS takes no host names (Envoy and gRPC would
                             refuse the whole assignment for one), so those are left out

Endpoint weights are the records' ``weight`` (0..1000) times ``WEIGHT_SCALE``, so a
weight of 0.5 stays half of 1.0; a locality weighs the sum of its endpoints', which
is what makes gRPC (locality-weighted, round robin inside one) spread as Envoy does
(weighted round robin over the endpoints).
"""

from __future__ import annotations

import ipaddress

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import api_listener_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf import any_pb2, duration_pb2, struct_pb2

from ..fsm.validation import is_name

PREFIX = "type.googleapis.com/"
LISTENER = PREFIX + "envoy.config.listener.v3.Listener"
ROUTE = PREFIX + "envoy.config.route.v3.RouteConfiguration"
CLUSTER = PREFIX + "envoy.config.cluster.v3.Cluster"
ENDPOINT = PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
TYPES = (LISTENER, ROUTE, CLUSTER, ENDPOINT)
# Listener and Cluster responses carry the whole subscribed set (the protocol's
# "state of the world" rule); the others only what changed.
FULL_STATE = (LISTENER, CLUSTER)

WEIGHT_SCALE = 10  # record weight 0..1000 -> endpoint weight 1..10000: 100k instances fit a uint32 sum
METADATA_KEY = "manifest"
META_REGION, META_ZONE, META_SUB_ZONE = "region", "zone", "sub_zone"
_HTTP_PROTOCOLS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def service_of(resource_name: str) -> str | None:
    """The service a resource name stands for (``S`` or ``S:PORT``), None when it names none."""
    name, sep, port = resource_name.partition(":")
    if sep and not (port.isascii() and port.isdigit() and len(port) <= 5):
        return None
    return name if is_name(name) else None


def pack(message) -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(message, deterministic=True)  # the same resource, the same bytes (catalog.py compares them)
    return out


def _ads() -> config_source_pb2.ConfigSource:
    return config_source_pb2.ConfigSource(ads=config_source_pb2.AggregatedConfigSource(),
                                          resource_api_version=config_source_pb2.V3)


def listener(name: str) -> listener_pb2.Listener:
    """The API listener gRPC resolves ``xds:///name`` to: routes by RDS, then the router filter."""
    service = service_of(name)
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=service,
        rds=hcm_pb2.Rds(config_source=_ads(), route_config_name=service),
        http_filters=[hcm_pb2.HttpFilter(name="envoy.filters.http.router", typed_config=pack(router_pb2.Router()))],
    )
    return listener_pb2.Listener(name=name, api_listener=api_listener_pb2.ApiListener(api_listener=pack(manager)))


def route_config(name: str) -> route_pb2.RouteConfiguration:
    route = route_components_pb2.Route(match=route_components_pb2.RouteMatch(prefix=""),
                                       route=route_components_pb2.RouteAction(cluster=name))
    host = route_components_pb2.VirtualHost(name=name, domains=["*"], routes=[route])
    return route_pb2.RouteConfiguration(name=name, virtual_hosts=[host])


def cluster(name: str) -> cluster_pb2.Cluster:
    """An EDS cluster fed over ADS. An Envoy in front of it speaks upstream what its client
    spoke downstream (HTTP/1.1 or HTTP/2, so gRPC passes); gRPC clients ignore that part."""
    protocols = http_protocol_options_pb2.HttpProtocolOptions(
        use_downstream_protocol_config=http_protocol_options_pb2.HttpProtocolOptions.UseDownstreamHttpConfig(
            http_protocol_options={}, http2_protocol_options={}))
    return cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=_ads(), service_name=name),
        lb_policy=cluster_pb2.Cluster.ROUND_ROBIN,
        connect_timeout=duration_pb2.Duration(seconds=5),
        typed_extension_protocol_options={_HTTP_PROTOCOLS: pack(protocols)},
    )


def endpoint_weight(weight) -> int:
    """A record's weight as an Envoy endpoint weight (>= 1); 0 for an instance that takes no traffic."""
    try:
        weight = float(weight)
    except (TypeError, ValueError):
        weight = 1.0
    if not weight > 0:
        return 0
    return max(1, round(weight * WEIGHT_SCALE))


def _is_ip(address) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _locality(record: dict, region: str) -> tuple[str, str, str]:
    meta = record.get("metadata") or {}
    return (str(meta.get(META_REGION) or region), str(meta.get(META_ZONE, "")), str(meta.get(META_SUB_ZONE, "")))


def load_assignment(name: str, records: list[dict], region: str = "") -> endpoint_pb2.ClusterLoadAssignment:
    """Service ``name``'s ``up`` instances with an address, a port and a weight, by locality,
    in a stable order (the same records give the same bytes). An instance whose metadata names
    no ``region`` is in ``region``: the serving node's (``--region``), where it registered."""
    by_locality: dict[tuple[str, str, str], list] = {}
    for record in sorted(records, key=lambda r: r["id"]):
        weight = endpoint_weight(record.get("weight", 1.0))
        if record.get("status") != "up" or not _is_ip(record.get("address")) or not record.get("port") or not weight:
            continue
        socket = address_pb2.SocketAddress(address=record["address"], port_value=int(record["port"]))
        about = struct_pb2.Struct()
        about.update({"id": record["id"], "version": record.get("version") or ""})
        endpoint = endpoint_components_pb2.LbEndpoint(
            endpoint=endpoint_components_pb2.Endpoint(address=address_pb2.Address(socket_address=socket)),
            health_status=health_check_pb2.HEALTHY,
            load_balancing_weight={"value": weight},
            # Which instance this is, for Envoy's access logs and admin page (key: METADATA_KEY).
            metadata=base_pb2.Metadata(filter_metadata={METADATA_KEY: about}),
        )
        by_locality.setdefault(_locality(record, region), []).append((weight, endpoint))
    localities = []
    for (region, zone, sub_zone), endpoints in sorted(by_locality.items()):
        localities.append(endpoint_components_pb2.LocalityLbEndpoints(
            locality=base_pb2.Locality(region=region, zone=zone, sub_zone=sub_zone),
            lb_endpoints=[e for _, e in endpoints],
            load_balancing_weight={"value": sum(w for w, _ in endpoints)},
            priority=0,
        ))
    return endpoint_pb2.ClusterLoadAssignment(cluster_name=name, endpoints=localities)
