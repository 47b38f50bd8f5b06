"""Consul's agent API on a fake store: tokens as Consul clients send them, and issue 13's features mapped.

Maintenance is our maintenance, ``Weights.Passing`` our weight, HTTP/TCP/gRPC
checks the leader's probes; what has no counterpart is a 4xx naming the field.
The real client against a real cluster is tests/compat/test_consul_client.py.
"""

from __future__ import annotations

import base64

import pytest

from manifest_node.api.app import create_app
from manifest_node.config import NodeConfig
from manifest_node.fsm import commands as C
from manifest_node.fsm.query import get
from tests.support.auth import BOOTSTRAP, add_token, bearer
from tests.support.fake_store import FakeStore


@pytest.fixture
def store():
    return FakeStore(NodeConfig(auth=True, bootstrap_token=BOOTSTRAP, audit=False))


@pytest.fixture
async def client(aiohttp_client, store):
    return await aiohttp_client(create_app(store, store.cfg))


ADMIN = {"X-Consul-Token": BOOTSTRAP}


def record(store, name, iid):
    return store.read(lambda s: get(s, name, iid))


async def test_consul_routes_take_x_consul_token_and_ours_do_not(client, store):
    _, read = add_token(store, "read")
    assert (await client.get("/v1/catalog/services", headers={"X-Consul-Token": read})).status == 200
    assert (await client.get("/v1/catalog/services", headers=bearer(read))).status == 200
    refused = await client.get("/v1/catalog/services")
    assert refused.status == 401 and "X-Consul-Token" in (await refused.json())["error"]["message"]
    bad = await client.get("/v1/catalog/services", headers={"X-Consul-Token": "not-a-token"})
    assert bad.status == 401
    assert (await client.get("/v1/services", headers={"X-Consul-Token": read})).status == 401  # ours: Bearer
    # Eureka's clients carry the token as the password of the server URL: Basic auth.
    basic = {"Authorization": "Basic " + base64.b64encode(f"manifest:{read}".encode()).decode()}
    assert (await client.get("/eureka/apps", headers=basic)).status == 200
    assert (await client.get("/v1/catalog/services", headers=basic)).status == 401


async def test_a_service_token_writes_only_its_services(client, store):
    _, token = add_token(store, "service", ["web*"])
    mine = await client.put("/v1/agent/service/register", json={"Name": "web", "ID": "w1"},
                            headers={"X-Consul-Token": token})
    assert mine.status == 200
    other = await client.put("/v1/agent/service/register", json={"Name": "db", "ID": "d1"},
                             headers={"X-Consul-Token": token})
    body = await other.json()
    assert other.status == 403 and body["error"]["code"] == "out_of_scope" and record(store, "db", "d1") is None
    _, read = add_token(store, "read")
    assert (await client.put("/v1/agent/check/pass/service:w1", headers={"X-Consul-Token": read})).status == 403


async def test_maintenance_is_ours(client, store):
    assert (await client.put("/v1/agent/service/register", json={"Name": "web", "ID": "w1", "Port": 80},
                             headers=ADMIN)).status == 200
    on = await client.put("/v1/agent/service/maintenance/w1?enable=true&reason=kernel+upgrade", headers=ADMIN)
    assert on.status == 200
    assert record(store, "web", "w1")["status"] == "maintenance"
    health = await (await client.get("/v1/health/service/web", headers=ADMIN)).json()
    checks = {c["CheckID"]: c for c in health[0]["Checks"]}
    assert checks["_service_maintenance:w1"]["Status"] == "critical"
    assert checks["_service_maintenance:w1"]["Notes"] == "kernel upgrade"
    assert await (await client.get("/v1/health/service/web?passing", headers=ADMIN)).json() == []
    assert (await client.put("/v1/agent/service/maintenance/w1?enable=false", headers=ADMIN)).status == 200
    assert record(store, "web", "w1")["status"] == "up"
    assert (await client.put("/v1/agent/service/maintenance/w1?enable=false", headers=ADMIN)).status == 200
    bad = await client.put("/v1/agent/service/maintenance/w1?enable=true&reason=" + "x" * 300, headers=ADMIN)
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "reason"
    # Maintenance is an operator's act, as ours is: a service token may not.
    _, token = add_token(store, "service", ["web*"])
    assert (await client.put("/v1/agent/service/maintenance/w1?enable=true",
                             headers={"X-Consul-Token": token})).status == 403


async def test_weights_passing_is_the_instance_weight(client, store):
    body = {"Name": "web", "ID": "w1", "Weights": {"Passing": 5, "Warning": 1}}
    assert (await client.put("/v1/agent/service/register", json=body, headers=ADMIN)).status == 200
    assert record(store, "web", "w1")["weight"] == 5.0
    services = await (await client.get("/v1/agent/services", headers=ADMIN)).json()
    assert services["w1"]["Weights"] == {"Passing": 5, "Warning": 1}
    for weights, field in (({"Passing": 1.5}, "Weights.Passing"), ({"Passing": 5000}, "Weights.Passing"),
                           ({"Warning": -1}, "Weights.Warning"), ({"Heavy": 1}, "Weights.Heavy")):
        r = await client.put("/v1/agent/service/register", json={"Name": "web", "ID": "w2", "Weights": weights},
                             headers=ADMIN)
        assert r.status == 400 and (await r.json())["error"]["field"] == field, weights


async def test_http_tcp_and_grpc_checks_are_the_leaders_probes(client, store):
    body = {"Name": "web", "ID": "w1", "Check": {"HTTP": "http://127.0.0.1:9/health", "Interval": "5s",
                                                 "Timeout": "1s", "FailuresBeforeCritical": 3,
                                                 "DeregisterCriticalServiceAfter": "1m"}}
    assert (await client.put("/v1/agent/service/register", json=body, headers=ADMIN)).status == 200
    rec = record(store, "web", "w1")
    assert rec["check"]["http"] == "http://127.0.0.1:9/health" and rec["ttl"] is None
    assert (rec["check"]["interval"], rec["check"]["timeout"], rec["check"]["failures_before_unhealthy"]) == (
        5.0, 1.0, 3)
    assert rec["status"] == "starting"
    (entry,) = await (await client.get("/v1/health/service/web", headers=ADMIN)).json()
    check = entry["Checks"][0]
    assert (check["Type"], check["Status"], check["Interval"]) == ("http", "critical", "5s")
    tcp = {"Name": "db", "ID": "d1", "Checks": [{"TCP": "127.0.0.1:5432", "Interval": "10s"}]}
    assert (await client.put("/v1/agent/service/register", json=tcp, headers=ADMIN)).status == 200
    assert record(store, "db", "d1")["check"]["tcp"] == "127.0.0.1:5432"
    grpc = {"Name": "rpc", "ID": "r1", "Check": {"GRPC": "127.0.0.1:50051/health", "Interval": "10s"}}
    assert (await client.put("/v1/agent/service/register", json=grpc, headers=ADMIN)).status == 200


@pytest.mark.parametrize("check,field,kind", [
    ({"HTTP": "http://x/h", "Interval": "5s", "Method": "POST"}, "Check.Method", "unsupported"),
    ({"HTTP": "http://x/h", "Interval": "5s", "Header": {"A": ["b"]}}, "Check.Header", "unsupported"),
    ({"GRPC": "x:1", "Interval": "5s", "GRPCUseTLS": True}, "Check.GRPCUseTLS", "unsupported"),
    ({"HTTP": "http://x/h"}, "Check.Interval", "invalid"),
    ({"HTTP": "http://x/h", "Interval": "500ms"}, "Check.Interval", "invalid"),
    ({"HTTP": "ftp://x/h", "Interval": "5s"}, "Check.HTTP", "invalid"),
    ({"TCP": "no-port", "Interval": "5s"}, "Check.TCP", "invalid"),
    ({"HTTP": "http://x/h", "TTL": "10s", "Interval": "5s"}, "Check", "invalid"),
    ({"TTL": "10s", "FailuresBeforeCritical": 2}, "Check.FailuresBeforeCritical", "invalid"),
    ({"Args": ["/bin/true"], "Interval": "5s"}, "Check.Args", "unsupported"),
    ({"H2PING": "x:1", "Interval": "5s"}, "Check.H2PING", "unsupported"),
], ids=lambda v: v if isinstance(v, str) else None)
async def test_what_has_no_counterpart_is_refused_naming_the_field(client, store, check, field, kind):
    r = await client.put("/v1/agent/service/register", json={"Name": "web", "ID": "w1", "Check": check},
                         headers=ADMIN)
    error = (await r.json())["error"]
    assert (r.status, error["field"]) == (400, field), error
    assert (error["code"] == "unsupported") is (kind == "unsupported"), error
    assert record(store, "web", "w1") is None


async def test_new_statuses_read_as_consul_and_eureka_words(client, store):
    store.apply(C.register({"name": "web", "id": "w1", "address": "10.0.0.1", "port": 80, "ttl": 30.0}))
    store.apply(C.drain("web", "w1", {"deadline_ms": None, "by": "operator"}))
    (entry,) = await (await client.get("/v1/health/service/web", headers=ADMIN)).json()
    assert entry["Checks"][0]["Status"] == "critical"
    app = await (await client.get("/eureka/apps/WEB", headers={**bearer(BOOTSTRAP),
                                                               "Accept": "application/json"})).json()
    assert app["application"]["instance"][0]["status"] == "OUT_OF_SERVICE"
