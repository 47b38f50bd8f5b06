"""What one GraphQL request may ask of a node, and what a malformed one gets: never a 5xx.

Refused queries are GraphQL request errors: 400, ``errors`` without
``data``, ``extensions.limit`` naming the setting. Requests that are not
GraphQL requests at all get our error shape naming the field.
"""

import json

import pytest
from graphql import get_introspection_query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manifest_node.api.app import create_app
from manifest_node.config import ConfigError, NodeConfig
from tests.support.fake_store import FakeStore


def _nested(levels: int) -> str:
    """services { dependents { ... { name } } }: ``levels`` fields deep."""
    inner = "name"
    for _ in range(levels - 1):
        inner = f"dependents {{ {inner} }}"
    return f"{{ services {{ {inner} }} }}"


async def refused(client, query: str, limit: str, code: str) -> str:
    resp = await client.post("/v1/graphql", json={"query": query})
    body = await resp.json()
    assert resp.status == 400, body
    assert "data" not in body
    (error,) = [e for e in body["errors"] if e["extensions"].get("limit") == limit]
    assert error["extensions"]["code"] == code and error["extensions"]["field"] == "query"
    return error["message"]


async def answered(client, query: str) -> dict:
    resp = await client.post("/v1/graphql", json={"query": query})
    body = await resp.json()
    assert resp.status == 200 and "errors" not in body, body
    return body["data"]


async def test_depth_is_limited_and_the_message_names_the_setting(aiohttp_client):
    store = FakeStore(NodeConfig(graphql_max_cost=10**30))  # lists nested 9 deep cost 100^9: depth alone here
    client = await aiohttp_client(create_app(store, store.cfg))
    await answered(client, _nested(9))  # services + 9 levels = 10
    message = await refused(client, _nested(10), "graphql_max_depth", "max_depth")
    assert "11 deep" in message and "graphql_max_depth" in message


async def test_cost_counts_lists_by_their_limit(client):
    # instances + page list x (name + metadata + 10 x (key + value)): 1 + 1 + 1000 x 22 is within
    # 25000; with limit 10000, 220002 is not.
    await answered(client, "{ instances(limit: 1000) { instances { name metadata { key value } } } }")
    message = await refused(client, "{ instances(limit: 10000) { instances { name metadata { key value } } } }",
                            "graphql_max_cost", "max_cost")
    assert "220002" in message
    # Unbounded lists count as 100 each: services x dependents x dependents x 11 fields.
    await refused(client, "{ services { dependents { dependents { name unmet registered protected "
                          "counts { status count } versions { version count } } } } }",
                  "graphql_max_cost", "max_cost")


async def test_a_fragment_spread_many_times_is_measured_once_per_spread_not_expanded(client):
    # Each level spreads the one below twice: 2^12 paths if expanded, 24 spreads measured.
    fragments = ["fragment F0 on Cluster { id }"]
    fragments += [f"fragment F{i} on Cluster {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 13)]
    data = await answered(client, "{ cluster { ...F12 } } " + " ".join(fragments))
    assert data["cluster"]["id"] == "n1"


async def test_aliases_are_limited(client):
    await answered(client, "{ " + " ".join(f"a{i}: cluster {{ id }}" for i in range(30)) + " }")
    await refused(client, "{ " + " ".join(f"a{i}: cluster {{ id }}" for i in range(31)) + " }",
                  "graphql_max_aliases", "max_aliases")


async def test_the_query_text_is_limited_before_it_is_parsed(aiohttp_client):
    store = FakeStore(NodeConfig())  # max_body 64 KiB: the query's own limit is the one reached
    client = await aiohttp_client(create_app(store, store.cfg))
    padding = " " * 16_400
    message = await refused(client, "{ cluster { id } }" + padding, "graphql_max_query_bytes", "max_query_bytes")
    assert "16384" in message


async def test_the_standard_introspection_query_is_allowed_but_introspection_cannot_multiply(client):
    data = await answered(client, get_introspection_query(descriptions=True))
    assert data["__schema"]["queryType"]["name"] == "Query"
    await refused(client, "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
                  "introspection", "max_depth")


async def test_the_limits_are_settings(aiohttp_client):
    store = FakeStore(NodeConfig(graphql_max_depth=2, graphql_max_cost=5, graphql_max_aliases=0))
    client = await aiohttp_client(create_app(store, store.cfg))
    await answered(client, "{ cluster { id } }")
    await refused(client, "{ cluster { members { id } } }", "graphql_max_depth", "max_depth")
    await refused(client, "{ a: cluster { id } }", "graphql_max_aliases", "max_aliases")
    await refused(client, "{ cluster { id term revision leader appliedIndex } }", "graphql_max_cost", "max_cost")
    for field in ("graphql_max_depth", "graphql_max_cost", "graphql_max_query_bytes"):
        with pytest.raises(ConfigError, match=field):
            NodeConfig(insecure=True, **{field: 0}).validate()


# ---- malformed requests ---------------------------------------------------------------------
MALFORMED = [  # (body bytes, content type, status, field)
    (b"", "application/json", 400, "body"),
    (b"{nope", "application/json", 400, "body"),
    (b"[]", "application/json", 400, "body"),
    (b'[{"query": "{ cluster { id } }"}]', "application/json", 400, "body"),  # no batching
    (b'"{ cluster { id } }"', "application/json", 400, "body"),
    (b'{"query": 5}', "application/json", 400, "query"),
    (b'{"query": null}', "application/json", 400, "query"),
    (b'{}', "application/json", 400, "query"),
    (b'{"query": "{ cluster { id } }", "variables": "x"}', "application/json", 400, "variables"),
    (b'{"query": "{ cluster { id } }", "operationName": 1}', "application/json", 400, "operationName"),
    (b'{"query": "{ cluster { id } }", "extensions": []}', "application/json", 400, "extensions"),
    (b'{"query": "{ cluster { id } }", "other": 1}', "application/json", 400, "other"),
    (b"query { cluster { id } }", "application/graphql", 415, "Content-Type"),
]


@pytest.mark.parametrize("body,ctype,status,field", MALFORMED, ids=[m[0][:30].decode() or "empty" for m in MALFORMED])
async def test_a_request_that_is_not_a_graphql_request_is_a_4xx_naming_the_field(client, body, ctype, status,
                                                                                  field):
    resp = await client.post("/v1/graphql", data=body, headers={"Content-Type": ctype})
    assert resp.status == status
    assert (await resp.json())["error"]["field"] == field


GRAPHQL_ERRORS = [  # request errors: syntax, validation, operation selection, variables
    "{",
    "{a" * 1900,  # nesting deeper than the parser recurses
    "{ nothing }",
    "{ cluster }",
    "subscription { changes { revision } }",
    "query A { cluster { id } } query B { cluster { id } }  # operationName C",
    "query($l: Int) { instances(limit: $l) { revision } }  # and variables that do not fit",
    "",
]


@pytest.mark.parametrize("query", GRAPHQL_ERRORS, ids=range(len(GRAPHQL_ERRORS)))
async def test_a_bad_graphql_request_is_a_400_with_errors_and_no_data(client, query):
    variables = {"l": "ten"} if "$l" in query else None
    name = "C" if "operationName C" in query else None
    resp = await client.post("/v1/graphql", json={"query": query, "variables": variables, "operationName": name})
    body = await resp.json()
    assert resp.status == 400, body
    errors = body.get("errors") or [body["error"]]
    assert "data" not in body and errors and all(e.get("message") for e in errors)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                     lambda inner: (st.lists(inner, max_size=4)
                                    | st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                     max_leaves=12)
_TOKENS = [*"{}()[]:$@!.,=\"'# \n", "query", "subscription", "fragment", "on", "cluster", "id", "instances",
           "limit", "...", "__schema", "types", "fields", "services", "name", "dependents", "1", "-1", "true",
           "null", "a:", "$v", "Int"]
_QUERY_TEXT = st.lists(st.sampled_from(_TOKENS), max_size=60).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.binary(max_size=200),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"query": _QUERY_TEXT}, optional={"variables": _JSON, "operationName": _JSON,
                                                            "extensions": _JSON}).map(lambda v: json.dumps(v).encode()),
))
async def test_no_body_makes_a_5xx(client, body):
    resp = await client.post("/v1/graphql", data=body, headers={"Content-Type": "application/json"})
    assert resp.status < 500, (body, await resp.text())
    assert isinstance(await resp.json(), dict)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.sampled_from(["query", "variables", "operationName", "extensions", "other"]),
                              st.one_of(_QUERY_TEXT, _JSON.map(json.dumps), st.text(max_size=30)), max_size=4))
async def test_no_query_string_makes_a_5xx(client, params):
    resp = await client.get("/v1/graphql", params=params)
    assert resp.status < 500, (params, await resp.text())
    assert isinstance(await resp.json(), dict)
