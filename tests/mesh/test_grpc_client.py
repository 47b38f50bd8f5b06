"""gRPC's own Python xDS client, resolving ``xds:///orchestrator`` through Manifest's xDS server.

Three gRPC test servers are registered as instances of ``orchestrator``; a
client in a subprocess (GRPC_XDS_BOOTSTRAP must be set before grpc loads)
calls without pause and says which server answered. Its load balancer must
spread the calls over every up instance and follow the registry: off an
instance deregistered, put in maintenance or expired (no heartbeat within its
ttl), onto one registered later, and back from having none at all.
"""

from __future__ import annotations

import time

import pytest

from tests.mesh.conftest import register
from tests.support.certs import CA
from tests.support.cluster import Cluster, free_port, wait_until
from tests.support.grpc_backends import Backend
from tests.support.xds_caller import Caller, bootstrap

pytestmark = pytest.mark.cluster
DEADLINE = 15  # seconds: a bound for slow shared machines, not the figure (loadtests/xds_push.py)


def reaches_only(caller: Caller, since: float, expected: set[str], calls: int = 30) -> bool:
    """The last ``calls`` calls after ``since`` all succeeded and reached exactly ``expected``."""
    after = caller.since(since)
    return len(after) >= calls and set(after[-calls:]) == expected


@pytest.fixture
def backends():
    servers = [Backend(f"o{i}") for i in range(1, 5)]
    for server in servers:
        server.server.start()
    yield {s.id: s for s in servers}
    for server in servers:
        server.stop()


def test_grpc_xds_client_balances_over_up_instances_and_follows_changes(xds_node, backends, tmp_path):
    for ident in ("o1", "o2", "o3"):
        register(xds_node, "orchestrator", ident, backends[ident].port, ttl=600)
    caller = Caller("orchestrator", bootstrap(str(tmp_path / "bootstrap.json"), xds_node.xds))
    try:
        start = time.monotonic()
        wait_until(lambda: reaches_only(caller, start, {"o1", "o2", "o3"}), DEADLINE,
                   what="calls reaching all three instances")
        # Round robin: 30 calls over three instances, about ten each.
        last = caller.since(start)[-30:]
        assert all(last.count(i) >= 5 for i in ("o1", "o2", "o3")), last

        assert xds_node.call("DELETE", "/v1/services/orchestrator/o1").status == 200
        t = time.monotonic()
        wait_until(lambda: reaches_only(caller, t, {"o2", "o3"}), DEADLINE, what="calls off the deregistered o1")

        assert xds_node.call("PUT", "/v1/services/orchestrator/o2/maintenance", {}).status == 200
        t = time.monotonic()
        wait_until(lambda: reaches_only(caller, t, {"o3"}), DEADLINE, what="calls off o2 in maintenance")

        register(xds_node, "orchestrator", "o4", backends["o4"].port, ttl=2)
        t = time.monotonic()
        wait_until(lambda: reaches_only(caller, t, {"o3", "o4"}), DEADLINE, what="calls reaching the new o4")

        # o4 sends no heartbeat: after its 2 s ttl the leader marks it down, and the calls leave it.
        wait_until(lambda: xds_node.get("/v1/services/orchestrator/o4").body["status"] == "down", DEADLINE,
                   what="o4 expired")
        t = time.monotonic()
        wait_until(lambda: reaches_only(caller, t, {"o3"}), DEADLINE, what="calls off the expired o4")

        assert xds_node.call("DELETE", "/v1/services/orchestrator/o2/maintenance").status == 200
        t = time.monotonic()
        wait_until(lambda: reaches_only(caller, t, {"o2", "o3"}), DEADLINE, what="calls back on o2")

        # No up instance at all, then one again: the client fails meanwhile, then recovers.
        for ident in ("o2", "o3", "o4"):
            assert xds_node.call("DELETE", f"/v1/services/orchestrator/{ident}").status == 200
        t = time.monotonic()
        wait_until(lambda: caller.since(t)[-2:] == [None, None], DEADLINE, what="calls failing with no instance")
        register(xds_node, "orchestrator", "o1", backends["o1"].port, ttl=600)
        t = time.monotonic()
        wait_until(lambda: reaches_only(caller, t, {"o1"}), DEADLINE, what="calls reaching o1 again")
    finally:
        stderr = caller.close()
    assert caller.calls, stderr


def test_grpc_xds_client_weighs_localities_by_their_instances_weights(xds_node, backends, tmp_path):
    # o1 alone in eu with weight 1, o2 alone in us with weight 3: gRPC picks the locality by
    # its weight (the sum of its endpoints'), so about a quarter of the calls reach o1.
    register(xds_node, "orchestrator", "o1", backends["o1"].port, ttl=600, metadata={"region": "eu"})
    register(xds_node, "orchestrator", "o2", backends["o2"].port, ttl=600, weight=3, metadata={"region": "us"})
    caller = Caller("orchestrator", bootstrap(str(tmp_path / "bootstrap.json"), xds_node.xds), every=0.001)
    try:
        start = time.monotonic()
        wait_until(lambda: len([c for c in caller.since(start) if c]) >= 800, 60, what="800 calls")
    finally:
        stderr = caller.close()
    calls = [c for c in caller.since(start) if c][-600:]
    share = calls.count("o1") / len(calls)
    assert set(calls) == {"o1", "o2"} and 0.1 < share < 0.4, (share, stderr)


def test_grpc_xds_client_reaches_the_xds_server_over_mutual_tls(tmp_path, backends):
    ca = CA(tmp_path / "ca")
    port = free_port()
    cluster = Cluster(tmp_path / "c", size=1, tls=ca, mtls=True, extra=["--xds", f"localhost:{port}"])
    with cluster:
        node = cluster.nodes[0]
        register(node, "orchestrator", "o1", backends["o1"].port, ttl=600)
        issued = ca.issue("grpc-client", tag="xds")
        tls = {"ca_certificate_file": ca.cert, "certificate_file": issued.cert, "private_key_file": issued.key}
        caller = Caller("orchestrator", bootstrap(str(tmp_path / "bootstrap.json"), f"localhost:{port}", tls=tls))
        try:
            start = time.monotonic()
            wait_until(lambda: reaches_only(caller, start, {"o1"}, calls=5), DEADLINE, what="calls over mTLS xDS")
        finally:
            stderr = caller.close()
        assert caller.calls, stderr
