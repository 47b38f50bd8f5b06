"""A service token's batch registration: scoped item by item, all or none, every instance bound to it.

Against the real app on a fake store (apply is the real FSM): the API
refuses an item outside the token's patterns before proposing, apply refuses
an item owned by another token, and either way nothing is written. Also the
audit lines of issue 13's writes (batch, drain, maintenance), read back.
"""

import json

import pytest

from manifest_node.api.app import create_app
from manifest_node.api.keys import AUTH
from manifest_node.config import NodeConfig
from tests.support.auth import BOOTSTRAP, add_token, bearer
from tests.support.fake_store import FakeStore


@pytest.fixture
def store(tmp_path):
    return FakeStore(NodeConfig(id="n1", auth=True, bootstrap_token=BOOTSTRAP, audit_log=str(tmp_path / "audit.log")))


@pytest.fixture
async def client(aiohttp_client, store):
    return await aiohttp_client(create_app(store, store.cfg))


def keys(store) -> set[tuple[str, str]]:
    return set(store.fsm.instances)


async def test_a_batch_inside_the_patterns_registers_every_item_and_binds_each_to_the_token(client, store):
    owner_id, owner = add_token(store, "service", ["orders*"])
    _, other = add_token(store, "service", ["orders*"])
    body = {"instances": [{"name": "orders", "id": "o1"}, {"name": "orders-eu", "id": "e1"}, {"name": "orders"}]}
    r = await client.post("/v1/services/batch", json=body, headers=bearer(owner))
    assert r.status == 201, await r.text()
    made = [(i["name"], i["id"]) for i in (await r.json())["instances"]]
    assert len(made) == 3 and keys(store) == set(made)
    assert all(store.fsm.tokens.owners[key] == owner_id for key in made)
    for name, iid in made:  # the same patterns, another token: none of them is its to remove
        r = await client.delete(f"/v1/services/{name}/{iid}", headers=bearer(other))
        assert r.status == 403 and (await r.json())["error"]["code"] == "not_owner"
    assert keys(store) == set(made)
    assert (await client.delete("/v1/services/orders/o1", headers=bearer(owner))).status == 200


async def test_one_item_outside_the_patterns_refuses_the_whole_batch_naming_it(client, store):
    _, token = add_token(store, "service", ["orders*"])
    revision = store.fsm.revision
    body = {"instances": [{"name": "orders", "id": "o1"}, {"name": "billing", "id": "b1"}]}
    r = await client.post("/v1/services/batch", json=body, headers=bearer(token))
    assert r.status == 403
    assert (await r.json())["error"] == {"code": "out_of_scope", "field": "instances[1].name",
                                         "message": "this token may not act for service 'billing'"}
    assert store.proposed == [] and keys(store) == set() and store.fsm.revision == revision


async def test_a_batch_touching_another_tokens_instance_is_refused_whole(client, store):
    _, first = add_token(store, "service", ["orders*"])
    _, second = add_token(store, "service", ["orders*"])
    assert (await client.post("/v1/services", json={"name": "orders", "id": "taken", "port": 1},
                              headers=bearer(first))).status == 201
    revision, before = store.fsm.revision, store.fsm.instances[("orders", "taken")].to_record()
    body = {"instances": [{"name": "orders", "id": "fresh"}, {"name": "orders", "id": "taken", "port": 2}]}
    r = await client.post("/v1/services/batch", json=body, headers=bearer(second))
    assert r.status == 403
    error = (await r.json())["error"]
    assert (error["code"], error["field"]) == ("not_owner", "instances[1].id")
    assert keys(store) == {("orders", "taken")} and store.fsm.revision == revision
    assert store.fsm.instances[("orders", "taken")].to_record() == before


async def test_issue_13s_writes_are_audited_like_the_others(client, store, tmp_path):
    service_id, service = add_token(store, "service", ["web"])
    operator_id, operator = add_token(store, "operator")
    batch = {"instances": [{"name": "web", "id": "w1"}, {"name": "web", "id": "w2"}]}
    assert (await client.post("/v1/services/batch", json=batch, headers=bearer(service))).status == 201
    assert (await client.put("/v1/services/web/w1/drain", json={"deadline": 60},
                             headers=bearer(operator))).status == 200
    assert (await client.delete("/v1/services/web/w1/drain", headers=bearer(operator))).status == 200
    assert (await client.put("/v1/services/web/w2/maintenance", json={"reason": "disk"},
                             headers=bearer(service))).status == 403  # a service token may not
    assert (await client.put("/v1/services/web/w2/maintenance", json={"reason": "disk"},
                             headers=bearer(operator))).status == 200
    assert (await client.put("/v1/services/web/w2/drain", json={"deadline": -1},
                             headers=bearer(operator))).status == 400
    client.app[AUTH].audit.flush()
    got = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [(g["method"], g["path"], g["status"], g["outcome"], g["token_id"], g["service"], g["instance"])
            for g in got] == [
        ("POST", "/v1/services/batch", 201, "ok", service_id, "web", None),
        ("PUT", "/v1/services/web/w1/drain", 200, "ok", operator_id, "web", "w1"),
        ("DELETE", "/v1/services/web/w1/drain", 200, "ok", operator_id, "web", "w1"),
        ("PUT", "/v1/services/web/w2/maintenance", 403, "denied", service_id, "web", "w2"),
        ("PUT", "/v1/services/web/w2/maintenance", 200, "ok", operator_id, "web", "w2"),
        ("PUT", "/v1/services/web/w2/drain", 400, "refused", operator_id, "web", "w2"),
    ]


async def test_a_service_token_drains_its_own_instances_only_and_never_sets_maintenance(client, store):
    # Issue 13: draining is "set by the instance or an operator"; issue 12 keeps
    # maintenance an operator's. The owner check is apply's, as for deregister.
    _, owner = add_token(store, "service", ["orders*"])
    _, other = add_token(store, "service", ["orders*"])
    _, operator = add_token(store, "operator")
    assert (await client.post("/v1/services", json={"name": "orders", "id": "o1"}, headers=bearer(owner))).status == 201
    r = await client.put("/v1/services/orders/o1/drain", json={"deadline": 30}, headers=bearer(other))
    assert r.status == 403 and (await r.json())["error"]["code"] == "not_owner"
    assert store.fsm.instances[("orders", "o1")].status == "up"
    r = await client.put("/v1/services/billing/b1/drain", json={}, headers=bearer(owner))
    assert r.status == 403 and (await r.json())["error"]["code"] == "out_of_scope"
    r = await client.put("/v1/services/orders/o1/drain", json={"deadline": 30}, headers=bearer(owner))
    assert r.status == 200 and (await r.json())["status"] == "draining"
    r = await client.delete("/v1/services/orders/o1/drain", headers=bearer(other))
    assert r.status == 403 and store.fsm.instances[("orders", "o1")].status == "draining"
    assert (await client.delete("/v1/services/orders/o1/drain", headers=bearer(owner))).status == 200
    r = await client.put("/v1/services/orders/o1/maintenance", json={"reason": "disk"}, headers=bearer(owner))
    assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"
    r = await client.put("/v1/services/orders/o1/maintenance", json={"reason": "disk"}, headers=bearer(operator))
    assert r.status == 200 and (await r.json())["status"] == "maintenance"
