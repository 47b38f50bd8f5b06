"""GraphQL on real nodes: a subscription on a follower sees a write made on the leader, a linearizable
query on a follower sees it too, and SIGTERM ends the sockets and the node cleanly (gql as the client)."""

import asyncio

import pytest
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportError
from gql.transport.websockets import WebsocketsTransport

from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster
DEADLINE = 20.0


@pytest.fixture
def secured(tmp_path):
    c = Cluster(tmp_path, auth=True)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def _socket(node, token: str) -> WebsocketsTransport:
    return WebsocketsTransport(url=node.url.replace("http://", "ws://") + "/v1/graphql",
                               init_payload={"Authorization": f"Bearer {token}"}, connect_timeout=DEADLINE,
                               ack_timeout=DEADLINE, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])


def _http(node, token: str) -> AIOHTTPTransport:
    return AIOHTTPTransport(url=node.url + "/v1/graphql", headers={"Authorization": f"Bearer {token}"},
                            timeout=DEADLINE)


def _read_token(leader) -> str:
    resp = leader.call("POST", "/v1/tokens", {"role": "read", "description": "graphql test"})
    assert resp.status == 201, resp.body
    return resp.body["token"]


def test_a_follower_subscription_and_linearizable_query_see_the_leaders_write(secured):
    leader = secured.leader()
    follower = secured.followers()[0]
    token = _read_token(leader)
    secured.wait_for_replication()

    async def scenario():
        async with Client(transport=_socket(follower, token)) as session:
            request = gql("subscription { changes(service: \"web\") { revision kind instance { id } } }")
            stream = session.subscribe(request)
            first = asyncio.ensure_future(asyncio.wait_for(anext(stream), DEADLINE))
            # The stream is live once the follower counts it (manifest_watch_streams).
            deadline = asyncio.get_running_loop().time() + DEADLINE
            while b"manifest_watch_streams 1.0" not in (await asyncio.to_thread(follower.get, "/metrics")).raw:
                assert asyncio.get_running_loop().time() < deadline, "the subscription never started"
                await asyncio.sleep(0.05)
            resp = await asyncio.to_thread(leader.call, "POST", "/v1/services", {"name": "web", "id": "w1"})
            assert resp.status == 201, resp.body
            event = (await first)["changes"]
            assert event == {"revision": resp.body["revision"], "kind": "REGISTERED", "instance": {"id": "w1"}}
            await stream.aclose()
        async with Client(transport=_http(follower, token)) as session:
            data = await session.execute(gql("{ instances(name: \"web\", consistency: LINEARIZABLE) "
                                             "{ instances { id } } cluster { members { id role } } }"))
        assert data["instances"]["instances"] == [{"id": "w1"}]
        assert sorted(m["role"] for m in data["cluster"]["members"]) == ["follower", "follower", "leader"]

    asyncio.run(scenario())


def test_sigterm_closes_open_sockets_and_the_node_exits_cleanly(secured):
    node = secured.followers()[0]
    token = _read_token(secured.leader())
    secured.wait_for_replication()

    async def scenario():
        async with Client(transport=_socket(node, token)) as session:
            stream = session.subscribe(gql("subscription { changes { revision } }"))
            pending = asyncio.ensure_future(asyncio.wait_for(anext(stream), DEADLINE))
            await asyncio.sleep(0)  # the subscribe message is on its way; the node ends it either way
            code = await asyncio.to_thread(node.terminate)
            assert code == 0
            # The stream ends (completed, or the socket closed), well before the deadline.
            with pytest.raises((StopAsyncIteration, TransportError)):
                await pending

    asyncio.run(scenario())
