"""POST /v1/heartbeats: many heartbeats in one request, on a fake store."""

import pytest

from manifest_node import errors
from manifest_node.api.batch import MAX_BATCH, parse
from manifest_node.fsm import commands as C


async def beat(client, items, **kw):
    return await client.post("/v1/heartbeats", json={"heartbeats": items}, **kw)


async def test_batch_beats_each_instance_and_reports_unknown_ones(client, store):
    store.apply(*[C.register({"name": "web", "id": f"w{i}"}) for i in range(3)])
    store.now_ms += 5000
    r = await beat(client, [{"name": "web", "id": "w0"}, {"name": "web", "id": "w1", "status": "unhealthy"},
                            {"name": "web", "id": "gone"}])
    assert r.status == 200
    results = (await r.json())["results"]
    assert [(x["id"], x["ok"]) for x in results] == [("w0", True), ("w1", True), ("gone", False)]
    assert results[1]["status"] == "unhealthy" and results[2]["error"] == "not_found"
    assert store.fsm.instances[("web", "w0")].last_heartbeat == store.now_ms
    assert store.fsm.instances[("web", "w2")].last_heartbeat < store.now_ms  # not in the batch


@pytest.mark.parametrize("body,field", [
    ({"heartbeats": [{"name": "web", "id": "a"}, {"name": "Bad", "id": "b"}]}, "heartbeats[1].name"),
    ({"heartbeats": [{"name": "web", "id": "a b"}]}, "heartbeats[0].id"),
    ({"heartbeats": [{"name": "web", "id": "a", "status": "down"}]}, "heartbeats[0].status"),
    ({"heartbeats": [{"name": "web", "id": "a", "ttl": 3}]}, "heartbeats[0].ttl"),
    ({"heartbeats": [{"name": "web", "id": "a"}, {"name": "web", "id": "a"}]}, "heartbeats[1]"),
    ({"heartbeats": ["web/a"]}, "heartbeats[0]"),
    ({"heartbeats": []}, "heartbeats"),
    ({"beats": []}, "beats"),
    ({}, "heartbeats"),
    ([], "body"),
])
async def test_a_bad_item_is_a_400_naming_it_and_nothing_is_proposed(client, store, body, field):
    r = await client.post("/v1/heartbeats", json=body)
    assert r.status == 400
    err = (await r.json())["error"]
    assert err["field"] == field and err["message"]
    assert store.proposed == []


def test_a_batch_holds_at_most_max_batch_items():
    items = [{"name": "web", "id": f"i{i}"} for i in range(MAX_BATCH + 1)]
    assert len(parse({"heartbeats": items[:-1]})) == MAX_BATCH
    with pytest.raises(errors.InvalidInput) as caught:
        parse({"heartbeats": items})
    assert caught.value.field == "heartbeats"


async def test_without_a_leader_the_batch_is_a_503(client, store):
    store.available = False
    r = await beat(client, [{"name": "web", "id": "w0"}])
    assert r.status == 503
