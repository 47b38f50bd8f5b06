"""Issue 13's endpoints and fields through the API on a fake store: happy paths and 4xx naming the field."""

import pytest

from manifest_node.fsm import commands as C


async def reg(client, body, query=""):
    return await client.post("/v1/services" + query, json=body)


async def test_unmet_dependencies_warn_and_strict_refuses_naming_each(client, store):
    r = await reg(client, {"name": "web", "id": "w1", "dependencies": ["db>=2", "cache"]})
    body = await r.json()
    assert r.status == 201 and len(body["warnings"]) == 2 and "db>=2" in body["warnings"][0]
    r = await reg(client, {"name": "web", "id": "w2", "dependencies": ["db>=2", "cache"]}, "?strict=true")
    err = (await r.json())["error"]
    assert r.status == 409 and err["code"] == "unmet_dependency" and err["field"] == "dependencies"
    assert "db>=2" in err["message"] and "cache" in err["message"]
    assert ("web", "w2") not in store.fsm.instances
    await reg(client, {"name": "db", "id": "d1", "version": "2.1.0"})
    await reg(client, {"name": "cache", "id": "c1"})
    r = await reg(client, {"name": "web", "id": "w2", "dependencies": ["db>=2", "cache"]}, "?strict=true")
    assert r.status == 201 and "warnings" not in await r.json()


@pytest.mark.parametrize("query,field", [("?strict=maybe", "strict"), ("?bogus=1", "bogus")])
async def test_register_query_is_validated(client, store, query, field):
    r = await reg(client, {"name": "web"}, query)
    assert r.status == 400 and (await r.json())["error"]["field"] == field and store.fsm.revision == 0


@pytest.mark.parametrize("body,field", [
    ({"name": "w", "dependencies": ["db>=x"]}, "dependencies[0]"),
    ({"name": "w", "weight": -1}, "weight"),
    ({"name": "w", "weight": True}, "weight"),
    ({"name": "w", "check": {"http": "ftp://x"}}, "check.http"),
    ({"name": "w", "check": {"tcp": "h:0"}}, "check.tcp"),
    ({"name": "w", "check": {"grpc": "h:50051/a b"}}, "check.grpc"),
    ({"name": "w", "check": {"http": "http://x", "tcp": "h:1"}}, "check"),
    ({"name": "w", "check": {"http": "http://x", "interval": 0}}, "check.interval"),
    ({"name": "w", "check": {"http": "http://x", "interval": 1, "timeout": 2}}, "check.timeout"),
    ({"name": "w", "check": {"http": "http://x", "failures_before_down": 0}}, "check.failures_before_down"),
    ({"name": "w", "check": {"http": "http://x", "nope": 1}}, "check.nope"),
    ({"name": "w", "generation": 0}, "generation"),
    ({"name": "w", "load": 0.5}, "load"),
])
async def test_new_registration_fields_are_validated(client, store, body, field):
    r = await reg(client, body)
    assert r.status == 400 and (await r.json())["error"]["field"] == field and store.fsm.revision == 0


async def test_a_check_without_ttl_starts_and_keeps_no_ttl(client):
    r = await reg(client, {"name": "web", "id": "w1", "check": {"tcp": "127.0.0.1:9"}})
    rec = await r.json()
    assert rec["status"] == "starting" and rec["ttl"] is None and rec["check"]["interval"] == 10


async def test_generations_fence_heartbeats_and_deletes(client, store):
    old = (await (await reg(client, {"name": "web", "id": "w1"})).json())["generation"]
    new = (await (await reg(client, {"name": "web", "id": "w1"})).json())["generation"]
    assert new > old
    r = await client.put(f"/v1/services/web/w1/heartbeat?generation={old}")
    assert r.status == 409 and (await r.json())["error"]["code"] == "stale_generation"
    r = await client.delete("/v1/services/web/w1", json={"generation": old})
    assert r.status == 409 and ("web", "w1") in store.fsm.instances
    r = await client.put("/v1/services/web/w1/heartbeat", json={"generation": new})
    assert r.status == 200
    r = await client.delete(f"/v1/services/web/w1?generation={new}")
    assert r.status == 200
    r = await client.get("/v1/services/web?include=removed")
    stones = (await r.json())["instances"]
    assert [s["removed"]["reason"] for s in stones] == ["fenced", "deregistered"]


@pytest.mark.parametrize("query,body,field", [
    ("?generation=x", None, "generation"), ("", {"generation": "1"}, "generation"),
    ("?generation=2", {"generation": 3}, "generation"), ("", {"load": 2}, "load"),
    ("", {"load": "0.5"}, "load"), ("", {"metadata": {"k": 1}}, "metadata.k"),
    ("", {"metadata": {str(i): "v" for i in range(17)}}, "metadata"), ("?x=1", None, "x"),
])
async def test_heartbeat_extras_are_validated(client, store, query, body, field):
    await reg(client, {"name": "web", "id": "w1"})
    before = store.fsm.digest_view()
    r = await client.put("/v1/services/web/w1/heartbeat" + query, json=body)
    assert r.status == 400 and (await r.json())["error"]["field"] == field
    assert store.fsm.digest_view() == before


async def test_heartbeat_load_and_metadata_patch(client, store):
    await reg(client, {"name": "web", "id": "w1", "metadata": {"a": "1", "b": "2"}})
    r = await client.put("/v1/services/web/w1/heartbeat", json={"load": 0.4, "metadata": {"a": None, "c": "3"}})
    rec = await r.json()
    assert rec["load"] == 0.4 and rec["metadata"] == {"b": "2", "c": "3"}


async def test_pick_honours_filters_and_says_no_instance(client, store):
    for i, (tag, load) in enumerate([("blue", 0.9), ("blue", 0.2), ("green", 0.1)]):
        await reg(client, {"name": "web", "id": f"w{i}", "tags": [tag]})
        await client.put(f"/v1/services/web/w{i}/heartbeat", json={"load": load})
    r = await client.get("/v1/services/web?pick=least_loaded&tag=blue")
    assert r.status == 200 and (await r.json())["id"] == "w1"
    r = await client.get("/v1/services/web?pick=round_robin")
    ids = [(await (await client.get("/v1/services/web?pick=round_robin")).json())["id"] for _ in range(3)]
    assert sorted(ids) == ["w0", "w1", "w2"]
    await client.put("/v1/services/web/w1/drain", json={})
    r = await client.get("/v1/services/web?pick=least_loaded&tag=blue")
    assert (await r.json())["id"] == "w0"
    r = await client.get("/v1/services/web?pick=random&tag=red")
    assert r.status == 404 and (await r.json())["error"]["code"] == "no_instance"
    r = await client.get("/v1/services/web?pick=fastest")
    assert r.status == 400 and (await r.json())["error"]["field"] == "pick"
    r = await client.get("/v1/services/nothing?pick=random")
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    r = await client.get("/v1/services?pick=random")  # the full list picks nothing: said, not ignored
    assert r.status == 400 and (await r.json())["error"]["field"] == "pick"


async def test_weight_zero_is_never_picked(client):
    await reg(client, {"name": "web", "id": "a", "weight": 0})
    await reg(client, {"name": "web", "id": "b", "weight": 5})
    for _ in range(20):
        assert (await (await client.get("/v1/services/web?pick=weighted")).json())["id"] == "b"


async def test_batch_is_all_or_nothing_naming_the_item(client, store):
    good = [{"name": "web", "id": f"w{i}"} for i in range(3)]
    r = await client.post("/v1/services/batch", json={"instances": good + [{"name": "web", "port": "x"}]})
    err = (await r.json())["error"]
    assert r.status == 400 and err["field"] == "instances[3].port" and store.fsm.revision == 0
    r = await client.post("/v1/services/batch", json={"instances": good})
    body = await r.json()
    assert r.status == 201 and [i["id"] for i in body["instances"]] == ["w0", "w1", "w2"]
    assert len(store.proposed) == 1 and store.proposed[0][0] == C.BATCH and store.fsm.revision == 3
    r = await client.post("/v1/services/batch", json={"instances": good + [good[0]]})
    assert r.status == 400 and (await r.json())["error"]["field"] == "instances[3]"
    r = await client.post("/v1/services/batch", json={"instances": []})
    assert r.status == 400 and (await r.json())["error"]["field"] == "instances"
    r = await client.post("/v1/services/batch", json={"instances": [{"name": "a", "dependencies": ["zz"]}]},
                          params={"strict": "true"})
    assert r.status == 409 and (await r.json())["error"]["field"] == "instances[0].dependencies"


async def test_drain_and_maintenance_endpoints(client, store):
    await reg(client, {"name": "web", "id": "w1"})
    r = await client.put("/v1/services/web/w1/drain", json={"deadline": 30})
    rec = await r.json()
    assert rec["status"] == "draining" and rec["drain"]["by"] == "operator" and rec["drain"]["deadline"]
    r = await client.delete("/v1/services/web/w1/drain")
    assert (await r.json())["status"] == "up"
    r = await client.put("/v1/services/web/w1/maintenance", json={"reason": "kernel upgrade"})
    rec = await r.json()
    assert rec["status"] == "maintenance" and rec["maintenance"]["reason"] == "kernel upgrade"
    r = await client.delete("/v1/services/web/w1/maintenance")
    assert (await r.json())["status"] == "up"
    for path, body, field in [("drain", {"deadline": -1}, "deadline"), ("drain", {"x": 1}, "x"),
                              ("maintenance", {"reason": "a\nb"}, "reason")]:
        r = await client.put(f"/v1/services/web/w1/{path}", json=body)
        assert r.status == 400 and (await r.json())["error"]["field"] == field
    r = await client.put("/v1/services/web/nope/drain", json={})
    assert r.status == 404


async def test_graph_and_impact(client):
    await reg(client, {"name": "db", "id": "d1", "version": "2.0.0"})
    await reg(client, {"name": "api", "id": "a1", "dependencies": ["db^2"]})
    await reg(client, {"name": "web", "id": "w1", "dependencies": ["api", "ghost"]})
    await reg(client, {"name": "db", "id": "d2"})  # versions with and without a version
    g = await (await client.get("/v1/graph")).json()
    edges = {(e["from"], e["to"]): e["satisfied"] for e in g["edges"]}
    assert edges == {("api", "db"): True, ("web", "api"): True, ("web", "ghost"): False}
    assert {n["name"] for n in g["nodes"]} == {"db", "api", "web", "ghost"}
    imp = await (await client.get("/v1/graph/impact/db")).json()
    assert [(i["name"], i["depth"]) for i in imp["impacted"]] == [("api", 1), ("web", 2)]
    r = await client.get("/v1/graph/impact/Bad")
    assert r.status == 400 and (await r.json())["error"]["field"] == "name"
    r = await client.get("/v1/graph?id=x")
    assert r.status == 400


async def test_include_removed_rejects_pagination_and_bad_values(client):
    await reg(client, {"name": "web", "id": "w1"})
    for q, field in [("include=gone", "include"), ("include=removed&limit=5", "include")]:
        r = await client.get("/v1/services/web?" + q)
        assert r.status == 400 and (await r.json())["error"]["field"] == field


async def test_cluster_lists_protected_services(client):
    body = await (await client.get("/v1/cluster")).json()
    assert body["protected"] == []
