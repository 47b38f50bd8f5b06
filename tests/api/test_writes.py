"""Register, heartbeat and deregister through the API on a fake store."""

import json

import msgpack
import pytest


async def register(client, body, **kw):
    return await client.post("/v1/services", json=body, **kw)


async def test_register_new_then_update(client, store):
    r = await register(client, {"name": "web", "id": "w1", "port": 8080, "version": "1.4.2"})
    assert r.status == 201
    rec = await r.json()
    assert rec["status"] == "up" and rec["port"] == 8080 and rec["revision"] == 1
    assert r.headers["X-Manifest-Index"] == "1"
    r = await register(client, {"name": "web", "id": "w1", "port": 9090})
    assert r.status == 200 and (await r.json())["port"] == 9090


async def test_register_generates_an_id_on_the_receiving_node(client, store):
    r = await register(client, {"name": "web"})
    rec = await r.json()
    assert r.status == 201 and rec["id"].startswith("web-") and len(rec["id"]) == 16
    # The id travels in the command: apply() draws no randomness.
    assert store.proposed[0][1]["id"] == rec["id"]


async def test_msgpack_in_and_out(client):
    body = msgpack.packb({"name": "web", "id": "m1", "tags": ["a"]})
    r = await client.post("/v1/services", data=body, headers={
        "Content-Type": "application/msgpack", "Accept": "application/msgpack"})
    assert r.status == 201 and r.content_type == "application/msgpack"
    assert msgpack.unpackb(await r.read())["tags"] == ["a"]


@pytest.mark.parametrize("body,field", [
    ({"name": "Bad Name"}, "name"),
    ({"id": "x"}, "name"),
    ({"name": "web", "id": "has space"}, "id"),
    ({"name": "web", "port": "80"}, "port"),
    ({"name": "web", "port": True}, "port"),
    ({"name": "web", "port": 70000}, "port"),
    ({"name": "web", "ttl": 0}, "ttl"),
    ({"name": "web", "ttl": "30"}, "ttl"),
    ({"name": "web", "version": "one"}, "version"),
    ({"name": "web", "tags": "a"}, "tags"),
    ({"name": "web", "tags": [1]}, "tags[0]"),
    ({"name": "web", "metadata": {"k": 1}}, "metadata.k"),
    ({"name": "web", "interfaces": {"bad name": "x"}}, "interfaces.bad name"),
    ({"name": "web", "dependencies": ["Not-A-Name"]}, "dependencies[0]"),
    ({"name": "web", "surprise": 1}, "surprise"),
    ({"name": "web", "status": "down"}, "status"),
    ({"name": "web", "revision": 9}, "revision"),
])
async def test_invalid_fields_are_named_and_change_nothing(client, store, body, field):
    r = await register(client, body)
    assert r.status == 400
    err = (await r.json())["error"]
    assert err["field"] == field and err["message"]
    assert store.proposed == [] and store.fsm.revision == 0


@pytest.mark.parametrize("raw,ctype,status,code", [
    (b"{not json", "application/json", 400, "malformed"),
    (b"[1, 2]", "application/json", 400, "invalid"),
    (b"", "application/json", 400, "required"),
    (b"\xc1", "application/msgpack", 400, "malformed"),
    (b"name=web", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    (json.dumps({"name": "web", "metadata": {"k": "v" * 5000}}).encode(), "application/json", 413, "too_large"),
])
async def test_malformed_bodies(client, store, raw, ctype, status, code):
    r = await client.post("/v1/services", data=raw, headers={"Content-Type": ctype})
    assert r.status == status
    assert (await r.json())["error"]["code"] == code
    assert store.proposed == []


async def test_no_leader_is_503_with_retry_after(client, store):
    store.available = False
    r = await register(client, {"name": "web", "id": "w1"})
    assert r.status == 503 and r.headers["Retry-After"] == "1"
    assert (await r.json())["error"]["code"] == "no_leader"


async def test_heartbeat(client, store):
    await register(client, {"name": "web", "id": "w1"})
    r = await client.put("/v1/services/web/w1/heartbeat")
    assert r.status == 200 and (await r.json())["status"] == "up"
    r = await client.put("/v1/services/web/w1/heartbeat", json={"status": "unhealthy"})
    assert (await r.json())["status"] == "unhealthy"
    r = await client.put("/v1/services/web/nope/heartbeat")
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize("body,field", [({"status": "down"}, "status"), ({"x": 1}, "x"), ([1], "body")])
async def test_bad_heartbeat_bodies(client, store, body, field):
    await register(client, {"name": "web", "id": "w1"})
    before = len(store.proposed)
    r = await client.put("/v1/services/web/w1/heartbeat", json=body)
    assert r.status == 400 and (await r.json())["error"]["field"] == field
    assert len(store.proposed) == before


async def test_deregister(client):
    await register(client, {"name": "web", "id": "w1"})
    r = await client.delete("/v1/services/web/w1")
    assert r.status == 200 and (await r.json())["id"] == "w1"
    r = await client.delete("/v1/services/web/w1")
    assert r.status == 404


async def test_invalid_path_segments(client, store):
    r = await client.delete("/v1/services/Web/w1")
    assert r.status == 400 and (await r.json())["error"]["field"] == "name"
    r = await client.put("/v1/services/web/" + "x" * 200 + "/heartbeat")
    assert r.status == 400 and (await r.json())["error"]["field"] == "id"
    assert store.proposed == []
