"""GraphQL queries answer what the REST reads answer: the same filters, graph, impact and cluster.

Each case asks both APIs of one fake store and compares, so a filter that
GraphQL parsed differently from ``GET /v1/services`` would show here.
"""

import pytest

from manifest_node.fsm import commands as C

INSTANCES = [
    {"name": "web", "id": "w1", "version": "1.4.2", "tags": ["blue", "eu"], "metadata": {"region": "eu"},
     "dependencies": ["db>=2"]},
    {"name": "web", "id": "w2", "version": "2.0.0", "tags": ["green"], "metadata": {"region": "us"},
     "dependencies": ["db"]},
    {"name": "db", "id": "d1", "version": "2.1.0", "tags": ["blue"]},
    {"name": "api", "id": "a1", "version": "1.0.0", "dependencies": ["web", "cache"]},
]


@pytest.fixture
def seeded(store):
    for record in INSTANCES:
        store.apply(C.register(record))
    store.apply(C.heartbeat("web", "w2", "unhealthy", {}))
    return store


async def gq(client, query: str, variables: dict | None = None, status: int = 200) -> dict:
    resp = await client.post("/v1/graphql", json={"query": query, "variables": variables})
    body = await resp.json()
    assert resp.status == status, body
    return body


# (REST query string, GraphQL arguments)
FILTERS = [
    ("", ""),
    ("tag=blue", 'tag: ["blue"]'),
    ("tag=blue&tag=eu", 'tag: ["blue", "eu"]'),
    ("status=up", "status: [UP]"),
    ("status=unhealthy&status=down", "status: [UNHEALTHY, DOWN]"),
    ("version=>=2", 'version: ">=2"'),
    ("meta.region=eu", 'meta: [{key: "region", value: "eu"}]'),
    ("depends_on=db", 'dependsOn: "db"'),
    ("limit=2", "limit: 2"),
    ("tag=blue&version=<2", 'tag: ["blue"], version: "<2"'),
]


@pytest.mark.parametrize("rest,args", FILTERS, ids=[f[0] or "all" for f in FILTERS])
async def test_instances_filter_as_get_v1_services_does(client, seeded, rest, args):
    expected = await (await client.get(f"/v1/services?{rest}")).json()
    call = f"({args})" if args else ""
    got = (await gq(client, f"{{ instances{call} {{ revision nextCursor instances {{ name id record }} }} }}"))
    page = got["data"]["instances"]
    assert [(i["name"], i["id"]) for i in page["instances"]] == [(i["name"], i["id"]) for i in expected["instances"]]
    assert [i["record"] for i in page["instances"]] == expected["instances"]
    assert page["revision"] == expected["revision"]
    assert page["nextCursor"] == expected.get("next_cursor")


async def test_paging_with_cursor_walks_every_instance_once(client, seeded):
    seen, cursor = [], None
    while True:
        query = "query($c: String) { instances(limit: 1, cursor: $c) { nextCursor instances { id } } }"
        page = (await gq(client, query, {"c": cursor}))["data"]["instances"]
        seen += [i["id"] for i in page["instances"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(r["id"] for r in INSTANCES)


async def test_one_service_and_one_instance(client, seeded):
    data = (await gq(client, """{ instances(name: "web") { instances { id status tags version meta(key: "region") } }
        instance(name: "web", id: "w2") { id status registeredAt metadata { key value } }
        missing: instance(name: "web", id: "nope") { id } }"""))["data"]
    assert [i["id"] for i in data["instances"]["instances"]] == ["w1", "w2"]
    assert data["instances"]["instances"][0] == {"id": "w1", "status": "UP", "tags": ["blue", "eu"],
                                                 "version": "1.4.2", "meta": "eu"}
    assert data["instance"]["status"] == "UNHEALTHY"
    assert data["instance"]["metadata"] == [{"key": "region", "value": "us"}]
    assert data["missing"] is None


async def test_graph_and_impact_are_those_of_the_rest_routes(client, seeded):
    graph = await (await client.get("/v1/graph")).json()
    impact = await (await client.get("/v1/graph/impact/db?id=d1")).json()
    data = (await gq(client, """{ graph { revision cycles nodes { name registered unmet counts { status count } }
        edges { from to declared range satisfied instances } }
        impact(name: "db", id: "d1") { service id revision impacted { name depth via hasOtherProvider } } }"""))["data"]
    assert data["graph"]["revision"] == graph["revision"]
    assert [n["name"] for n in data["graph"]["nodes"]] == [n["name"] for n in graph["nodes"]]
    assert [n["unmet"] for n in data["graph"]["nodes"]] == [n["unmet"] for n in graph["nodes"]]
    assert data["graph"]["edges"] == [{k: e[k] for k in ("from", "to", "declared", "range", "satisfied",
                                                         "instances")} for e in graph["edges"]]
    assert [{"name": i["name"], "depth": i["depth"], "via": i["via"], "hasOtherProvider": i["has_other_provider"]}
            for i in impact["impacted"]] == data["impact"]["impacted"]
    assert {i["name"] for i in data["impact"]["impacted"]} == {"web", "api"}


async def test_a_query_walks_from_a_service_to_its_dependencies_and_dependents(client, seeded):
    data = (await gq(client, """{ service(name: "web") { name counts { status count }
        dependencies { to satisfied target { name instances { instances { id } } } }
        dependents { name impact { impacted { name } } } }
        nobody: service(name: "cache") { name } services { name } }"""))["data"]
    web = data["service"]
    assert web["counts"] == [{"status": "UNHEALTHY", "count": 1}, {"status": "UP", "count": 1}]
    assert {(d["to"], d["satisfied"]) for d in web["dependencies"]} == {("db", True)}
    assert all(d["target"]["instances"]["instances"] == [{"id": "d1"}] for d in web["dependencies"])
    assert web["dependents"] == [{"name": "api", "impact": {"impacted": []}}]
    assert data["nobody"] is None  # a dependency nobody registered is no service
    assert [s["name"] for s in data["services"]] == ["api", "db", "web"]


async def test_cluster_is_get_v1_cluster(client, seeded):
    cluster = await (await client.get("/v1/cluster")).json()
    data = (await gq(client, "{ cluster { id leader term revision appliedIndex region regions "
                             "members { id api role self } } }"))
    got = data["data"]["cluster"]
    assert (got["id"], got["leader"], got["term"], got["revision"], got["appliedIndex"], got["region"]) == (
        cluster["id"], cluster["leader"], cluster["term"], cluster["revision"], cluster["applied_index"],
        cluster["region"])
    assert got["regions"] == cluster.get("regions")  # null: this node federates with nobody
    assert got["members"] == [{k: m[k] for k in ("id", "api", "role", "self")} for m in cluster["members"]]


async def test_linearizable_reads_wait_for_the_read_index_as_rest_does(client, seeded):
    seeded.syncs.clear()
    await gq(client, "{ instances(consistency: LINEARIZABLE) { revision } graph { revision } }")
    assert seeded.syncs == [True, False]


@pytest.mark.parametrize("args,field", [('version: "bogus"', "version"), ("limit: 0", "limit"),
                                        ('dependsOn: "Not A Name"', "dependsOn"), ('cursor: "%%"', "cursor"),
                                        ('meta: [{key: "", value: "x"}]', "meta"), ('name: "UPPER"', "name"),
                                        ("includeRemoved: true, limit: 5", "includeRemoved")])
async def test_a_bad_filter_is_a_field_error_naming_the_argument(client, seeded, args, field):
    body = await gq(client, f"{{ instances({args}) {{ revision }} cluster {{ id }} }}")
    (error,) = body["errors"]
    assert error["path"] == ["instances"] and error["extensions"]["field"] == field
    assert error["extensions"]["status"] == 400
    assert body["data"] == {"instances": None, "cluster": {"id": "n1"}}  # the other root fields are answered


async def test_get_runs_queries_from_the_query_string(client, seeded):
    resp = await client.get("/v1/graphql", params={"query": "query($n: String) { instances(name: $n) { revision } }",
                                                   "variables": '{"n": "db"}'})
    assert resp.status == 200 and (await resp.json())["data"]["instances"]["revision"] == seeded.fsm.revision
    assert resp.headers["X-Manifest-Index"] == str(seeded.fsm.revision)


async def test_the_answer_is_graphql_response_json_when_the_client_accepts_it(client, seeded):
    resp = await client.post("/v1/graphql", json={"query": "{ cluster { id } }"},
                             headers={"Accept": "application/graphql-response+json, application/json"})
    assert resp.headers["Content-Type"] == "application/graphql-response+json"
    resp = await client.post("/v1/graphql", json={"query": "{ cluster { id } }"})
    assert resp.headers["Content-Type"] == "application/json"


async def test_a_resolver_bug_is_masked_for_the_client_and_logged_with_its_traceback(client, seeded, monkeypatch,
                                                                                    caplog):
    from manifest_node.api.graphql import resolvers

    def broken(ctx):
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(resolvers, "cluster", broken)
    body = await gq(client, "{ cluster { id } instances { revision } }")
    (error,) = body["errors"]
    assert error["path"] == ["cluster"] and error["extensions"] == {"code": "internal", "status": 500}
    assert "secret" not in error["message"]
    assert body["data"]["instances"]["revision"] == seeded.fsm.revision
    assert any("secret detail of a bug" in (r.exc_text or "") or r.exc_info for r in caplog.records
               if r.name == "manifest.api.graphql")


async def test_a_bug_in_measuring_a_query_is_a_500_not_the_clients_mistake(client, seeded, monkeypatch):
    from manifest_node.api.graphql import limits

    def broken(self, *args):
        raise RuntimeError("bug")

    monkeypatch.setattr(limits._Measurer, "selections", broken)
    resp = await client.post("/v1/graphql", json={"query": "{ cluster { term } }  # not cached"})
    assert resp.status == 500
    assert (await resp.json())["error"]["code"] == "internal"
