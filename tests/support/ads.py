"""A raw ADS client for the tests and the push-latency script: grpc's stub, no xDS library.

Requests go in through a queue the stub's request iterator drains; responses
are read on a thread and kept with the monotonic time they arrived.
"""

from __future__ import annotations

import queue
import threading
import time

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.rpc import status_pb2

from manifest_node.mesh import resources as res

LDS, RDS, CDS, EDS = res.LISTENER, res.ROUTE, res.CLUSTER, res.ENDPOINT


class AdsClient:
    def __init__(self, target: str, node_id: str = "test-client", credentials=None):
        self.channel = (grpc.secure_channel(target, credentials) if credentials is not None
                        else grpc.insecure_channel(target))
        self.node_id = node_id
        self._requests: queue.Queue = queue.Queue()
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self.channel)
        self._call = stub.StreamAggregatedResources(iter(self._requests.get, None))
        self.responses: queue.Queue = queue.Queue()  # (arrival monotonic seconds, DiscoveryResponse)
        self.error: Exception | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for response in self._call:
                self.responses.put((time.monotonic(), response))
        except grpc.RpcError as exc:
            self.error = exc
        self.responses.put((time.monotonic(), None))

    def request(self, type_url: str, names=(), version: str = "", nonce: str = "", error: str | None = None):
        req = discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=list(names), version_info=version,
                                             response_nonce=nonce)
        req.node.id = self.node_id
        if error is not None:
            req.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
        self._requests.put(req)

    def ack(self, response, names=()):
        self.request(response.type_url, names, response.version_info, response.nonce)

    def nack(self, response, names=(), message: str = "refused by the test"):
        self.request(response.type_url, names, "", response.nonce, error=message)

    def next(self, timeout: float = 10.0):
        """The next response (arrival time, response); AssertionError when none comes in time."""
        try:
            at, response = self.responses.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no xDS response within {timeout}s") from None
        if response is None:
            raise AssertionError(f"the xDS stream ended: {self.error}")
        return at, response

    def nothing_within(self, seconds: float) -> bool:
        """True when no response arrives within ``seconds`` (a bound, for "nothing is resent")."""
        try:
            self.responses.put(self.responses.get(timeout=seconds))
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        self._requests.put(None)
        self._call.cancel()
        self.channel.close()


def decode(response) -> dict:
    """name -> the unpacked resource of a DiscoveryResponse."""
    kinds = {LDS: "envoy.config.listener.v3.listener_pb2.Listener",
             RDS: "envoy.config.route.v3.route_pb2.RouteConfiguration",
             CDS: "envoy.config.cluster.v3.cluster_pb2.Cluster",
             EDS: "envoy.config.endpoint.v3.endpoint_pb2.ClusterLoadAssignment"}
    module, _, cls = kinds[response.type_url].rpartition(".")
    kind = getattr(__import__(module, fromlist=[cls]), cls)
    out = {}
    for packed in response.resources:
        msg = kind()
        packed.Unpack(msg)
        out[getattr(msg, "cluster_name", "") or msg.name] = msg
    return out


def endpoints(assignment) -> dict[str, int]:
    """"address:port" -> weight of every endpoint of a ClusterLoadAssignment."""
    return {f"{e.endpoint.address.socket_address.address}:{e.endpoint.address.socket_address.port_value}":
            e.load_balancing_weight.value for loc in assignment.endpoints for e in loc.lb_endpoints}
