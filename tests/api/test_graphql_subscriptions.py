"""The ``changes`` subscription over WebSocket, driven by a real third-party client: gql's websockets
transport, speaking graphql-transport-ws (and the older graphql-ws), against an app on a loopback port.

Changes are made through the REST API (POST /v1/services), so the events travel the node's own
path: store listener -> history -> ChangeHub -> the subscription.
"""

import asyncio

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from manifest_node.api.app import create_app
from manifest_node.api.keys import CHANGES, WATCHES
from manifest_node.auth.permissions import P, ROLE_PERMISSIONS
from manifest_node.config import NodeConfig
from tests.support.auth import BOOTSTRAP, add_token, bearer
from tests.support.eventually import eventually
from tests.support.fake_store import FakeStore

SECRET = "a-cluster-secret-of-32-bytes-yes"
CHANGES_DOC = """subscription($service: String, $since: Revision) {
  changes(service: $service, since: $since) { revision kind reason instance { name id status } instances { id } data }
}"""
DEADLINE = 10.0


def _store(**cfg) -> FakeStore:
    return FakeStore(NodeConfig(auth=True, bootstrap_token=BOOTSTRAP, cluster_secret=SECRET, audit=False, **cfg))


async def _serve(aiohttp_client, store):
    client = await aiohttp_client(create_app(store, store.cfg))
    return client, str(client.make_url("/v1/graphql")).replace("http://", "ws://")


def _transport(url: str, token: str | None = None, *, in_headers: bool = False,
               protocol: str = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL) -> WebsocketsTransport:
    init = None if token is None or in_headers else {"Authorization": f"Bearer {token}"}
    return WebsocketsTransport(url=url, init_payload=init or {}, headers=bearer(token) if in_headers else None,
                               subprotocols=[protocol], connect_timeout=DEADLINE, ack_timeout=DEADLINE)


async def _register(http, token: str, name: str, iid: str) -> int:
    resp = await http.post("/v1/services", json={"name": name, "id": iid}, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return (await resp.json())["revision"]


def changes(**variables):
    request = gql(CHANGES_DOC)
    request.variable_values = variables
    return request


async def _next(stream):
    return await asyncio.wait_for(anext(stream), DEADLINE)


@pytest.mark.parametrize("protocol", [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL,
                                      WebsocketsTransport.APOLLO_SUBPROTOCOL])
async def test_a_subscriber_with_its_token_in_connection_init_receives_a_registration(aiohttp_client, protocol):
    store = _store()
    _, token = add_token(store, "read")
    http, url = await _serve(aiohttp_client, store)
    async with Client(transport=_transport(url, token, protocol=protocol)) as session:
        stream = session.subscribe(changes(service="web"))
        first = asyncio.ensure_future(_next(stream))
        # The subscription is live once the node counts its stream; then the change is made.
        await eventually(lambda: http.app[WATCHES].open == 1, DEADLINE, "the subscription to start")
        await _register(http, BOOTSTRAP, "other", "o1")  # another service's change: not for this stream
        revision = await _register(http, BOOTSTRAP, "web", "w1")
        event = (await first)["changes"]
        assert event["kind"] == "REGISTERED" and event["revision"] == revision
        assert event["instance"] == {"name": "web", "id": "w1", "status": "UP"}
        assert event["data"]["id"] == "w1" and event["data"]["revision"] == revision  # /v1/watch's data
        await stream.aclose()


async def test_resuming_replays_in_revision_order_and_an_old_revision_starts_with_a_reset(aiohttp_client):
    store = _store(watch_history=2)
    _, token = add_token(store, "read")
    http, url = await _serve(aiohttp_client, store)
    revisions = [await _register(http, BOOTSTRAP, "web", f"w{i}") for i in range(3)]
    async with Client(transport=_transport(url, token, in_headers=True)) as session:
        stream = session.subscribe(changes(since=revisions[0]))
        got = [(await _next(stream))["changes"] for _ in range(2)]
        assert [(e["kind"], e["revision"]) for e in got] == [("REGISTERED", revisions[1]),
                                                             ("REGISTERED", revisions[2])]
        await stream.aclose()
        # Revision 0 is older than the two events the history keeps: the full list first.
        stream = session.subscribe(changes(since=0))
        reset = (await _next(stream))["changes"]
        assert reset["kind"] == "RESET" and reset["revision"] == store.fsm.revision
        assert sorted(i["id"] for i in reset["instances"]) == ["w0", "w1", "w2"]
        revision = await _register(http, BOOTSTRAP, "web", "w3")
        assert (await _next(stream))["changes"]["revision"] == revision
        await stream.aclose()


async def test_a_client_that_goes_away_leaves_no_subscriber_behind(aiohttp_client):
    store = _store()
    _, token = add_token(store, "read")
    http, url = await _serve(aiohttp_client, store)
    hub = http.app[CHANGES]
    # Completing the operation, then leaving; and leaving with it still running (a short close
    # timeout: gql does not wait for the node to answer its "complete", the socket just goes).
    for i, completes in enumerate((True, False, True, False)):
        transport = _transport(url, token)
        transport.close_timeout = None if completes else 0.01
        async with Client(transport=transport) as session:
            stream = session.subscribe(changes())
            first = asyncio.ensure_future(_next(stream))
            await eventually(lambda: hub.waiting() == 1, DEADLINE, "the stream to park on the hub")
            await _register(http, BOOTSTRAP, "web", f"w{i}")
            assert (await first)["changes"]["instance"]["id"] == f"w{i}"
            await eventually(lambda: hub.waiting() == 1, DEADLINE, "the stream to park again")
            if completes:
                await stream.aclose()
        await eventually(lambda: hub.waiting() == 0 and http.app[WATCHES].open == 0, DEADLINE,
                         "every subscriber to be gone")


@pytest.mark.parametrize("token", [None, "mnf1.0123456789abcdef.not-the-secret"])
async def test_a_socket_without_a_valid_token_is_closed_before_anything_runs(aiohttp_client, token):
    store = _store()
    http, url = await _serve(aiohttp_client, store)
    with pytest.raises(TransportError):
        async with Client(transport=_transport(url, token)) as session:
            await session.execute(gql("{ instances { revision } }"))
    assert http.app[WATCHES].open == 0


async def test_a_role_without_services_watch_may_query_over_the_socket_but_not_subscribe(aiohttp_client,
                                                                                          monkeypatch):
    monkeypatch.setitem(ROLE_PERMISSIONS, "read", ROLE_PERMISSIONS["read"] - {P.WATCH})
    store = _store()
    _, token = add_token(store, "read")
    http, url = await _serve(aiohttp_client, store)
    await _register(http, BOOTSTRAP, "web", "w1")
    async with Client(transport=_transport(url, token)) as session:
        page = await session.execute(gql("{ instances { instances { id } } }"))
        assert page["instances"]["instances"] == [{"id": "w1"}]
        with pytest.raises(TransportQueryError) as refused:
            await _next(session.subscribe(changes()))
        assert refused.value.errors[0]["extensions"]["code"] == "forbidden"
    assert http.app[WATCHES].open == 0


async def test_subscriptions_count_against_max_watch_streams(aiohttp_client):
    store = _store(max_watch_streams=1)
    _, token = add_token(store, "read")
    http, url = await _serve(aiohttp_client, store)
    async with Client(transport=_transport(url, token)) as session:
        held = session.subscribe(changes())
        first = asyncio.ensure_future(_next(held))
        await eventually(lambda: http.app[WATCHES].open == 1, DEADLINE, "the first subscription to start")
        async with Client(transport=_transport(url, token)) as other:
            with pytest.raises(TransportQueryError) as refused:
                await _next(other.subscribe(changes()))
            assert refused.value.errors[0]["extensions"]["code"] == "too_many_watches"
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await held.aclose()
