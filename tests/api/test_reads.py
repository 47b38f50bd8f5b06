"""List, get, blocking reads, health, cluster, metrics and routing errors."""

import asyncio
import time

import msgpack
import pytest

from manifest_node.api.keys import CHANGES
from manifest_node.fsm import commands as C
from tests.support.eventually import eventually


def seed(store):
    store.apply(
        C.register({"name": "web", "id": "w1", "tags": ["blue", "eu"], "version": "1.4.2",
                    "metadata": {"region": "eu"}, "dependencies": ["db"]}),
        C.register({"name": "web", "id": "w2", "tags": ["green"], "version": "2.0.0"}),
        C.register({"name": "db", "id": "d1", "version": "1.0.0"}),
        C.heartbeat("web", "w2", "unhealthy"),
    )


async def ids(resp):
    return [(i["name"], i["id"]) for i in (await resp.json())["instances"]]


async def test_list_and_headers(client, store):
    seed(store)
    r = await client.get("/v1/services")
    body = await r.json()
    assert r.status == 200 and body["revision"] == 4
    assert await ids(r) == [("db", "d1"), ("web", "w1"), ("web", "w2")]
    assert r.headers["X-Manifest-Index"] == "4"
    assert r.headers["X-Manifest-Leader"] == "http://leader:8500"
    assert r.headers["X-Manifest-Last-Contact"] == "0"


@pytest.mark.parametrize("qs,expected", [
    ("status=up", [("db", "d1"), ("web", "w1")]),
    ("status=up&status=unhealthy", [("db", "d1"), ("web", "w1"), ("web", "w2")]),
    ("tag=blue&tag=eu", [("web", "w1")]),
    ("tag=blue&tag=green", []),
    ("version=>=1.2,<2", [("web", "w1")]),
    ("version=^1.0.0", [("db", "d1"), ("web", "w1")]),
    ("meta.region=eu", [("web", "w1")]),
    ("depends_on=db", [("web", "w1")]),
])
async def test_filters(client, store, qs, expected):
    seed(store)
    assert await ids(await client.get("/v1/services?" + qs)) == expected


async def test_pagination(client, store):
    seed(store)
    r = await client.get("/v1/services?limit=2")
    body = await r.json()
    assert len(body["instances"]) == 2 and body["next_cursor"]
    r = await client.get("/v1/services?limit=2&cursor=" + body["next_cursor"])
    body = await r.json()
    assert [i["id"] for i in body["instances"]] == ["w2"] and "next_cursor" not in body


@pytest.mark.parametrize("qs,field", [
    ("status=gone", "status"), ("limit=0", "limit"), ("limit=x", "limit"), ("cursor=%%%", "cursor"),
    ("consistency=strong", "consistency"), ("version=banana", "version"), ("bogus=1", "bogus"),
    ("index=-1", "index"), ("index=1&wait=forever", "wait"), ("wait=5s", "wait"),
    ("index=1&wait=11m", "wait"), ("depends_on=Bad", "depends_on"),
])
async def test_bad_query_parameters(client, store, qs, field):
    seed(store)
    r = await client.get("/v1/services?" + qs)
    assert r.status == 400 and (await r.json())["error"]["field"] == field


async def test_service_and_instance(client, store):
    seed(store)
    r = await client.get("/v1/services/web")
    assert await ids(r) == [("web", "w1"), ("web", "w2")]
    assert r.headers["X-Manifest-Index"] == "4"  # the last change to web
    assert (await client.get("/v1/services/nothing")).status == 404
    store.apply(C.deregister("db", "d1"))
    r = await client.get("/v1/services/db")
    assert r.status == 200 and (await r.json())["instances"] == []
    r = await client.get("/v1/services/web/w1")
    assert r.status == 200 and (await r.json())["version"] == "1.4.2"
    assert (await client.get("/v1/services/web/zz")).status == 404
    assert (await client.get("/v1/services/BAD")).status == 400


async def test_linearizable_read_waits_for_the_store(client, store):
    seed(store)
    assert (await client.get("/v1/services?consistency=linearizable")).status == 200
    assert store.syncs[-1] is True
    store.available = False
    r = await client.get("/v1/services/web?consistency=linearizable")
    assert r.status == 503 and r.headers["Retry-After"] == "1"
    # A local read still answers from this node's state.
    assert (await client.get("/v1/services/web")).status == 200


def count_waits(hub) -> list:
    """Record each time a blocking read parks on ``hub``: a wrong wake-up makes it park again."""
    parked, wait = [], hub.wait

    async def counted(service, timeout):
        parked.append(service)
        return await wait(service, timeout)

    hub.wait = counted
    return parked


async def test_blocking_read_wakes_only_for_its_service(client, store):
    seed(store)
    hub = client.app[CHANGES]
    parked = count_waits(hub)
    index = (await client.get("/v1/services/web")).headers["X-Manifest-Index"]
    task = asyncio.create_task(client.get(f"/v1/services/web?index={index}&wait=60s"))
    await eventually(lambda: parked, what="the read to park")
    store.apply(C.register({"name": "db", "id": "d2"}))  # other service: must not wake
    await asyncio.sleep(0.05)  # room for a wrong wake-up to show: the read would park a second time
    assert not task.done() and parked == ["web"]
    store.apply(C.deregister("web", "w1"))
    r = await asyncio.wait_for(task, 10)  # far inside the 60 s wait: the change woke it, not the clock
    assert await ids(r) == [("web", "w2")] and int(r.headers["X-Manifest-Index"]) > int(index)
    assert parked == ["web"]


async def test_blocking_read_honours_wait(client, store):
    seed(store)
    started = time.monotonic()
    # Bounded far below the default wait (300 s) and far above this one: a
    # loaded machine delays the answer, but only an ignored wait reaches 10 s.
    r = await asyncio.wait_for(client.get("/v1/services?index=4&wait=300ms"), 10)
    elapsed = time.monotonic() - started
    assert r.status == 200 and elapsed >= 0.3  # no sooner than asked: load only adds to this
    assert r.headers["X-Manifest-Index"] == "4"


async def test_health_cluster_metrics(client, store):
    r = await client.get("/v1/health")
    body = await r.json()
    assert r.status == 200 and body["status"] == "ok" and body["role"] == "leader"
    assert body["leader"] == "http://leader:8500" and "revision" in body
    r = await client.get("/v1/cluster")
    assert r.status == 200 and (await r.json())["members"][0]["role"] == "leader"
    await client.put("/v1/services/web/x/heartbeat")
    r = await client.get("/metrics")
    text = await r.text()
    assert r.status == 200
    for name in ("manifest_http_requests_total", "manifest_http_request_duration_seconds_bucket",
                 "manifest_raft_term", "manifest_raft_commit_index", 'manifest_raft_role{role="leader"} 1.0',
                 'manifest_instances{status="up"}', "manifest_heartbeats_total 1.0",
                 "manifest_expirations_total"):
        assert name in text, name
    store.available = False
    r = await client.get("/v1/health")
    assert r.status == 503 and (await r.json())["role"] == "candidate" and r.headers["Retry-After"]


async def test_routing_errors_speak_the_error_format(client):
    r = await client.get("/v1/nothing")
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    r = await client.patch("/v1/services")
    assert r.status == 405 and (await r.json())["error"]["code"] == "method_not_allowed"
    assert r.headers["Allow"] == "GET,HEAD,POST"
    r = await client.post("/v1/services/web")
    assert r.status == 405 and r.headers["Allow"] == "GET,HEAD"


async def test_request_metrics_by_route_method_and_status(client, store):
    seed(store)
    for _ in range(3):
        assert (await client.get("/v1/services/web")).status == 200
    assert (await client.get("/v1/services/nothing")).status == 404
    assert (await client.head("/v1/services/web")).status == 200
    assert (await client.get("/v1/nothing")).status == 404
    assert (await client.patch("/v1/services")).status == 405
    text = await (await client.get("/metrics")).text()
    lines = set(text.splitlines())
    for line in ('manifest_http_requests_total{method="GET",route="/v1/services/{name}",status="200"} 3.0',
                 'manifest_http_requests_total{method="GET",route="/v1/services/{name}",status="404"} 1.0',
                 'manifest_http_requests_total{method="HEAD",route="/v1/services/{name}",status="200"} 1.0',
                 'manifest_http_requests_total{method="GET",route="unmatched",status="404"} 1.0',
                 'manifest_http_requests_total{method="PATCH",route="unmatched",status="405"} 1.0',
                 'manifest_http_request_duration_seconds_count{method="GET",route="/v1/services/{name}"} 4.0',
                 'manifest_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/v1/services/{name}"} 4.0'):
        assert line in lines, line
    buckets = [float(line.rpartition(" ")[2]) for line in text.splitlines()
               if line.startswith("manifest_http_request_duration_seconds_bucket") and 'method="GET"' in line
               and 'route="/v1/services/{name}"' in line]
    assert len(buckets) == 15 and buckets == sorted(buckets)  # cumulative, up to +Inf


async def test_repeated_reads_follow_every_change(client, store):
    seed(store)
    first = await client.get("/v1/services/web")
    body = await first.json()
    again = await client.get("/v1/services/web")
    assert await again.json() == body and again.headers["X-Manifest-Index"] == "4"
    store.apply(C.register({"name": "db", "id": "d2"}))  # elsewhere: the same instances, a new revision
    other = await client.get("/v1/services/web")
    assert (await other.json())["instances"] == body["instances"]
    assert (await other.json())["revision"] == 5 and other.headers["X-Manifest-Index"] == "4"
    store.apply(C.deregister("web", "w1"))
    after = await client.get("/v1/services/web")
    assert await ids(after) == [("web", "w2")] and after.headers["X-Manifest-Index"] == "6"
    packed = await client.get("/v1/services/web", headers={"Accept": "application/msgpack"})
    assert msgpack.unpackb(await packed.read()) == await after.json()
    assert packed.headers["Content-Type"] == "application/msgpack"


async def test_query_strings_are_told_apart_as_sent(client, store):
    seed(store)
    assert await ids(await client.get("/v1/services?tag=blue%26eu")) == []  # one tag, "blue&eu"
    r = await client.get("/v1/services?tag=blue&eu")
    assert r.status == 400 and (await r.json())["error"]["field"] == "eu"
    assert await ids(await client.get("/v1/services?tag=blue")) == [("web", "w1")]
    assert await ids(await client.get("/v1/services/web?tag=blue")) == [("web", "w1")]
    r = await client.get("/v1/services/Web?tag=blue")
    assert r.status == 400 and (await r.json())["error"]["field"] == "name"


async def test_cached_lists_never_serve_a_stale_record(client, store):
    seed(store)
    first = (await (await client.get("/v1/services/web")).json())["instances"][0]
    again = await client.get("/v1/services/web")
    assert (await again.json())["instances"][0] == first  # served from the cache
    store.now_ms += 5000
    store.apply(C.heartbeat("web", "w1"))  # changes last_heartbeat but no revision
    after = (await (await client.get("/v1/services/web")).json())["instances"][0]
    assert after["last_heartbeat"] != first["last_heartbeat"]
    everything = (await (await client.get("/v1/services?tag=blue")).json())["instances"][0]
    assert everything["last_heartbeat"] == after["last_heartbeat"]
    store.restore(store.fsm.snapshot())
    assert (await (await client.get("/v1/services/web")).json())["instances"][0] == after
