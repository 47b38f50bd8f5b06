"""docs/mesh.md's Envoy bootstrap is a valid Envoy v3 Bootstrap (field names, types, typed configs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from envoy.config.bootstrap.v3 import bootstrap_pb2
# Registered in the descriptor pool so that the snippet's typed configs ("@type") resolve.
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2  # noqa: F401
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2  # noqa: F401
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401
from google.protobuf import json_format

DOC = Path(__file__).resolve().parents[2] / "docs" / "mesh.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


def test_the_envoy_bootstrap_parses_as_envoys_own_proto():
    (snippet,) = [b for b in blocks("yaml") if "dynamic_resources" in b]
    bootstrap = json_format.ParseDict(yaml.safe_load(snippet), bootstrap_pb2.Bootstrap())
    assert bootstrap.dynamic_resources.cds_config.HasField("ads")
    assert bootstrap.dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name == "manifest_xds"
    assert [c.name for c in bootstrap.static_resources.clusters] == ["manifest_xds"]


def test_the_grpc_bootstrap_is_the_shape_the_tests_give_grpc():
    (snippet,) = [b for b in blocks("json") if "xds_servers" in b]
    doc = json.loads(snippet)
    server = doc["xds_servers"][0]
    assert server["server_features"] == ["xds_v3"] and server["channel_creds"] == [{"type": "insecure"}]
    assert doc["node"]["id"]
