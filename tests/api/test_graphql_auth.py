"""Tokens and roles on /v1/graphql: the route's guard, each root field's permission, the socket's handshake.

The HTTP routes are in the auth matrix (tests/api/test_auth_matrix.py) like every route; here are
what the matrix cannot say: a role missing one permission gets the other root fields, a WebSocket
upgrade may bring its token in connection_init instead of its headers, and the rate limit.
"""

import json

import pytest
from aiohttp import WSMsgType

from manifest_node.auth.permissions import P, ROLE_PERMISSIONS
from manifest_node.api.app import create_app
from manifest_node.api.keys import WATCHES
from manifest_node.config import NodeConfig
from manifest_node.fsm import commands as C
from tests.support.auth import BOOTSTRAP, add_token, bearer
from tests.support.eventually import eventually
from tests.support.fake_store import FakeStore

SECRET = "a-cluster-secret-of-32-bytes-yes"
TRANSPORT_WS = "graphql-transport-ws"


@pytest.fixture
def store():
    store = FakeStore(NodeConfig(auth=True, bootstrap_token=BOOTSTRAP, cluster_secret=SECRET, audit=False))
    store.apply(C.register({"name": "web", "id": "w1"}))
    return store


@pytest.fixture
async def client(aiohttp_client, store):
    return await aiohttp_client(create_app(store, store.cfg))


async def test_without_a_token_the_route_answers_401_in_our_error_shape(client):
    resp = await client.post("/v1/graphql", json={"query": "{ cluster { id } }"})
    assert resp.status == 401
    assert (await resp.json())["error"]["field"] == "Authorization"


async def test_a_role_without_one_permission_gets_the_other_root_fields(client, store, monkeypatch):
    monkeypatch.setitem(ROLE_PERMISSIONS, "read", ROLE_PERMISSIONS["read"] - {P.CLUSTER})
    _, token = add_token(store, "read")
    resp = await client.post("/v1/graphql", json={"query": "{ instances { revision } cluster { id } }"},
                             headers=bearer(token))
    body = await resp.json()
    assert resp.status == 200
    assert body["data"] == {"instances": {"revision": store.fsm.revision}, "cluster": None}
    (error,) = body["errors"]
    assert error["path"] == ["cluster"]
    assert error["extensions"] == {"code": "forbidden", "status": 403}
    assert "cluster.view" in error["message"]


async def _handshake(client, payload: dict | None, headers: dict | None = None):
    ws = await client.ws_connect("/v1/graphql", protocols=[TRANSPORT_WS], headers=headers)
    await ws.send_str(json.dumps({"type": "connection_init", "payload": payload or {}}))
    return ws, await ws.receive(timeout=10)


async def test_a_socket_takes_its_token_from_connection_init(client, store):
    _, token = add_token(store, "read")
    ws, msg = await _handshake(client, {"Authorization": f"Bearer {token}"})
    assert json.loads(msg.data)["type"] == "connection_ack"
    await ws.send_str(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ instances { revision } }"}}))
    answer = json.loads((await ws.receive(timeout=10)).data)
    assert answer == {"id": "1", "type": "next", "payload": {"data": {"instances": {"revision": store.fsm.revision}}}}
    await ws.close()


async def test_a_socket_with_its_token_in_the_upgrade_headers_needs_none_in_connection_init(client, store):
    _, token = add_token(store, "read")
    ws, msg = await _handshake(client, None, bearer(token))
    assert json.loads(msg.data)["type"] == "connection_ack"
    await ws.close()


@pytest.mark.parametrize("payload", [None, {"Authorization": "Bearer mnf1.0123456789abcdef.not-the-secret"},
                                     {"Authorization": 5}, {"authorization": "Basic eDp5"}])
async def test_a_socket_without_a_valid_token_is_closed_with_4401(client, payload):
    ws, msg = await _handshake(client, payload)
    assert msg.type == WSMsgType.CLOSE and msg.data == 4401, msg
    assert ws.closed or (await ws.receive(timeout=10)).type in (WSMsgType.CLOSED, WSMsgType.CLOSE)


async def test_a_socket_whose_role_may_not_read_is_closed_with_4403(client, store, monkeypatch):
    monkeypatch.setitem(ROLE_PERMISSIONS, "read", frozenset({P.METRICS}))
    _, token = add_token(store, "read")
    _, msg = await _handshake(client, {"Authorization": f"Bearer {token}"})
    assert msg.type == WSMsgType.CLOSE and msg.data == 4403, msg


async def test_a_bad_token_in_the_upgrade_headers_is_refused_before_the_upgrade(client):
    resp = await client.get("/v1/graphql", headers={"Authorization": "Bearer nope", "Upgrade": "websocket",
                                                    "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert resp.status == 401


async def test_with_auth_off_a_socket_needs_no_token(aiohttp_client):
    store = FakeStore(NodeConfig())
    client = await aiohttp_client(create_app(store, store.cfg))
    ws, msg = await _handshake(client, None)
    assert json.loads(msg.data)["type"] == "connection_ack"
    await ws.close()


async def test_graphql_requests_count_as_expensive_reads(aiohttp_client):
    store = FakeStore(NodeConfig(auth=True, bootstrap_token=BOOTSTRAP, cluster_secret=SECRET, audit=False,
                                 rate_limit=True, rate_reads=0.001, rate_reads_burst=2))
    client = await aiohttp_client(create_app(store, store.cfg))
    statuses = [(await client.post("/v1/graphql", json={"query": "{ cluster { id } }"},
                                   headers=bearer(BOOTSTRAP))).status for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_a_socket_from_another_origin_is_refused_in_our_error_shape(client, store):
    resp = await client.get("/v1/graphql", headers={"Authorization": f"Bearer {BOOTSTRAP}", "Upgrade": "websocket",
                                                    "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                                    "Sec-WebSocket-Protocol": TRANSPORT_WS,
                                                    "Origin": "https://elsewhere.example"})
    assert resp.status == 403
    assert (await resp.json())["error"]["field"] == "Origin"


@pytest.mark.parametrize("message", ['{"type": "subscribe", "id": "1", "payload": {"query": 5}}', "not json",
                                     '{"type": "nothing"}', '[1, 2]',
                                     '{"type": "subscribe", "id": "1", "payload": {"query": "{"}}'])
async def test_a_malformed_socket_message_closes_that_socket_and_nothing_else(client, store, message):
    ws, msg = await _handshake(client, {"Authorization": f"Bearer {BOOTSTRAP}"})
    assert json.loads(msg.data)["type"] == "connection_ack"
    await ws.send_str(message)
    closing = await ws.receive(timeout=10)
    assert closing.type == WSMsgType.CLOSE and 4400 <= closing.data < 4500, closing
    resp = await client.post("/v1/graphql", json={"query": "{ cluster { id } }"}, headers=bearer(BOOTSTRAP))
    assert resp.status == 200


async def test_a_socket_query_past_the_byte_limit_is_refused_for_that_operation_alone(aiohttp_client):
    store = FakeStore(NodeConfig(graphql_max_query_bytes=64))
    client = await aiohttp_client(create_app(store, store.cfg))
    ws, _ = await _handshake(client, None)
    await ws.send_str(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": "{ cluster { id } }" + " " * 64}}))
    refused = json.loads((await ws.receive(timeout=10)).data)
    assert refused["type"] == "error" and refused["payload"][0]["extensions"]["limit"] == "graphql_max_query_bytes"
    await ws.send_str(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": "{ cluster { id } }"}}))
    assert json.loads((await ws.receive(timeout=10)).data)["payload"] == {"data": {"cluster": {"id": "n1"}}}
    await ws.close()


async def test_an_upgrade_header_without_a_websocket_handshake_gets_no_answer_without_a_token(client):
    # The guard lets a bare upgrade through for connection_init; one that is no handshake runs nothing.
    resp = await client.get("/v1/graphql", params={"query": "{ instances { revision } }"},
                            headers={"Upgrade": "websocket"})
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "Upgrade"


# ---- every caller on the socket, expectations derived from auth/permissions.py like the auth matrix ----
CALLERS = ("none", "bad", "read", "service", "operator", "admin", "bootstrap")
_OPERATIONS = {  # operation -> the permission its root field needs
    "{ instances { revision } }": P.READ,
    "{ cluster { id } }": P.CLUSTER,
    "subscription { changes { revision } }": P.WATCH,
}


async def _answer(ws, op_id: str) -> dict:
    """The first next or error message for operation ``op_id`` (a query's "complete" follows its "next")."""
    while True:
        message = json.loads((await ws.receive(timeout=10)).data)
        if message.get("id") == op_id and message["type"] in ("next", "error"):
            return message


@pytest.mark.parametrize("caller", CALLERS)
async def test_socket_matrix(client, store, caller):
    from manifest_node.auth.permissions import allows

    tokens = {role: add_token(store, role, ["web*"] if role == "service" else ())[1]
              for role in ("read", "service", "operator", "admin")}
    tokens.update(none=None, bad="mnf1.0123456789abcdef.not-the-secret", bootstrap=BOOTSTRAP)
    token = tokens[caller]
    ws, msg = await _handshake(client, {"Authorization": f"Bearer {token}"} if token else None)
    role = "admin" if caller == "bootstrap" else caller
    if caller in ("none", "bad"):
        assert msg.type == WSMsgType.CLOSE and msg.data == 4401
        return
    if not allows(role, P.READ):
        assert msg.type == WSMsgType.CLOSE and msg.data == 4403
        return
    assert json.loads(msg.data)["type"] == "connection_ack"
    for n, (query, permission) in enumerate(_OPERATIONS.items()):
        await ws.send_str(json.dumps({"id": str(n), "type": "subscribe", "payload": {"query": query}}))
        if query.startswith("subscription") and allows(role, permission):
            await eventually(lambda: client.app[WATCHES].open == 1, 10, "the subscription to start")
            store.apply(C.register({"name": "web", "id": f"w-{caller}"}))
        answer = await _answer(ws, str(n))
        if allows(role, permission):
            assert answer["type"] == "next" and "errors" not in answer["payload"], (query, answer)
        else:
            errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
            assert errors[0]["extensions"]["code"] == "forbidden", (query, answer)
        if query.startswith("subscription"):
            await ws.send_str(json.dumps({"id": str(n), "type": "complete"}))
    await ws.close()
