"""Instance caps and the watch-stream cap over HTTP (issue 10, point 10)."""

import asyncio
import time

import pytest

from manifest_node.api.app import create_app
from manifest_node.config import NodeConfig
from tests.support.fake_store import FakeStore


@pytest.fixture
async def capped(aiohttp_client):
    store = FakeStore(NodeConfig(max_instances=4, max_instances_per_service=2, max_watch_streams=2))
    client = await aiohttp_client(create_app(store, store.cfg))
    client.store = store
    return client


async def metric(client, line: str) -> float:
    text = await (await client.get("/metrics")).text()
    for row in text.splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    return 0.0


async def test_registrations_past_a_cap_are_429_naming_it(capped):
    for iid in ("a", "b"):
        assert (await capped.post("/v1/services", json={"name": "web", "id": iid})).status == 201
    r = await capped.post("/v1/services", json={"name": "web", "id": "c"})
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0
    err = (await r.json())["error"]
    assert err["code"] == "too_many_instances" and err["limit"] == "max_instances_per_service"
    assert "max_instances_per_service" in err["message"] and "2" in err["message"]
    for name in ("db", "db"):
        await capped.post("/v1/services", json={"name": name, "id": f"{name}-{time.monotonic_ns()}"})
    r = await capped.post("/v1/services", json={"name": "cache", "id": "x"})
    assert r.status == 429 and (await r.json())["error"]["limit"] == "max_instances"
    assert len(capped.store.fsm.instances) == 4
    assert await metric(capped, 'manifest_limit_refusals_total{limit="max_instances_per_service"}') == 1
    assert await metric(capped, 'manifest_limit_refusals_total{limit="max_instances"}') == 1


async def test_updates_and_heartbeats_at_the_cap_are_accepted(capped):
    for iid in ("a", "b"):
        await capped.post("/v1/services", json={"name": "web", "id": iid})
    r = await capped.post("/v1/services", json={"name": "web", "id": "a", "port": 81})
    assert r.status == 200 and (await r.json())["port"] == 81
    assert (await capped.put("/v1/services/web/b/heartbeat")).status == 200
    await capped.delete("/v1/services/web/b")
    assert (await capped.post("/v1/services", json={"name": "web", "id": "c"})).status == 201


async def test_a_generated_id_counts_like_any_other(capped):
    assert (await capped.post("/v1/services", json={"name": "web"})).status == 201
    assert (await capped.post("/v1/services", json={"name": "web"})).status == 201
    assert (await capped.post("/v1/services", json={"name": "web"})).status == 429


async def test_the_caps_travel_in_the_command(capped):
    await capped.post("/v1/services", json={"name": "web", "id": "a"})
    assert capped.store.proposed[0][2] == [4, 2]


async def test_watch_streams_past_the_cap_are_429(capped):
    first = await capped.get("/v1/watch")
    second = await capped.get("/v1/watch")
    assert first.status == second.status == 200
    r = await capped.get("/v1/watch")
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0
    err = (await r.json())["error"]
    assert err["code"] == "too_many_watches" and err["limit"] == "max_watch_streams"
    assert await metric(capped, "manifest_watch_streams") == 2
    assert await metric(capped, 'manifest_limit_refusals_total{limit="max_watch_streams"}') == 1
    first.close()  # a closed stream gives its place back
    deadline = time.monotonic() + 5
    while True:
        r = await capped.get("/v1/watch")
        if r.status == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert r.status == 200
    r.close()
    second.close()
