"""TLS and mTLS handshakes against real nodes, with a CA and certificates made at run time (issue 12).

Good certificate, wrong CA (either side), expired (either side), no client
certificate when one is required, host name mismatch; a role bound to a
certificate's subject; a reload that changes the certificate without
dropping the connections already open.
"""

import http.client
import shutil
import signal
import ssl
import time

import pytest

from tests.support.certs import CA, peer_serial
from tests.support.cluster import Cluster, wait_until

pytestmark = pytest.mark.cluster

REFUSED = (ssl.SSLError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)


def get(url: str, context: ssl.SSLContext, path="/v1/health", headers=None) -> int:
    conn = http.client.HTTPSConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=5, context=context)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    return CA(folder, "good-ca"), CA(folder / "other", "other-ca")


@pytest.fixture(scope="module")
def nodes(tmp_path_factory, pki):
    """One mTLS node with a certificate role, one with an expired certificate, one for another host."""
    ca, _ = pki
    tmp = tmp_path_factory.mktemp("tls-nodes")
    for sub in "abc":
        (tmp / sub).mkdir()
    expired, elsewhere = ca.issue("old", expired=True), ca.issue("far", ips=(), dns=("other.example",))
    clusters = [
        Cluster(tmp / "a", size=1, tls=ca, mtls=True, auth=True, extra=["--tls-cert-roles", "test-ops=operator"]),
        Cluster(tmp / "b", size=1, extra=["--tls-cert", expired.cert, "--tls-key", expired.key]),
        Cluster(tmp / "c", size=1, extra=["--tls-cert", elsewhere.cert, "--tls-key", elsewhere.key]),
    ]
    try:
        for c in clusters:
            for n in c.nodes:
                n.start()
        clusters[0].wait_ready(45)
        for c in clusters[1:]:
            n = c.nodes[0]
            n.context = ssl._create_unverified_context()  # noqa: S323 - only to see the node is up
            c.wait_ready(45)
        yield clusters
    finally:
        for c in clusters:
            c.stop()


def test_a_good_certificate_gets_in_and_the_token_is_still_needed(nodes, pki):
    ca, _ = pki
    node = nodes[0].nodes[0]
    assert node.url.startswith("https://")
    assert node.get("/v1/services").status == 200
    assert node.get("/v1/services", token=None).status == 401  # a certificate without a role is no token


def test_a_server_certificate_from_another_ca_is_refused_by_the_client(nodes, pki):
    _, other = pki
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        get(nodes[0].nodes[0].url, other.client_context())


def test_a_client_certificate_from_another_ca_is_refused_by_the_node(nodes, pki):
    ca, other = pki
    context = ca.client_context(other.issue("intruder"))
    with pytest.raises(REFUSED):
        get(nodes[0].nodes[0].url, context)


def test_no_client_certificate_when_one_is_required_is_refused(nodes, pki):
    ca, _ = pki
    with pytest.raises(REFUSED):
        get(nodes[0].nodes[0].url, ca.client_context())


def test_an_expired_certificate_is_refused_on_either_side(nodes, pki):
    ca, _ = pki
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        get(nodes[1].nodes[0].url, ca.client_context())
    with pytest.raises(REFUSED):
        get(nodes[0].nodes[0].url, ca.client_context(ca.issue("stale-client", expired=True)))


def test_a_certificate_for_another_host_name_is_refused(nodes, pki):
    ca, _ = pki
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        get(nodes[2].nodes[0].url, ca.client_context())


def test_a_role_bound_to_a_certificate_subject(nodes, pki):
    ca, _ = pki
    node = nodes[0].nodes[0]
    ops = ca.client_context(ca.issue("test-ops"))
    assert node.call("POST", "/v1/services", {"name": "web", "id": "w1"}).status == 201
    assert get(node.url, ops, "/v1/cluster") == 200
    conn_status = node.call  # the admin registered; the operator certificate deregisters without a token
    old_context, node.context = node.context, ops
    try:
        assert conn_status("POST", "/v1/services", {"name": "web"}, token=None).status == 403
        assert conn_status("DELETE", "/v1/services/web/w1", token=None).status == 200
    finally:
        node.context = old_context


def test_a_new_certificate_is_served_after_sighup_and_open_connections_stay(nodes, pki, tmp_path):
    ca, _ = pki
    cluster = nodes[0]
    node = cluster.nodes[0]
    cert_path = node.extra[node.extra.index("--tls-cert") + 1]
    key_path = node.extra[node.extra.index("--tls-key") + 1]
    port = node.api_port
    kept = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=node.context)
    kept.request("GET", "/v1/health")
    kept.getresponse().read()
    before = peer_serial(kept.sock)
    fresh = ca.issue(node.id, tag="renewed")
    shutil.copy(fresh.key, key_path + ".new")
    shutil.copy(fresh.cert, cert_path + ".new")
    shutil.move(key_path + ".new", key_path)
    shutil.move(cert_path + ".new", cert_path)
    node.proc.send_signal(signal.SIGHUP)

    def served():
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=node.context)
        try:
            conn.request("GET", "/v1/health")
            conn.getresponse().read()
            return peer_serial(conn.sock) == fresh.serial
        finally:
            conn.close()

    wait_until(served, 10, interval=0.1, what="the renewed certificate served")
    assert before != fresh.serial
    kept.request("GET", "/v1/health")  # the connection made before the reload still serves
    assert kept.getresponse().status == 200 and peer_serial(kept.sock) == before
    kept.close()
    assert node.alive and "TLS certificate reloaded" in node.log_text()
    time.sleep(0)  # nothing else: the node keeps running


def test_the_client_reads_ca_certificate_and_token_from_the_environment_for_requests_and_watches(
        nodes, monkeypatch):
    from manifest_client import Registry

    cluster = nodes[0]
    node = cluster.nodes[0]
    monkeypatch.setenv("MANIFEST_TOKEN", cluster.token)
    monkeypatch.setenv("MANIFEST_CACERT", cluster.ca.cert)
    monkeypatch.setenv("MANIFEST_CLIENT_CERT", cluster.client_cert.cert)
    monkeypatch.setenv("MANIFEST_CLIENT_KEY", cluster.client_cert.key)
    with Registry(node.url) as reg:
        since = reg.health().revision
        reg.register_instance({"name": "tls-web", "id": "t1"})
        assert [i.id for i in reg.discover("tls-web")] == ["t1"]
        stream = reg.watch("tls-web", since=since)
        assert next(stream).instance.id == "t1"
        stream.close()
    monkeypatch.delenv("MANIFEST_CLIENT_CERT")
    monkeypatch.delenv("MANIFEST_CLIENT_KEY")
    from manifest_client import ConnectionFailed

    with Registry(node.url, retries=0) as reg, pytest.raises(ConnectionFailed):
        reg.discover("tls-web")  # mTLS: no client certificate, no way in
