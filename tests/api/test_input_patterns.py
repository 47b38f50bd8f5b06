"""Names, ids and other patterned input over HTTP: no line breaks, NUL or look-alikes (issue 10, point 6).

The audit registered ``{"name": "nl\\n", "id": "x\\n", "dependencies": ["dep\\n"]}``
(201), then read it back at ``/v1/services/nl%0A``.
"""

from urllib.parse import quote

import pytest

from manifest_node.fsm import commands as C

BAD = ["\n", "\r", "\x00", "\r\n", "\u2028", "\u0430", "\uff11"]  # Cyrillic a, fullwidth 1


def variants(good: str) -> list[str]:
    return [good + b for b in BAD] + [b + good for b in BAD[:3]]


def seed(store):
    store.apply(C.register({"name": "web", "id": "x", "tags": ["blue"], "metadata": {"k": "v"}}))


async def refused(resp, field):
    body = await resp.json()
    assert resp.status == 400, body
    assert body["error"]["field"] == field
    return body["error"]


async def test_the_audits_registration_is_refused(client, store):
    r = await client.post("/v1/services", json={"name": "nl\n", "id": "x\n", "dependencies": ["dep\n"]})
    await refused(r, "name")
    r = await client.post("/v1/services", json={"name": "nl", "id": "x\n", "dependencies": ["dep\n"]})
    await refused(r, "id")
    r = await client.post("/v1/services", json={"name": "nl", "id": "x", "dependencies": ["dep\n"]})
    await refused(r, "dependencies[0]")
    assert store.proposed == [] and store.fsm.revision == 0


@pytest.mark.parametrize("name", variants("web"), ids=ascii)
async def test_service_names_in_paths(client, store, name):
    seed(store)
    seg = quote(name, safe="")
    await refused(await client.get(f"/v1/services/{seg}"), "name")
    await refused(await client.get(f"/v1/services/{seg}/x"), "name")
    await refused(await client.put(f"/v1/services/{seg}/x/heartbeat"), "name")
    await refused(await client.delete(f"/v1/services/{seg}/x"), "name")
    assert store.proposed == []


@pytest.mark.parametrize("iid", variants("x"), ids=ascii)
async def test_instance_ids_in_paths(client, store, iid):
    seed(store)
    seg = quote(iid, safe="")
    await refused(await client.get(f"/v1/services/web/{seg}"), "id")
    await refused(await client.put(f"/v1/services/web/{seg}/heartbeat"), "id")
    await refused(await client.delete(f"/v1/services/web/{seg}"), "id")
    assert store.proposed == []


@pytest.mark.parametrize("bad", BAD[:5], ids=ascii)
async def test_query_parameters(client, store, bad):
    seed(store)
    q = quote(bad, safe="")
    await refused(await client.get(f"/v1/services?depends_on=db{q}"), "depends_on")
    await refused(await client.get(f"/v1/services?tag=blue{q}"), "tag")
    await refused(await client.get(f"/v1/services?version=%3E%3D1{q}"), "version")
    error = await refused(await client.get(f"/v1/services?meta.k{q}=v"), f"meta.k{bad}")
    assert "control" in error["message"]
    await refused(await client.get(f"/v1/watch?name=web{q}"), "name")


async def test_lookalike_query_values_match_nothing_but_are_not_errors(client, store):
    """Free text (tags, metadata) may be any script: a look-alike is just another value."""
    seed(store)
    r = await client.get("/v1/services?tag=blu%D0%B5")  # Cyrillic e
    assert r.status == 200 and (await r.json())["instances"] == []


@pytest.mark.parametrize("bad", BAD, ids=ascii)
async def test_batched_heartbeats(client, store, bad):
    seed(store)
    r = await client.post("/v1/heartbeats", json={"heartbeats": [{"name": "web", "id": "x" + bad}]})
    await refused(r, "heartbeats[0].id")
    r = await client.post("/v1/heartbeats", json={"heartbeats": [{"name": "web" + bad, "id": "x"}]})
    await refused(r, "heartbeats[0].name")
    assert store.proposed == []
