"""A flood of requests aiohttp cannot parse costs a few log lines, not a traceback each (issue 10, point 9)."""

import socket

import pytest

from tests.support.cluster import Cluster, wait_until

pytestmark = pytest.mark.cluster

HEALTH = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
# Requests aiohttp's parser refuses with its own plain-text 400. A bad method
# is sent after a good request on the same connection: aiohttp already logs
# a first request's bad method (non-HTTP traffic) at debug.
MALFORMED = {
    "bad method": b"B@D / HTTP/1.1\r\nHost: x\r\n\r\n",
    "oversized url": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "oversized header": b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
    "too many headers": b"GET /v1/health HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n",
    "nul in path": b"GET /v1/\x00health HTTP/1.1\r\nHost: x\r\n\r\n",
    "length and chunked": (b"POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "bad chunk size": (b"POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
    "bad version": b"GET /v1/health HTTP/9.9\r\nHost: x\r\n\r\n",
}


def send(port: int, raw: bytes, after_a_good_one: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        if after_a_good_one:
            s.sendall(HEALTH)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):  # the health body is one object
                answer += s.recv(65536)
        s.sendall(raw)
        out = b""
        while chunk := s.recv(65536):  # aiohttp closes the connection after such an answer
            out += chunk
    return out


@pytest.fixture
def node(tmp_path):
    cluster = Cluster(tmp_path, size=1)
    cluster.start()
    yield cluster.nodes[0]
    cluster.stop()


def test_two_hundred_malformed_requests_log_a_few_lines_and_no_traceback(node):
    before = len(node.log_text())
    kinds = list(MALFORMED.items())
    for i in range(200):
        kind, raw = kinds[i % len(kinds)]
        answer = send(node.api_port, raw, after_a_good_one=kind == "bad method")
        assert b" 400 " in answer.split(b"\r\n", 1)[0] or b"HTTP/1.1 400" in answer, (kind, answer[:200])
    assert node.health().status == 200
    wait_until(lambda: "malformed" in node.log_text()[before:], 5, what="a line about malformed requests")
    new = node.log_text()[before:]
    assert "Traceback" not in new and "ERROR" not in new, new[:3000]
    assert len(new.splitlines()) <= 3, new
    metrics = node.get("/metrics").raw.decode()
    assert "manifest_http_malformed_requests_total 200.0" in metrics
