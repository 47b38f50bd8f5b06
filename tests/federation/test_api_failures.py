"""Remote regions that misbehave: non-200 watch answers, a refused token, stalls and slow failover regions.

The misbehaving regions are small stand-in apps (a real aiohttp server on
loopback) answering ``/v1/health`` like a node and the rest as each test
needs; the asking region is a real app (tests/federation/regions.py).
"""

import asyncio
import json

from aiohttp import web

from manifest_node.api.keys import FEDERATION, WATCHES
from tests.federation.regions import TOKEN, instance, region, register, url

ASKED = web.AppKey("asked", list)
QUIET = {"federation_probe_interval": 60.0}  # no probe closes a circuit behind the test's back


async def health(request):
    return web.json_response({"status": "ok", "role": "leader"})


async def stand_in(aiohttp_server, routes: dict):
    """A region's node answering /v1/health and ``routes`` (path -> handler); the requests it got."""
    app = web.Application()
    app[ASKED] = []

    def noted(handler):
        async def run(request):
            app[ASKED].append(dict(request.query))
            return await handler(request)
        return run

    app.router.add_get("/v1/health", health)
    for path, handler in routes.items():
        app.router.add_get(path, noted(handler))
    return await aiohttp_server(app)


def once_then(status: int):
    """A /v1/watch giving one event on its first request, then ``status`` to every reconnection."""
    calls = []

    async def handler(request):
        calls.append(request)
        if len(calls) > 1:
            return web.json_response({"error": {"code": "x", "message": "no"}}, status=status)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'retry: 1000\n\nid: 7\nevent: registered\ndata: {"id": "a"}\n\n')
        return resp  # the stream ends: the follower reconnects

    return handler


async def read_until(resp, needle: bytes, times: int = 1, timeout: float = 5.0) -> bytes:
    seen = b""
    while seen.count(needle) < times:
        seen += await asyncio.wait_for(resp.content.readany(), timeout)
    return seen


async def eventually_true(check, timeout: float = 5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_non_200_reconnection_is_a_node_failure_with_back_off(aiohttp_server, aiohttp_client):
    eu = await stand_in(aiohttp_server, {"/v1/watch": once_then(429)})
    us_server, _ = await region(aiohttp_server, "us", [f"eu={url(eu)}"], **QUIET)
    us = await aiohttp_client(us_server)
    resp = await us.get("/v1/watch?region=eu")
    assert resp.status == 200
    # Before the fix the 429's body was read as a stream and the next request sent at once, forever,
    # and no comment ever reached the watcher.
    seen = await read_until(resp, b": region unavailable, reconnecting", 3)
    assert b"event: registered" in seen
    node = us_server.app[FEDERATION].directory.get("eu").nodes[0]
    assert node.error == "HTTP 429" and node.failures >= 1
    asked = eu.app[ASKED]
    assert len(asked) < 10, len(asked)  # paced by the back-off (0.2 s doubling), not a tight loop
    assert asked[1].get("since") == "7"
    resp.close()


async def test_a_token_refused_on_reconnection_ends_the_watch_with_an_error_event(aiohttp_server, aiohttp_client):
    eu = await stand_in(aiohttp_server, {"/v1/watch": once_then(403)})
    us_server, _ = await region(aiohttp_server, "us", [f"eu={url(eu)}"], **QUIET)
    us = await aiohttp_client(us_server)
    resp = await us.get("/v1/watch?region=eu")
    seen = b""
    while not resp.content.at_eof():
        seen += await asyncio.wait_for(resp.content.read(), 5)
    event = seen.split(b"event: error\n", 1)[1]
    err = json.loads(event.split(b"data: ", 1)[1].split(b"\n", 1)[0])["error"]
    assert err["code"] == "federation_refused" and err["field"] == "region"
    await eventually_true(lambda: not us_server.app[WATCHES].open and not us_server.app[FEDERATION].watches)


async def test_a_watcher_leaving_a_silent_remote_stream_is_noticed(aiohttp_server, aiohttp_client):
    release = asyncio.Event()

    async def silent(request):  # a stream that sends its headers and then nothing (a stalled node)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"retry: 1000\n\n")
        await release.wait()
        return resp

    eu = await stand_in(aiohttp_server, {"/v1/watch": silent})
    us_server, _ = await region(aiohttp_server, "us", [f"eu={url(eu)}"], watch_keepalive=0.2, **QUIET)
    us = await aiohttp_client(us_server)
    try:
        resp = await us.get("/v1/watch?region=eu")
        assert resp.status == 200
        await read_until(resp, b": keep-alive")  # written by this node, the remote being silent
        metrics = await (await us.get("/metrics")).text()
        assert "manifest_watch_streams 1.0" in metrics  # the followed stream is in the gauge
        resp.close()
        # Before the fix only the remote's idle timeout (>= 10 s) or a frame would have ended the relay.
        await eventually_true(lambda: not us_server.app[WATCHES].open and not us_server.app[FEDERATION].watches)
        metrics = await (await us.get("/metrics")).text()
        assert "manifest_watch_streams 0.0" in metrics
    finally:
        release.set()


async def test_a_watch_of_this_nodes_own_region_is_labelled(aiohttp_server, aiohttp_client):
    eu = await stand_in(aiohttp_server, {})
    us_server, _ = await region(aiohttp_server, "us", [f"eu={url(eu)}"], **QUIET)
    us = await aiohttp_client(us_server)
    resp = await us.get("/v1/watch?region=us")
    assert resp.status == 200 and resp.headers["X-Manifest-Region"] == "us"
    resp.close()


async def test_failover_as_a_whole_honours_the_deadline(aiohttp_server, aiohttp_client):
    release = asyncio.Event()

    async def hang(request):  # answers health probes, never a read
        await release.wait()
        return web.json_response({"instances": []})

    slow = [await stand_in(aiohttp_server, {"/v1/services/{name}": hang}) for _ in range(4)]
    names = [f"s{i}" for i in range(4)]
    us_server, _ = await region(aiohttp_server, "us", [f"{n}={url(s)}" for n, s in zip(names, slow)],
                                failover=tuple(names), federation_timeout=0.5, federation_deadline=1.0)
    us = await aiohttp_client(us_server)
    await register(us, instance("api", "us-down"))
    await us.put("/v1/services/api/us-down/heartbeat", json={"status": "unhealthy"})
    try:
        resp = await us.get("/v1/services/api?failover=true")
        body = await resp.json()
        asked = [n for n, s in zip(names, slow) if s.app[ASKED]]
        # Each attempt is cut at 0.5 s, the whole at 1 s: two regions, a third at most on a slow machine.
        # Before the fix every region got its own full deadline and all four were asked.
        assert len(asked) < 4, asked
        assert resp.status == 200 and body["region"] == "us" and body["instances"] == []
        assert body["failover"]["tried"] == ["us", *asked]
        assert body["failover"]["skipped"] == names[len(asked):]
    finally:
        release.set()


async def test_a_region_refusing_the_token_is_passed_over_by_star_and_failover(aiohttp_server, aiohttp_client):
    admin = "bootstrap-admin-token-of-32-bytes"
    eu, _ = await region(aiohttp_server, "eu", auth=True, bootstrap_token=admin, federation_token=TOKEN)
    ap_server, _ = await region(aiohttp_server, "ap")
    ap = await aiohttp_client(ap_server)
    await register(ap, instance("api", "ap-1"))
    us_server, _ = await region(aiohttp_server, "us", [f"eu={url(eu)}", f"ap={url(ap_server)}"],
                                federation_token="y" * 32, failover=("eu", "ap"))
    us = await aiohttp_client(us_server)
    star = await us.get("/v1/services/api?region=*")
    body = await star.json()
    assert star.status == 200 and [(r["region"], r["id"]) for r in body["instances"]] == [("ap", "ap-1")]
    assert body["unavailable"] == ["eu"]
    assert body["regions"]["eu"]["status"] == 403 and body["regions"]["eu"]["code"] == "federation_refused"
    assert "y" * 32 not in json.dumps(body)
    failover = await us.get("/v1/services/api?failover=true")
    body = await failover.json()
    assert failover.status == 200 and body["region"] == "ap" and [r["id"] for r in body["instances"]] == ["ap-1"]
    assert body["failover"] == {"tried": ["us", "eu", "ap"], "skipped": ["eu"]}


async def test_a_node_held_back_by_its_circuit_is_tried_when_every_other_node_fails(aiohttp_server, aiohttp_client):
    async def listing(request):
        return web.json_response({"instances": [instance("api", "eu-1")]})

    live = await stand_in(aiohttp_server, {"/v1/services/{name}": listing})
    dying = await stand_in(aiohttp_server, {})
    us_server, _ = await region(aiohttp_server, "us", [f"eu={url(dying)},{url(live)}"], **QUIET)
    us = await aiohttp_client(us_server)
    federation = us_server.app[FEDERATION]
    await eventually_true(lambda: federation.prober.rounds >= 1)  # both probed healthy; no round follows
    await dying.close()  # its port now refuses connections
    nodes = federation.directory.get("eu").nodes
    nodes[1].failed("TimeoutError")  # a probe of the live node timed out on a loaded machine: circuit open
    assert nodes[1].circuit_open and not nodes[0].circuit_open and nodes[0].healthy
    resp = await us.get("/v1/services/api?region=eu")
    body = await resp.json()
    # Before the fix only the dead node was tried: 503 region_unavailable with a live node in the region.
    assert resp.status == 200, body
    assert [r["id"] for r in body["instances"]] == ["eu-1"] and resp.headers["X-Manifest-Region-Node"] == url(live)
    assert nodes[0].circuit_open and not nodes[1].circuit_open and nodes[1].healthy
