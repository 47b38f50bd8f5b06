"""A one-node registry serving xDS on a free loopback port, for the tests of tests/mesh/."""

from __future__ import annotations

import pytest

from tests.support.cluster import Cluster, free_port


@pytest.fixture
def xds_node(tmp_path):
    port = free_port()
    with Cluster(tmp_path, size=1, extra=["--xds", f"127.0.0.1:{port}", "--tick-interval", "0.2"]) as cluster:
        node = cluster.nodes[0]
        node.xds = f"127.0.0.1:{port}"
        yield node


def register(node, name: str, iid: str, port: int, address: str = "127.0.0.1", **fields) -> dict:
    reply = node.call("POST", "/v1/services", {"name": name, "id": iid, "address": address,
                                                   "port": port, **fields})
    assert reply.status in (200, 201), reply.body
    return reply.body
