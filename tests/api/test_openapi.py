"""GET /v1/openapi.json describes every public route of the app, and only those (issue 12)."""

import functools

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manifest_node.api.app import create_app
from manifest_node.api.openapi import OPERATIONS, document, openapi_path
from manifest_node.auth.permissions import COMPAT_ROUTES, P, ROUTES
from manifest_node.config import NodeConfig
from tests.support.fake_store import FakeStore


# Consul's and Eureka's APIs, as Manifest emulates them (node/api/compat/), are those projects'
# to describe, not ours: left out of the description on purpose, by their Rule.protocol
# (docs/compat.md says what of them is supported). Prometheus SD is ours and described.
EMULATED = {route for route, rule in ROUTES.items() if rule.protocol is not None}


def app_routes() -> set[tuple[str, str]]:
    app = create_app(FakeStore(), NodeConfig())
    out = set()
    for route in app.router.routes():
        path = route.resource.canonical
        if route.method in ("HEAD", "*") or path.startswith("/v1/internal/") or (route.method, path) in EMULATED:
            continue
        out.add((route.method, openapi_path(path)))
    return out


def test_only_the_emulated_consul_and_eureka_apis_are_left_out():
    assert {rule.protocol for rule in ROUTES.values()} == {None, "consul", "eureka"}
    assert EMULATED <= set(COMPAT_ROUTES)
    assert all(path.startswith(("/v1/agent/", "/v1/catalog/", "/v1/health/", "/v1/status/", "/eureka/"))
               for _, path in EMULATED)
    assert not EMULATED & set(OPERATIONS)
    assert set(COMPAT_ROUTES) - EMULATED == {("GET", "/v1/sd/prometheus")} <= set(OPERATIONS)


def described() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in document()["paths"].items() for method in ops}


def test_every_public_route_is_described_and_nothing_else():
    assert app_routes() - described() == set(), "routes missing from node/api/openapi.py OPERATIONS"
    assert described() - app_routes() == set(), "described operations the app does not serve"


def test_security_follows_the_permission_table():
    for (method, route), rule in ROUTES.items():
        if rule.permission is P.INTERNAL or (method, route) in EMULATED:
            continue
        op = document()["paths"][openapi_path(route)][method.lower()]
        assert op["security"] == ([] if rule.permission is P.PUBLIC else [{"bearer": []}]), (method, route)
        assert {"400", "401", "403", "429", "500", "503"} <= set(op["responses"])


def test_the_document_is_valid_openapi_3_1_and_its_schemas_are_valid_json_schema():
    import schemathesis

    doc = document()
    assert doc["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(doc)  # refuses a document that is not OpenAPI
    for name, schema in doc["components"]["schemas"].items():
        jsonschema_rs.validator_for({**schema, "components": doc["components"]})


@pytest.mark.parametrize("body,ok", [
    ({"name": "web", "id": "w1", "port": 80, "ttl": 5, "tags": ["a"], "metadata": {"k": "v"}}, True),
    ({"name": "web", "id": None, "version": "1.2.3-rc.1"}, True),
    ({"name": "Web"}, False), ({"name": "web", "status": "up"}, False), ({"name": "web", "ttl": 0.5}, False),
    ({"name": "web", "tags": ["a\nb"]}, False), ({"name": "web", "version": "1.x"}, False),
    # issue 13's fields
    ({"name": "web", "dependencies": ["db>=2,<3", "n8n", "orchestrator^1.4"], "weight": 0, "generation": 7,
      "check": {"http": "http://10.0.0.5:8080/health", "interval": 5, "timeout": 1}, "ttl": None}, True),
    ({"name": "web", "check": {"tcp": "[::1]:00080"}}, True), ({"name": "web", "check": {"grpc": "h:1/pkg.S"}}, True),
    ({"name": "web", "check": {"tcp": "h:65536"}}, False), ({"name": "web", "check": {"tcp": "h:0"}}, False),
    ({"name": "web", "check": {"http": "http://x", "tcp": "h:1"}}, False), ({"name": "web", "check": {}}, False),
    ({"name": "web", "check": {"http": "ftp://x"}}, False), ({"name": "web", "check": {"http": "http://x", "x": 1}}, False),
    ({"name": "web", "dependencies": ["db>>2"]}, False), ({"name": "web", "dependencies": ["db >=2"]}, False),
    ({"name": "web", "weight": 1001}, False), ({"name": "web", "generation": 0}, False),
    ({"name": "web", "load": 0.5}, False), ({"name": "web", "removed": {}}, False),
])
def test_the_registration_schema_agrees_with_the_nodes_validation(body, ok):
    assert schema_accepts(body) is ok
    assert node_accepts(body) is ok


@functools.cache
def _registration_validator():
    doc = document()
    return jsonschema_rs.validator_for({**doc["components"]["schemas"]["Registration"],
                                        "components": doc["components"]})


def schema_accepts(body) -> bool:
    return _registration_validator().is_valid(body)


def node_accepts(body) -> bool:
    from manifest_node.fsm.validation import ValidationError, validate_registration

    try:
        validate_registration(body)
    except ValidationError:
        return False
    return True


# Each field's values, good and bad. Left out on purpose, as the schemas' docstring says
# JSON Schema cannot tell them: integers written as 80.0, a check's timeout above its
# interval or failures_before_down below failures_before_unhealthy, and length limits of
# dependency ranges.
_VALUES = {
    "id": [None, "w1", "a:b.c-D_9", "", "w 1", "x" * 129, 3],
    "version": [None, "1.2.3", "v1", "1.2.3-rc.1+b.5", "1.x", "01.2", "", 1],
    "address": [None, "10.0.0.5", "", "a\x00b", "x" * 256, 7],
    "port": [None, 0, 65535, 65536, -1, "80", 1.5, True],
    "interfaces": [{}, {"http": "http://x"}, {"bad name": "x"}, {"h": 1}, {"h": "a\nb"}, []],
    "tags": [[], ["a"], [""], ["a\tb"], ["x" * 129], "a", [1]],
    "metadata": [{}, {"k": "v"}, {"": "v"}, {"k": 1}, {"k": "x" * 1025}, []],
    "dependencies": [[], ["n8n"], ["n8n>=1.2"], ["orch^1.4", "db>=2, <3"], ["db~1.2.3-rc"], ["db!=2,=3"],
                     ["N8N"], ["n8n>>1"], ["n8n>=1.x"], ["n8n >=1"], ["n8n>="], [1], "n8n"],
    "ttl": [None, 1, 86400, 0.5, 86401, "30", 30.5],
    "weight": [0, 1000, 1.5, -1, 1001, "1", None],
    "generation": [None, 1, 2**62 - 1, 2**62, 0, -1, "1", True],
    "status": ["up"], "nope": [1],
}
_TARGETS = [("http", "http://10.0.0.5:8080/h"), ("http", "https://x"), ("http", "ftp://x"), ("http", "http://a b"),
            ("tcp", "h:80"), ("tcp", "[::1]:5432"), ("tcp", "h:0"), ("tcp", "h:65536"), ("tcp", "h:00080"),
            ("tcp", "h"), ("grpc", "h:50051"), ("grpc", "h:50051/pkg.Svc"), ("grpc", "h:1/a/b"), ("tcp", 80)]
_CHECK_EXTRAS = {"interval": [1, 10, 3600, 0.5, 3601, "5"], "timeout": [0.1, 0.5, 1, 0.05, "1"],
                 "success_before_up": [1, 100, 0, 101], "failures_before_unhealthy": [1, 2, 0],
                 "failures_before_down": [3, 1000, 1001], "x": [1]}


@st.composite
def checks(draw):
    kinds = draw(st.lists(st.sampled_from(_TARGETS), max_size=2, unique_by=lambda t: t[0]))
    check = dict(kinds)
    for key in draw(st.sets(st.sampled_from(sorted(_CHECK_EXTRAS)))):
        check[key] = draw(st.sampled_from(_CHECK_EXTRAS[key]))
    return draw(st.sampled_from([check, check, check, None, "http://x"]))


@st.composite
def registrations(draw):
    body = {"name": draw(st.sampled_from(["web", "a.b-c_d", "web", "Web", "", "x" * 64, 5]))}
    for key in draw(st.sets(st.sampled_from(sorted(_VALUES)), max_size=5)):
        body[key] = draw(st.sampled_from(_VALUES[key]))
    if draw(st.booleans()):
        body["check"] = draw(checks())
    return body


@settings(max_examples=400, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(registrations())
def test_the_registration_schema_and_the_node_agree_on_generated_registrations(body):
    assert schema_accepts(body) is node_accepts(body), body


async def test_the_description_is_served_without_a_token(aiohttp_client):
    store = FakeStore(NodeConfig(auth=True))
    client = await aiohttp_client(create_app(store, store.cfg))
    r = await client.get("/v1/openapi.json")
    assert r.status == 200 and (await r.json())["info"]["title"] == "Manifest"
