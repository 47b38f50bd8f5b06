"""The SSE watch stream on a fake store."""

import asyncio

import pytest

from manifest_node.api.app import create_app
from manifest_node.api.keys import CHANGES
from manifest_node.config import NodeConfig
from manifest_node.fsm import commands as C
from tests.support.fake_store import FakeStore
from tests.support.eventually import eventually
from tests.support.sse import read_events


async def parked(client, streams: int = 1):
    """Wait until ``streams`` watch streams have sent all they had and wait for changes."""
    hub = client.app[CHANGES]
    await eventually(lambda: hub.waiting() == streams, what=f"{streams} parked watch stream(s)")


def churn(store):
    store.apply(C.register({"name": "web", "id": "w1"}))          # 1 registered
    store.apply(C.register({"name": "db", "id": "d1"}))           # 2 registered
    store.apply(C.heartbeat("web", "w1"))                          # nothing visible
    store.apply(C.heartbeat("web", "w1", "unhealthy"))             # 3 status
    store.apply(C.register({"name": "web", "id": "w1", "tags": ["x"]}))  # 4 updated
    store.apply(C.deregister("db", "d1"))                          # 5 deregistered


async def test_replays_every_change_in_order_then_follows_live(client, store):
    churn(store)
    resp = await client.get("/v1/watch?since=0")
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    events = await read_events(resp, 5)
    assert [(e["id"], e["event"]) for e in events] == [
        (1, "registered"), (2, "registered"), (3, "status"), (4, "updated"), (5, "deregistered")]
    assert events[2]["data"]["status"] == "unhealthy" and events[4]["data"]["reason"] == "owner"
    store.apply(C.register({"name": "web", "id": "w2"}))
    live = await read_events(resp, 1)
    assert live[0]["id"] == 6 and live[0]["data"]["id"] == "w2"


async def test_heartbeat_that_changes_nothing_sends_nothing(client, store):
    churn(store)
    resp = await client.get("/v1/watch?since=5")
    store.apply(C.heartbeat("web", "w1"))
    store.apply(C.register({"name": "web", "id": "w9"}))
    assert [e["id"] for e in await read_events(resp, 1)] == [6]


async def test_name_filter_and_last_event_id(client, store):
    churn(store)
    resp = await client.get("/v1/watch?name=web", headers={"Last-Event-ID": "1"})
    assert [e["id"] for e in await read_events(resp, 2)] == [3, 4]
    store.apply(C.register({"name": "db", "id": "d2"}))
    store.apply(C.deregister("web", "w1"))
    assert [e["id"] for e in await read_events(resp, 1)] == [7]


async def test_resuming_past_this_nodes_head_sends_nothing_twice(client, store):
    # A watcher moves from a node that was ahead to one still catching up.
    churn(store)
    resp = await client.get("/v1/watch", headers={"Last-Event-ID": "7"})
    await parked(client)  # caught up with everything here
    store.apply(C.register({"name": "web", "id": "a"}), C.register({"name": "web", "id": "b"}))  # 6, 7
    store.apply(C.register({"name": "web", "id": "c"}))  # 8
    assert [e["id"] for e in await read_events(resp, 1)] == [8]


async def test_without_since_only_new_changes_arrive(client, store):
    churn(store)
    resp = await client.get("/v1/watch")
    assert resp.headers["X-Manifest-Index"] == "5"
    await parked(client)
    store.apply(C.register({"name": "web", "id": "new"}))
    assert [e["id"] for e in await read_events(resp, 1)] == [6]


@pytest.fixture
def small():
    return FakeStore(NodeConfig(watch_history=3, watch_keepalive=0.2))


async def test_too_old_a_revision_gets_a_reset_then_a_consistent_continuation(aiohttp_client, small):
    client = await aiohttp_client(create_app(small, small.cfg))
    churn(small)  # revisions 1..5; the ring keeps 3..5
    resp = await client.get("/v1/watch?since=1")
    reset, = await read_events(resp, 1)
    assert reset["event"] == "reset" and reset["id"] == 5
    assert [(i["name"], i["id"], i["tags"]) for i in reset["data"]["instances"]] == [("web", "w1", ["x"])]
    small.apply(C.deregister("web", "w1"))
    assert [(e["id"], e["event"]) for e in await read_events(resp, 1)] == [(6, "deregistered")]


async def test_a_snapshot_install_resets_watchers(aiohttp_client, small):
    client = await aiohttp_client(create_app(small, small.cfg))
    churn(small)
    resp = await client.get("/v1/watch?since=5")
    await parked(client)
    other = FakeStore()
    churn(other)
    other.apply(*[C.register({"name": "web", "id": f"n{i}"}) for i in range(5)])
    small.restore(other.fsm.snapshot())  # as a lagging follower installing a snapshot
    await parked(client)  # the reset sent, waiting again
    small.apply(C.register({"name": "web", "id": "after"}))
    events = await read_events(resp, 2)
    assert events[0]["event"] == "reset" and events[0]["id"] == 10
    assert events[1]["id"] == 11


async def test_idle_streams_get_keepalive_comments(aiohttp_client, small):
    client = await aiohttp_client(create_app(small, small.cfg))
    resp = await client.get("/v1/watch")
    comments = []

    async def two_keepalives():
        while comments.count(": keep-alive") < 2:
            line = (await resp.content.readline()).decode().rstrip("\n")
            assert not line.startswith(("id:", "event:", "data:")), line  # idle: no event
            if line.startswith(":"):
                comments.append(line)

    await asyncio.wait_for(two_keepalives(), 5)  # every 0.2 s; 5 s leaves room for a loaded machine
