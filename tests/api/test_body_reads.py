"""Request bodies are read whole, over a real socket: split, short, chunked, truncated.

Issue 10, point 1: ``request.content.read(n)`` answered with what had
arrived so far, so a body in two TCP writes was parsed half-read and a body
shorter than its Content-Length was accepted.
"""

import json

import msgpack
import pytest

from manifest_node.api.app import create_app
from manifest_node.config import NodeConfig
from manifest_node.peer_protocol import AUTH_HEADER, sign
from manifest_node.fsm import commands as C
from tests.support.fake_store import FakeStore
from tests.support.raw_http import chunked, exchange, request_bytes

SECRET = "a-cluster-secret-of-some-length"


def registration(**extra) -> bytes:
    """A valid registration of about 1.1 KB, as in the audit."""
    body = {"name": "web", "id": "w1", "version": "1.4.2", "address": "10.0.0.5", "port": 8080,
            "tags": [f"tag-{i}" for i in range(20)],
            "metadata": {f"key-{i}": "v" * 30 for i in range(18)}, **extra}
    return json.dumps(body).encode()


@pytest.fixture
async def node(aiohttp_server):
    store = FakeStore(NodeConfig(cluster_secret=SECRET))
    server = await aiohttp_server(create_app(store, store.cfg))
    server.store = store
    return server


async def test_a_body_in_two_writes_300ms_apart_is_read_whole(node):
    raw = registration()
    assert 1000 < len(raw) < 1400
    req = request_bytes("POST", "/v1/services", raw, {"Content-Type": "application/json"})
    cut = len(req) - len(raw) + 500  # the head and 500 bytes, then the rest
    reply = await exchange(node.port, [req[:cut], req[cut:]], pause=0.3)
    assert reply.status == 201, reply.body
    assert reply.json()["metadata"]["key-17"] == "v" * 30
    assert node.store.fsm.revision == 1


async def test_a_signed_propose_in_two_writes_is_accepted(node):
    raw = msgpack.packb({"commands": [C.register({"name": "web", "id": "w1", "metadata": {
        f"k{i}": "v" * 40 for i in range(20)}})]})
    req = request_bytes("POST", "/v1/internal/propose", raw, {
        "Content-Type": "application/msgpack", AUTH_HEADER: sign(SECRET, raw)})
    cut = len(req) - len(raw) // 2
    reply = await exchange(node.port, [req[:cut], req[cut:]], pause=0.3)
    assert reply.status == 200, reply.body
    assert msgpack.unpackb(reply.body)["results"][0]["created"] is True
    assert node.store.fsm.revision == 1


@pytest.mark.parametrize("end", ["shut_wr", "close"])
async def test_a_body_shorter_than_its_content_length_changes_nothing(node, end):
    raw = json.dumps({"name": "web", "id": "w1", "port": 80}).encode()
    assert len(raw) < 50
    req = request_bytes("POST", "/v1/services", raw, {"Content-Type": "application/json"}, length=1000)
    reply = await exchange(node.port, [req], end=end)
    assert reply.status != 201
    if reply.status is not None:
        assert reply.status == 400 and reply.json()["error"]["code"] == "incomplete_body"
    assert node.store.proposed == [] and node.store.fsm.revision == 0


async def test_a_short_internal_body_is_not_proposed(node):
    raw = msgpack.packb({"commands": [C.register({"name": "web", "id": "w1"})]})
    req = request_bytes("POST", "/v1/internal/propose", raw, {
        "Content-Type": "application/msgpack", AUTH_HEADER: sign(SECRET, raw)}, length=len(raw) + 100)
    reply = await exchange(node.port, [req], end="shut_wr")
    assert reply.status != 200
    assert node.store.fsm.revision == 0 and node.store.index == 0


async def test_a_chunked_body_in_two_writes_is_read_whole(node):
    raw = registration()
    head = request_bytes("POST", "/v1/services", headers={
        "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    body = chunked(raw, pieces=3)
    reply = await exchange(node.port, [head + body[:700], body[700:]], pause=0.3)
    assert reply.status == 201, reply.body
    assert node.store.fsm.revision == 1


@pytest.mark.parametrize("end", ["shut_wr", "close"])
async def test_a_chunked_body_without_its_last_chunk_changes_nothing(node, end):
    head = request_bytes("POST", "/v1/services", headers={
        "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    reply = await exchange(node.port, [head + chunked(registration(), last=False)], end=end)
    assert reply.status != 201
    assert node.store.proposed == [] and node.store.fsm.revision == 0


async def test_a_chunked_body_over_the_limit_is_413(aiohttp_server):
    store = FakeStore(NodeConfig(max_body=1024))
    server = await aiohttp_server(create_app(store, store.cfg))
    head = request_bytes("POST", "/v1/services", headers={
        "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    reply = await exchange(server.port, [head + chunked(registration(), pieces=4)])
    assert reply.status == 413 and reply.json()["error"]["code"] == "too_large"
    assert store.proposed == []


async def test_a_body_that_stops_arriving_is_400_after_the_body_timeout(aiohttp_server):
    store = FakeStore(NodeConfig(body_timeout=0.5))
    server = await aiohttp_server(create_app(store, store.cfg))
    req = request_bytes("POST", "/v1/services", b'{"name": "web", "id": "w1"}',
                        {"Content-Type": "application/json"}, length=200)
    reply = await exchange(server.port, [req], end="keep", timeout=5)
    assert reply.status == 400
    err = reply.json()["error"]
    assert err["code"] == "incomplete_body" and err["field"] == "body" and "27 of 200" in err["message"]
    # The rest of that body would be read as the next request: the connection must close.
    assert reply.headers.get("connection", "").lower() == "close"
    assert store.proposed == []


@pytest.mark.parametrize("end", ["shut_wr", "keep"])
async def test_a_delete_with_a_short_body_deletes_nothing(aiohttp_server, end):
    """The body of a DELETE is read whole too: a request that did not arrive in full changes nothing."""
    store = FakeStore(NodeConfig(body_timeout=0.5))
    server = await aiohttp_server(create_app(store, store.cfg))
    store.apply(C.register({"name": "web", "id": "w1"}))
    req = request_bytes("DELETE", "/v1/services/web/w1", b"{}", {"Content-Type": "application/json"}, length=100)
    reply = await exchange(server.port, [req], end=end)
    assert reply.status in (None, 400)
    assert ("web", "w1") in store.fsm.instances and store.proposed == []


async def test_a_delete_body_holds_no_fields(node):
    node.store.apply(C.register({"name": "web", "id": "w1"}))
    req = request_bytes("DELETE", "/v1/services/web/w1", b'{"surprise": 1}', {"Content-Type": "application/json"})
    reply = await exchange(node.port, [req])
    assert reply.status == 400 and reply.json()["error"]["field"] == "surprise"
    reply = await exchange(node.port, [request_bytes("DELETE", "/v1/services/web/w1")])
    assert reply.status == 200
