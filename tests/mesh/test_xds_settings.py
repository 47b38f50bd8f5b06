"""--xds: its validation, the start-up error without the 'mesh' extra, and TLS (mTLS) on the xDS port."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys

import grpc
import pytest
from click.testing import CliRunner

from manifest_node import config, server
from manifest_node.entry import cli as manifest
from manifest_node.cli import local_cluster_args
from manifest_node.errors import StartupError
from manifest_node.mesh.launch import xds_server
from tests.mesh.conftest import register
from tests.support.ads import EDS, AdsClient, decode, endpoints
from tests.support.certs import CA
from tests.support.cluster import Cluster, free_port, wait_until


def test_off_loopback_xds_needs_tls_and_the_error_names_the_field():
    with pytest.raises(config.ConfigError) as err:
        config.NodeConfig(insecure=True, xds="0.0.0.0:18000").validate()
    assert err.value.field == "xds" and "tls_cert" in str(err.value)
    config.NodeConfig(insecure=True, xds="127.0.0.1:18000").validate()
    config.NodeConfig(insecure=True, xds="[::1]:18000").validate()
    config.NodeConfig(insecure=True, xds="0.0.0.0:18000", tls_cert="c.pem", tls_key="k.pem").validate()
    for bad in ("127.0.0.1", "127.0.0.1:0", "host name:1"):
        with pytest.raises(config.ConfigError) as err:
            config.NodeConfig(insecure=True, xds=bad).validate()
        assert err.value.field == "xds"
    assert config.NodeConfig(insecure=True, xds="off").validate().xds_address is None


def test_the_cli_refuses_a_bad_xds_address_with_its_name(monkeypatch):
    monkeypatch.setattr(server, "run", lambda cfg: pytest.fail("served"))
    result = CliRunner().invoke(manifest, ["node", "--insecure", "--xds", "10.1.2.3:18000"], env={})
    assert result.exit_code == 2 and "Error: xds" in result.output, result.output


def test_a_local_cluster_gives_each_node_its_own_xds_port():
    args = local_cluster_args(3, "127.0.0.1:8500", "/tmp/d", xds="127.0.0.1:18000")
    assert [a[a.index("--xds") + 1] for a in args] == ["127.0.0.1:18000", "127.0.0.1:18001", "127.0.0.1:18002"]


def test_without_the_mesh_extra_the_start_stops_with_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "manifest_node.mesh.server", None)  # as if grpcio/xds-protos were missing
    with pytest.raises(StartupError) as err:
        xds_server(None, config.NodeConfig(insecure=True, xds="127.0.0.1:18000"), None)
    assert "mesh" in str(err.value) and "chora-manifest[mesh]" in str(err.value)


@pytest.mark.cluster
def test_xds_over_mutual_tls_takes_only_clients_with_a_certificate(tmp_path):
    ca = CA(tmp_path / "ca")
    port = free_port()
    with Cluster(tmp_path / "c", size=1, tls=ca, mtls=True, extra=["--xds", f"127.0.0.1:{port}"]) as cluster:
        node = cluster.nodes[0]
        register(node, "orchestrator", "o1", 7001)
        client_cert = ca.issue("xds-client", tag="xds-client")
        with open(ca.cert, "rb") as f:
            root = f.read()
        with open(client_cert.key, "rb") as k, open(client_cert.cert, "rb") as c:
            key, chain = k.read(), c.read()
        good = AdsClient(f"localhost:{port}", credentials=grpc.ssl_channel_credentials(root, key, chain))
        try:
            good.request(EDS, ["orchestrator"])
            _, response = good.next()
            assert endpoints(decode(response)["orchestrator"]) == {"127.0.0.1:7001": 10}
        finally:
            good.close()
        for credentials in (grpc.ssl_channel_credentials(root), None):  # no client certificate; plaintext
            bad = AdsClient(f"localhost:{port}", credentials=credentials)
            try:
                bad.request(EDS, ["orchestrator"])
                with pytest.raises(AssertionError, match="stream ended"):
                    bad.next(timeout=10)
            finally:
                bad.close()


def served_common_name(port: int, ca_file: str) -> str:
    context = ssl.create_default_context(cafile=ca_file)
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname="localhost") as tls:
            subject = dict(pair[0] for pair in tls.getpeercert()["subject"])
    return subject["commonName"]


@pytest.mark.cluster
def test_a_renewed_certificate_reaches_new_xds_connections_without_a_restart(tmp_path):
    ca = CA(tmp_path / "ca")
    port = free_port()
    with Cluster(tmp_path / "c", size=1, tls=ca, extra=["--xds", f"127.0.0.1:{port}"]) as cluster:
        node = cluster.nodes[0]
        cert_path = node.extra[node.extra.index("--tls-cert") + 1]
        key_path = node.extra[node.extra.index("--tls-key") + 1]
        assert served_common_name(port, ca.cert) == "n1"
        renewed = ca.issue("n1-renewed")
        for source, target in ((renewed.cert, cert_path), (renewed.key, key_path)):
            with open(source, "rb") as src, open(target + ".tmp", "wb") as dst:
                dst.write(src.read())
            os.replace(target + ".tmp", target)
        wait_until(lambda: served_common_name(port, ca.cert) == "n1-renewed", 15, what="the renewed certificate")
        assert "xDS TLS certificate reloaded" in node.log_text()


@pytest.mark.cluster
def test_an_xds_port_in_use_stops_the_start_with_exit_2_naming_xds(tmp_path):
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as another gRPC server would
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [sys.executable, "-m", "manifest_node", "node", "--insecure", "--api", f"127.0.0.1:{free_port()}",
                "--raft", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"), "--xds", f"127.0.0.1:{port}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")}
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Error: cannot listen on the xDS address" in done.stderr and "(xds)" in done.stderr, done.stderr[-2000:]
