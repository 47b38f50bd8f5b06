"""GraphQL WebSockets still waiting for their token are bounded: in time (4408) and in number (429).

The guard lets an upgrade without credentials through so the socket can bring its token in
connection_init; such a socket must not hold a descriptor for ever (graphql-ws has no init
timeout of its own) nor be opened by the thousand.
"""

import asyncio
import json

import aiohttp
import pytest
from aiohttp import WSMsgType

from manifest_node.api.app import create_app
from manifest_node.api.graphql import sockets
from manifest_node.api.graphql.keys import ENDPOINT
from manifest_node.api.keys import METRICS
from manifest_node.config import NodeConfig
from tests.support.auth import BOOTSTRAP, add_token, bearer
from tests.support.fake_store import FakeStore

SECRET = "a-cluster-secret-of-32-bytes-yes"
PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]


def _store(body_timeout: float = 10.0) -> FakeStore:
    return FakeStore(NodeConfig(auth=True, bootstrap_token=BOOTSTRAP, cluster_secret=SECRET, audit=False,
                                body_timeout=body_timeout))


def _refusals(app) -> float:
    return app[METRICS].refusals.labels(sockets.WAITING_LIMIT)._value.get()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_that_never_sends_connection_init_is_closed_with_4408(aiohttp_client, protocol):
    store = _store(body_timeout=0.5)
    client = await aiohttp_client(create_app(store, store.cfg))
    ws = await client.ws_connect("/v1/graphql", protocols=[protocol])
    msg = await ws.receive(timeout=10)  # a bound: the socket is closed long before
    assert msg.type == WSMsgType.CLOSE and msg.data == 4408, msg
    assert client.app[ENDPOINT].sockets.waiting == set()


async def test_a_legacy_socket_with_a_bad_token_in_connection_init_is_closed(aiohttp_client):
    store = _store(body_timeout=0.5)
    client = await aiohttp_client(create_app(store, store.cfg))
    ws = await client.ws_connect("/v1/graphql", protocols=["graphql-ws"])
    await ws.send_str(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}}))
    kinds = []
    while not kinds or kinds[-1] not in (WSMsgType.CLOSE, WSMsgType.CLOSED):
        kinds.append((await ws.receive(timeout=10)).type)
    assert ws.closed


async def test_a_socket_that_authenticates_in_time_is_not_closed_by_the_timer(aiohttp_client):
    store = _store(body_timeout=0.5)
    client = await aiohttp_client(create_app(store, store.cfg))
    _, token = add_token(store, "read")
    ws = await client.ws_connect("/v1/graphql", protocols=["graphql-ws"])
    await ws.send_str(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads((await ws.receive(timeout=10)).data)["type"] == "connection_ack"
    # Three timeouts later it is still open: the timer ends only sockets without a principal.
    loop = asyncio.get_running_loop()
    until = loop.time() + 1.5
    while (left := until - loop.time()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except asyncio.TimeoutError:
            break
        assert msg.type == WSMsgType.TEXT and json.loads(msg.data)["type"] == "ka", msg  # keep-alives only
    assert not ws.closed
    await ws.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_sockets_waiting_for_a_token_are_capped_per_node(aiohttp_client, monkeypatch, protocol):
    monkeypatch.setattr(sockets, "MAX_WAITING", 2)
    store = _store()
    client = await aiohttp_client(create_app(store, store.cfg))
    _, token = add_token(store, "read")
    waiting = [await client.ws_connect("/v1/graphql", protocols=[protocol]) for _ in range(2)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/v1/graphql", protocols=[protocol])
    assert refused.value.status == 429
    resp = await client.get("/v1/graphql", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                    "Sec-WebSocket-Version": "13",
                                                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert resp.status == 429
    error = (await resp.json())["error"]
    assert error["limit"] == sockets.WAITING_LIMIT and "2" in error["message"]
    assert _refusals(client.app) == 2
    # A socket bringing its token with the upgrade is not waiting for one: the cap does not apply.
    authed = await client.ws_connect("/v1/graphql", protocols=[protocol], headers=bearer(token))
    assert not authed.closed
    # One waiting socket authenticates: its place is free for another.
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
    await waiting[0].send_str(json.dumps(init))
    assert json.loads((await waiting[0].receive(timeout=10)).data)["type"] == "connection_ack"
    another = await client.ws_connect("/v1/graphql", protocols=[protocol])
    assert not another.closed
    for ws in (*waiting, authed, another):
        await ws.close()
