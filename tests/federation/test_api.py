"""?region=, ?region=*, ?failover= and remote watches, across in-process regions on loopback servers.

Each region is an app on a fake store behind a real aiohttp server; the
local region's app federates with them over HTTP, as a node does.
"""

import asyncio

from manifest_node.api.keys import FEDERATION
from tests.federation.regions import TOKEN, instance, region, register, url
from tests.support.cluster import free_port
from tests.support.eventually import eventually


async def regions_of(client) -> dict:
    body = await (await client.get("/v1/cluster")).json()
    return {r["name"]: r for r in body["regions"]}


async def setup(aiohttp_server, aiohttp_client, dead: bool = True, **settings):
    """us (local, the client's), eu (alive) and, with ``dead``, ap (no listener)."""
    eu, _ = await region(aiohttp_server, "eu")
    federate = [f"eu={url(eu)}"] + ([f"ap=http://127.0.0.1:{free_port()}"] if dead else [])
    us, _ = await region(aiohttp_server, "us", federate, **settings)
    return await aiohttp_client(us), await aiohttp_client(eu)


async def test_a_read_of_another_region_is_forwarded_and_labelled(aiohttp_server, aiohttp_client):
    us, eu = await setup(aiohttp_server, aiohttp_client)
    await register(eu, instance("api", "eu-1", tags=["blue"]))
    await register(eu, instance("api", "eu-2"))
    await register(us, instance("api", "us-1"))
    resp = await us.get("/v1/services/api?region=eu&tag=blue")
    body = await resp.json()
    assert resp.status == 200 and [r["id"] for r in body["instances"]] == ["eu-1"]
    assert resp.headers["X-Manifest-Region"] == "eu" and "X-Manifest-Index" in resp.headers
    assert "X-Manifest-Leader" not in resp.headers  # eu's leader is no place for this client's writes
    one = await us.get("/v1/services/api/eu-2?region=eu")
    assert one.status == 200 and (await one.json())["id"] == "eu-2"
    missing = await us.get("/v1/services/nothing?region=eu")
    assert missing.status == 404 and missing.headers["X-Manifest-Region"] == "eu"
    local = await us.get("/v1/services/api?region=us")
    assert [r["id"] for r in (await local.json())["instances"]] == ["us-1"]
    assert local.headers["X-Manifest-Region"] == "us"
    listed = await us.get("/v1/services?region=eu")
    assert {r["id"] for r in (await listed.json())["instances"]} == {"eu-1", "eu-2"}


async def test_region_star_merges_every_region_and_names_the_dead_one(aiohttp_server, aiohttp_client):
    us, eu = await setup(aiohttp_server, aiohttp_client)
    await register(eu, instance("api", "eu-1"))
    await register(us, instance("api", "us-1"))
    resp = await us.get("/v1/services/api?region=*")
    body = await resp.json()
    assert resp.status == 200 and resp.headers["X-Manifest-Region"] == "*"
    assert sorted((r["region"], r["id"]) for r in body["instances"]) == [("eu", "eu-1"), ("us", "us-1")]
    assert body["unavailable"] == ["ap"] and body["regions"]["eu"]["count"] == 1
    unknown = await us.get("/v1/services/never?region=*")
    assert unknown.status == 200 and (await unknown.json())["unavailable"] == ["ap"]  # ap might know it


async def test_bad_and_unknown_regions_are_4xx_naming_region(aiohttp_server, aiohttp_client):
    us, _ = await setup(aiohttp_server, aiohttp_client)
    for query, code in (("region=mars", "unknown_region"), ("region=EU!", "invalid"),
                        ("region=eu&region=us", "invalid")):
        resp = await us.get(f"/v1/services?{query}")
        err = (await resp.json())["error"]
        assert resp.status == 400 and err["field"] == "region" and err["code"] == code, query
    cursor = await us.get("/v1/services?region=*&cursor=abc")
    assert cursor.status == 400 and (await cursor.json())["error"]["field"] == "cursor"
    star_watch = await us.get("/v1/watch?region=*")
    assert star_watch.status == 400 and (await star_watch.json())["error"]["field"] == "region"


async def test_a_region_no_node_answers_is_503_region_unavailable_and_fast_once_known(aiohttp_server,
                                                                                     aiohttp_client):
    us, _ = await setup(aiohttp_server, aiohttp_client)
    resp = await us.get("/v1/services?region=ap")
    assert resp.status == 503 and resp.headers["Retry-After"]
    assert (await resp.json())["error"]["code"] == "region_unavailable"
    await eventually_async(lambda: regions_of(us), lambda r: r["ap"]["healthy"] is False and r["eu"]["healthy"])
    again = await us.get("/v1/services?region=ap")
    assert again.status == 503


async def eventually_async(get, ok, timeout: float = 5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await get()
        if ok(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out; last {value}"
        await asyncio.sleep(0.05)


async def test_the_cluster_view_shows_every_region_with_health_and_rtt(aiohttp_server, aiohttp_client):
    us, _ = await setup(aiohttp_server, aiohttp_client)
    seen = await eventually_async(lambda: regions_of(us),
                                  lambda r: r["eu"]["healthy"] and r["ap"]["nodes"][0]["error"])
    assert seen["us"]["local"] is True and list(seen) == ["us", "eu", "ap"]
    assert seen["eu"]["rtt_ms"] >= 0 and seen["eu"]["last_seen"].endswith("Z")
    assert seen["eu"]["nodes"][0]["role"] == "leader" and seen["ap"]["last_seen"] is None


async def test_failover_skips_the_unhealthy_region_and_says_who_served(aiohttp_server, aiohttp_client):
    us, eu = await setup(aiohttp_server, aiohttp_client, failover=("ap", "eu"))
    await register(eu, instance("api", "eu-1"))
    await register(us, instance("api", "us-down"))
    await us.put("/v1/services/api/us-down/heartbeat", json={"status": "unhealthy"})
    await eventually_async(lambda: regions_of(us), lambda r: r["ap"]["healthy"] is False)
    resp = await us.get("/v1/services/api?failover=true")
    body = await resp.json()
    assert resp.status == 200 and body["region"] == "eu" and resp.headers["X-Manifest-Region"] == "eu"
    assert [r["id"] for r in body["instances"]] == ["eu-1"]
    assert body["failover"] == {"tried": ["us", "eu"], "skipped": ["ap"]}
    picked = await us.get("/v1/services/api?failover=nearest&pick=random")
    assert picked.status == 200 and (await picked.json())["id"] == "eu-1"
    await register(us, instance("api", "us-up"))
    local = await us.get("/v1/services/api?failover=true")
    body = await local.json()
    assert body["region"] == "us" and [r["id"] for r in body["instances"]] == ["us-up"]


async def test_failover_with_nowhere_to_go_answers_the_local_result(aiohttp_server, aiohttp_client):
    us, _ = await setup(aiohttp_server, aiohttp_client, dead=False, failover=("eu",))
    resp = await us.get("/v1/services/api?failover=true")
    assert resp.status == 404 and resp.headers["X-Manifest-Failover-Tried"] == "us,eu"
    bad = await us.get("/v1/services?failover=true")
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "failover"
    for query, field in (("status=sleeping", "status"), ("region=eu", "failover"), ("failover=maybe", "failover")):
        resp = await us.get(f"/v1/services/api?failover=true&{query}" if "failover=" not in query
                            else f"/v1/services/api?{query}")
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field, query
    star = await us.get("/v1/services?region=*&status=sleeping")
    assert star.status == 400 and (await star.json())["error"]["field"] == "status"


async def test_a_watch_follows_a_remote_region(aiohttp_server, aiohttp_client):
    us, eu = await setup(aiohttp_server, aiohttp_client, dead=False)
    resp = await us.get("/v1/watch?region=eu&name=api")
    assert resp.status == 200 and resp.headers["X-Manifest-Region"] == "eu"
    await register(eu, instance("api", "eu-1"))
    await register(eu, instance("other", "o-1"))
    await register(eu, instance("api", "eu-2"))
    seen = b""
    while seen.count(b"event: registered") < 2:
        seen += await asyncio.wait_for(resp.content.readany(), 5)
    assert b'"eu-1"' in seen and b'"eu-2"' in seen and b'"o-1"' not in seen
    resp.close()


async def test_a_forwarded_read_is_never_forwarded_again(aiohttp_server, aiohttp_client):
    _, eu = await setup(aiohttp_server, aiohttp_client, dead=False)
    resp = await eu.get("/v1/services?region=us", headers={"X-Manifest-Federated-From": "us"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "region_mismatch"


async def test_the_federation_token_reads_and_never_writes(aiohttp_server, aiohttp_client):
    admin = "bootstrap-admin-token-of-32-bytes"
    eu_server, _ = await region(aiohttp_server, "eu", auth=True, bootstrap_token=admin, federation_token=TOKEN)
    eu = await aiohttp_client(eu_server)
    await register(eu, instance("api", "eu-1"), {"Authorization": f"Bearer {admin}"})
    fed = {"X-Manifest-Federation-Token": TOKEN}
    assert (await eu.get("/v1/services/api", headers=fed)).status == 200
    assert (await eu.get("/v1/cluster", headers=fed)).status == 200
    for method, path in (("POST", "/v1/services"), ("PUT", "/v1/services/api/eu-1/heartbeat"),
                         ("DELETE", "/v1/services/api/eu-1"), ("POST", "/v1/tokens"), ("GET", "/v1/tokens"),
                         ("GET", "/v1/snapshot"), ("GET", "/metrics"), ("POST", "/v1/cluster/members")):
        resp = await eu.request(method, path, headers=fed, json=instance("api", "x"))
        assert resp.status == 403, (method, path, resp.status)
    wrong = await eu.get("/v1/services/api", headers={"X-Manifest-Federation-Token": "x" * 32})
    assert wrong.status == 401 and (await wrong.json())["error"]["field"] == "X-Manifest-Federation-Token"
    us_server, _ = await region(aiohttp_server, "us", [f"eu={url(eu_server)}"], federation_token=TOKEN)
    us = await aiohttp_client(us_server)
    resp = await us.get("/v1/services/api?region=eu")
    assert resp.status == 200 and [r["id"] for r in (await resp.json())["instances"]] == ["eu-1"]
    body = await (await us.get("/v1/cluster")).text()
    assert TOKEN not in body
    wrong_server, _ = await region(aiohttp_server, "ap", [f"eu={url(eu_server)}"], federation_token="y" * 32)
    wrong = await aiohttp_client(wrong_server)
    refused = await wrong.get("/v1/services/api?region=eu")
    err = (await refused.json())["error"]
    assert refused.status == 403 and err["code"] == "federation_refused" and err["field"] == "region"
    assert "y" * 32 not in err["message"]


async def test_a_remote_watch_resumes_on_another_node_without_loss_or_duplicate(aiohttp_server, aiohttp_client):
    from manifest_node.api.app import create_app
    from manifest_node.api.keys import WATCHES
    from manifest_node.config import NodeConfig
    from tests.support.fake_store import FakeStore

    cfg = NodeConfig(region="eu", insecure=True)
    store = FakeStore(cfg)  # two nodes of one region: one state, as Raft would give them
    asked: list[str] = []  # the watch requests the region's nodes received

    async def note(request, response):
        if request.path == "/v1/watch":
            asked.append(request.query.get("since"))

    apps = [create_app(store, cfg, manage_store=i == 0) for i in range(2)]
    for app in apps:
        app.on_response_prepare.append(note)
    nodes = [await aiohttp_server(app) for app in apps]
    eu = await aiohttp_client(nodes[1])
    us_server, _ = await region(aiohttp_server, "us", [f"eu={url(nodes[0])},{url(nodes[1])}"])
    us = await aiohttp_client(us_server)
    resp = await us.get("/v1/watch?region=eu&since=0")
    assert resp.status == 200
    seen = b""

    async def read_until(n: int):
        nonlocal seen
        while seen.count(b"event: registered") < n:
            seen += await asyncio.wait_for(resp.content.readany(), 5)

    await register(eu, instance("api", "a"))
    await read_until(1)
    streaming = next(n for n in nodes if n.app[WATCHES].open)
    await streaming.close()  # the node the stream came from goes away
    for iid in ("b", "c"):
        await register(eu, instance("api", iid))
    await read_until(3)
    ids = [int(line[3:]) for line in seen.split(b"\n") if line.startswith(b"id:")]
    assert asked == ["0", str(ids[0])]  # resumed on the other node from the last event passed on
    assert ids == sorted(set(ids)) and len(ids) == 3, seen  # in order, none twice, none lost
    assert [seen.index(f'"id":"{i}"'.encode()) for i in "abc"] == sorted(seen.index(f'"id":"{i}"'.encode())
                                                                         for i in "abc")
    resp.close()


async def test_a_metadata_filter_named_region_stays_a_local_read(aiohttp_server, aiohttp_client):
    us, _ = await setup(aiohttp_server, aiohttp_client, dead=False)
    await register(us, instance("api", "us-1", metadata={"region": "eu"}))
    resp = await us.get("/v1/services?meta.region=eu")
    assert resp.status == 200 and [r["id"] for r in (await resp.json())["instances"]] == ["us-1"]
    assert "X-Manifest-Region" not in resp.headers


async def test_metrics_show_each_region_and_the_reads_sent_there(aiohttp_server, aiohttp_client):
    us, _ = await setup(aiohttp_server, aiohttp_client)
    await eventually_async(lambda: regions_of(us), lambda r: r["eu"]["healthy"] and r["ap"]["healthy"] is False)
    assert (await us.get("/v1/services?region=eu")).status == 200
    assert (await us.get("/v1/services?region=ap")).status == 503
    text = await (await us.get("/metrics")).text()
    for line in ('manifest_federation_region_up{region="eu"} 1.0', 'manifest_federation_region_up{region="ap"} 0.0',
                 'manifest_federation_reads_total{outcome="ok",region="eu"} 1.0',
                 'manifest_federation_reads_total{outcome="unavailable",region="ap"} 1.0',
                 'manifest_federation_nodes_healthy{region="eu"} 1.0'):
        assert line in text, line
    assert 'manifest_federation_region_rtt_seconds{region="eu"}' in text


async def test_shutdown_ends_followed_remote_watches_at_once(aiohttp_server, aiohttp_client):
    eu, _ = await region(aiohttp_server, "eu")
    us_server, _ = await region(aiohttp_server, "us", [f"eu={url(eu)}"])
    us = await aiohttp_client(us_server)
    resp = await us.get("/v1/watch?region=eu")
    assert resp.status == 200
    started = asyncio.get_running_loop().time()
    await us_server.close()  # aiohttp would wait up to its shutdown timeout (60 s) for a stream still open
    assert asyncio.get_running_loop().time() - started < 5.0
    assert not us_server.app[FEDERATION].watches
    resp.close()
