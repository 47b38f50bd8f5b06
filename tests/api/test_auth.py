"""Tokens on one node (fake store): scopes, owners, revocation, rotation, expiry, credentials, metrics."""

import base64

import pytest

from manifest_node.api.app import create_app
from manifest_node.auth.tokens import Verifier, credentials, mint
from manifest_node.config import NodeConfig
from tests.support.auth import BOOTSTRAP, add_token, bearer
from tests.support.fake_store import FakeStore

ADMIN = bearer(BOOTSTRAP)


@pytest.fixture
def store():
    return FakeStore(NodeConfig(auth=True, bootstrap_token=BOOTSTRAP, audit=False))


@pytest.fixture
async def client(aiohttp_client, store):
    return await aiohttp_client(create_app(store, store.cfg))


async def test_a_service_token_writes_only_its_services_and_instances(client, store):
    _, orders_a = add_token(store, "service", ["orders*"])
    _, orders_b = add_token(store, "service", ["orders*"])
    _, takeover = add_token(store, "service", ["orders*"], any_owner=True)
    r = await client.post("/v1/services", json={"name": "billing", "id": "b1"}, headers=bearer(orders_a))
    assert r.status == 403 and (await r.json())["error"] == {
        "code": "out_of_scope", "message": "this token may not act for service 'billing'", "field": "name"}
    assert (await client.post("/v1/services", json={"name": "orders-eu", "id": "o1"},
                              headers=bearer(orders_a))).status == 201
    revision = store.fsm.revision
    for method, path in [("PUT", "/v1/services/orders-eu/o1/heartbeat"), ("DELETE", "/v1/services/orders-eu/o1")]:
        r = await client.request(method, path, headers=bearer(orders_b))
        assert r.status == 403 and (await r.json())["error"]["code"] == "not_owner"
    r = await client.post("/v1/services", json={"name": "orders-eu", "id": "o1"}, headers=bearer(orders_b))
    assert r.status == 403 and store.fsm.revision == revision
    assert (await client.put("/v1/services/orders-eu/o1/heartbeat", headers=bearer(orders_a))).status == 200
    assert (await client.delete("/v1/services/orders-eu/o1", headers=bearer(takeover))).status == 200


async def test_a_batch_with_one_heartbeat_out_of_scope_is_refused_whole(client, store):
    _, token = add_token(store, "service", ["web"])
    body = {"heartbeats": [{"name": "web", "id": "w1"}, {"name": "db", "id": "d1"}]}
    r = await client.post("/v1/heartbeats", json=body, headers=bearer(token))
    assert r.status == 403 and store.proposed == []


async def test_an_operator_deregisters_any_instance_but_registers_none(client, store):
    _, service = add_token(store, "service", ["web"])
    _, operator = add_token(store, "operator")
    await client.post("/v1/services", json={"name": "web", "id": "w1"}, headers=bearer(service))
    assert (await client.post("/v1/services", json={"name": "web"}, headers=bearer(operator))).status == 403
    assert (await client.delete("/v1/services/web/w1", headers=bearer(operator))).status == 200


async def test_create_shows_the_secret_once_and_list_shows_metadata_only(client, store):
    r = await client.post("/v1/tokens", json={"role": "service", "services": ["orchestrator*"], "ttl": "90d",
                                              "description": "ci"}, headers=ADMIN)
    assert r.status == 201
    created = await r.json()
    assert created["token"].startswith(f"mnf1.{created['id']}.")
    assert (created["role"], created["services"], created["description"]) == ("service", ["orchestrator*"], "ci")
    assert created["expires_at"] is not None and created["expired"] is False
    listed = await (await client.get("/v1/tokens", headers=ADMIN)).json()
    assert [t["id"] for t in listed["tokens"]] == [created["id"]]
    text = repr(listed) + repr(store.fsm.snapshot()) + repr(store.proposed)
    secret = created["token"].split(".")[2]
    assert secret not in text and "hash" not in listed["tokens"][0] and "salt" not in listed["tokens"][0]
    assert (await client.get("/v1/services", headers=bearer(created["token"]))).status == 200


async def test_revoked_and_rotated_tokens_stop_at_once_and_the_rotated_one_keeps_its_id(client, store):
    token_id, token = add_token(store, "read")
    assert (await client.get("/v1/services", headers=bearer(token))).status == 200  # now cached
    r = await client.post(f"/v1/tokens/{token_id}/rotate", headers=ADMIN)
    rotated = (await r.json())["token"]
    assert r.status == 200 and rotated.split(".")[1] == token_id
    assert (await client.get("/v1/services", headers=bearer(token))).status == 401
    assert (await client.get("/v1/services", headers=bearer(rotated))).status == 200
    assert (await client.delete(f"/v1/tokens/{token_id}", headers=ADMIN)).status == 200
    assert (await client.get("/v1/services", headers=bearer(rotated))).status == 401
    assert (await client.delete(f"/v1/tokens/{token_id}", headers=ADMIN)).status == 404


async def test_a_token_expires_by_the_registrys_replicated_time(client, store):
    _, token = add_token(store, "read", ttl_ms=5_000)
    assert (await client.get("/v1/services", headers=bearer(token))).status == 200
    store.now_ms += 5_000
    store.apply()  # an envelope (a tick) carrying the leader's newer stamp
    assert (await client.get("/v1/services", headers=bearer(token))).status == 401


@pytest.mark.parametrize("body,field", [
    ({}, "role"), ({"role": "root"}, "role"), ({"role": "service"}, "services"),
    ({"role": "read", "services": ["x"]}, "services"), ({"role": "service", "services": ["Bad["]}, "services"),
    ({"role": "read", "ttl": "soon"}, "ttl"), ({"role": "read", "ttl": 0}, "ttl"),
    ({"role": "read", "description": "a\u2028b"}, "description"), ({"role": "read", "any_owner": 1}, "any_owner"),
    ({"role": "read", "secret": "x"}, "secret"),
])
async def test_bad_token_requests_are_400_naming_the_field_and_change_nothing(client, store, body, field):
    r = await client.post("/v1/tokens", json=body, headers=ADMIN)
    assert r.status == 400 and (await r.json())["error"]["field"] == field
    assert store.proposed == []


async def test_usage_is_counted_per_token_id_and_the_secret_is_in_no_metric(client, store):
    token_id, token = add_token(store, "read")
    for _ in range(3):
        await client.get("/v1/services", headers=bearer(token))
    text = await (await client.get("/metrics", headers=bearer(token))).text()
    assert f'manifest_token_requests_total{{role="read",token_id="{token_id}"}} 4.0' in text
    assert token.split(".")[2] not in text and BOOTSTRAP not in text


def test_credentials_come_from_bearer_and_on_request_from_consul_and_basic_auth():
    basic = "Basic " + base64.b64encode(b"eureka:tok-b").decode()
    user_only = "Basic " + base64.b64encode(b"tok-u:").decode()
    assert credentials({"Authorization": "Bearer tok-a"}) == "tok-a"
    assert credentials({"X-Consul-Token": "tok-c"}) is None
    assert credentials({"X-Consul-Token": "tok-c"}, consul=True) == "tok-c"
    assert credentials({"Authorization": basic}) is None
    assert credentials({"Authorization": basic}, basic=True) == "tok-b"
    assert credentials({"Authorization": user_only}, basic=True) == "tok-u"
    assert credentials({"Authorization": "Basic !!"}, basic=True) is None
    assert credentials({}) is None


def test_the_verifier_caches_by_a_keyed_hash_and_never_holds_the_token():
    store = FakeStore()
    token_id, token = add_token(store, "read")
    verifier = Verifier(store.auth_view)
    assert verifier.verify(token).id == token_id
    assert verifier.verify(token + "x") is None and verifier.verify("x" * 10_000) is None
    assert len(verifier._cache) == 1 and token.encode() not in repr(verifier._cache).encode()
    assert mint().__repr__().count(".") == 0  # Minted's repr shows the id only
