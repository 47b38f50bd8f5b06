"""Where a health check may point (node/checks/targets.py): the registry's rule against SSRF.

A service token's check must target its instance's own address; nobody's
may target link-local (cloud metadata), unspecified or multicast addresses,
nor loopback off a loopback API; ``check_targets = any`` lifts it. The
prober applies the ranges again to what a name resolves to, and probes
nothing blocked (shown with a real listening socket that sees no connection).
"""

import asyncio

import pytest

from manifest_node.api.app import create_app
from manifest_node.checks import targets
from manifest_node.checks.prober import Prober
from manifest_node.config import NodeConfig
from tests.support.auth import BOOTSTRAP, add_token, bearer
from tests.support.fake_store import FakeStore

ADMIN = bearer(BOOTSTRAP)


async def app_client(aiohttp_client, **cfg):
    store = FakeStore(NodeConfig(auth=True, bootstrap_token=BOOTSTRAP, audit=False, **cfg))
    _, token = add_token(store, "service", ["web*"])
    return store, await aiohttp_client(create_app(store, store.cfg)), bearer(token)


@pytest.mark.parametrize("address,check", [
    ("10.0.0.5", {"http": "http://10.0.0.5:8080/health"}),
    ("Web-1.Example.", {"tcp": "web-1.example:5432"}),
    ("fd00::5", {"grpc": "[fd00:0::5]:50051/pkg.Health"}),
])
async def test_a_service_tokens_check_at_its_own_address_is_taken(aiohttp_client, address, check):
    store, client, service = await app_client(aiohttp_client)
    r = await client.post("/v1/services", json={"name": "web", "address": address, "check": check}, headers=service)
    assert r.status == 201, await r.text()


@pytest.mark.parametrize("address,check,field", [
    ("10.0.0.5", {"http": "http://10.0.0.6:8080/health"}, "check.http"),
    ("10.0.0.5", {"http": "http://10.0.0.5@10.0.0.6/"}, "check.http"),  # userinfo: the host is the second
    (None, {"tcp": "10.0.0.5:22"}, "check.tcp"),
    ("10.0.0.5", {"grpc": "db.internal:50051"}, "check.grpc"),
    ("169.254.169.254", {"http": "http://169.254.169.254/latest/meta-data/"}, "check.http"),
    ("[fe80::1]", {"tcp": "[fe80::1]:80"}, "check.tcp"),
    ("0.0.0.0", {"tcp": "0.0.0.0:80"}, "check.tcp"),
    ("::ffff:169.254.169.254", {"tcp": "[::ffff:169.254.169.254]:80"}, "check.tcp"),
])
async def test_a_service_tokens_check_elsewhere_is_403_naming_it_and_writes_nothing(aiohttp_client, address,
                                                                                      check, field):
    store, client, service = await app_client(aiohttp_client)
    r = await client.post("/v1/services", json={"name": "web", "address": address, "check": check}, headers=service)
    assert r.status == 403
    error = (await r.json())["error"]
    assert (error["code"], error["field"]) == ("check_target", field)
    assert store.proposed == [] and not store.fsm.instances


async def test_an_admin_points_checks_at_other_hosts_but_never_at_blocked_ranges(aiohttp_client):
    store, client, _ = await app_client(aiohttp_client, api="10.0.0.1:8500")
    ok = {"name": "web", "address": "10.0.0.5", "check": {"http": "http://10.0.0.9:9000/sidecar"}}
    assert (await client.post("/v1/services", json=ok, headers=ADMIN)).status == 201
    for check in ({"tcp": "169.254.169.254:80"}, {"http": "http://127.0.0.1:8500/v1/tokens"}, {"tcp": "[::1]:22"},
                  {"tcp": "[fd00:ec2::254]:80"}, {"tcp": "224.0.0.1:80"}):
        r = await client.post("/v1/services", json={"name": "web", "id": "x", "check": check}, headers=ADMIN)
        assert r.status == 403 and (await r.json())["error"]["code"] == "check_target", check
    assert ("web", "x") not in store.fsm.instances


async def test_loopback_targets_are_taken_where_the_api_itself_is_on_loopback(aiohttp_client):
    _, client, service = await app_client(aiohttp_client, api="127.0.0.1:8500")
    body = {"name": "web", "address": "127.0.0.1", "check": {"tcp": "127.0.0.1:9"}}
    assert (await client.post("/v1/services", json=body, headers=service)).status == 201


async def test_check_targets_any_lifts_the_rule(aiohttp_client):
    _, client, service = await app_client(aiohttp_client, check_targets="any", api="10.0.0.1:8500")
    body = {"name": "web", "address": "10.0.0.5", "check": {"http": "http://169.254.169.254/"}}
    assert (await client.post("/v1/services", json=body, headers=service)).status == 201


async def test_one_batch_item_checking_elsewhere_refuses_the_batch(aiohttp_client):
    store, client, service = await app_client(aiohttp_client)
    body = {"instances": [{"name": "web", "address": "10.0.0.5", "check": {"tcp": "10.0.0.5:80"}},
                          {"name": "web", "address": "10.0.0.6", "check": {"tcp": "10.0.0.7:80"}}]}
    r = await client.post("/v1/services/batch", json=body, headers=service)
    assert r.status == 403
    assert (await r.json())["error"]["field"] == "instances[1].check.tcp"
    assert store.proposed == [] and not store.fsm.instances


async def test_names_resolving_to_blocked_addresses_are_refused_before_probing():
    assert "resolves to" in await targets.resolved_refusal("localhost", loopback_ok=False)
    assert await targets.resolved_refusal("localhost", loopback_ok=True) is None
    assert await targets.resolved_refusal("169.254.169.254", loopback_ok=True) is not None


async def test_the_prober_never_connects_to_a_blocked_target():
    connections = []

    async def accept(reader, writer):
        connections.append(1)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    spec = {"tcp": f"localhost:{port}", "timeout": 2.0}
    try:
        guarded = Prober(store=None, node_id="n1", concurrency=1, guarded=True, loopback_ok=False)
        assert await guarded._one(spec) is False
        assert connections == []
        allowed = Prober(store=None, node_id="n1", concurrency=1, guarded=True, loopback_ok=True)
        assert await allowed._one(spec) is True
        deadline = asyncio.get_running_loop().time() + 5
        while not connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert connections == [1]
    finally:
        server.close()
        await server.wait_closed()
