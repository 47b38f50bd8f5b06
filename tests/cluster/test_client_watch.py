"""The client's watch against a real cluster: resumes across nodes, no gap."""

import asyncio
import json
import subprocess
import sys
import threading

import pytest

from manifest_client import AsyncRegistry, Registry
from tests.support.cluster import wait_until
from tests.support.http import call

pytestmark = pytest.mark.cluster


def test_sync_watch_survives_the_death_of_its_node(cluster):
    first = cluster.nodes[0]
    reg = Registry([first.url] + [n.url for n in cluster.nodes[1:]], timeout=2)
    got: list = []
    stop = threading.Event()

    def consume():
        for ev in reg.watch("w", since=0):
            got.append((ev.revision, ev.kind, ev.instance.id if ev.instance else None))
            if stop.is_set():
                return

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    for i in range(20):
        assert call(cluster.nodes[1].url, "POST", "/v1/services", {"name": "w", "id": f"a{i}"}).status == 201
    wait_until(lambda: len(got) >= 20, 5, what="first events")
    first.kill()  # the stream's node (listed first) dies
    survivor = cluster.nodes[2]
    for i in range(20):
        assert call(survivor.url, "POST", "/v1/services", {"name": "w", "id": f"b{i}"}).status == 201
    wait_until(lambda: len(got) >= 40, 10, what="events after the kill")
    stop.set()
    call(survivor.url, "POST", "/v1/services", {"name": "w", "id": "last"})
    t.join(5)
    revisions = [g[0] for g in got]
    assert revisions == sorted(set(revisions)), "gap-free order without duplicates"
    assert [g[2] for g in got[:40]] == [f"a{i}" for i in range(20)] + [f"b{i}" for i in range(20)]
    assert all(g[1] == "registered" for g in got)


async def test_async_watch_yields_changes_with_reasons(cluster):
    async with AsyncRegistry(cluster.urls) as reg:
        url = cluster.nodes[0].url
        # From the revision before the write, not from "now": the stream may
        # connect after the write on a slow machine, and must still see it.
        head = await asyncio.to_thread(cluster.wait_for_replication)
        stream = reg.watch("aw", since=head)
        task = asyncio.ensure_future(stream.__anext__())
        call(url, "POST", "/v1/services", {"name": "aw", "id": "x"})
        ev = await asyncio.wait_for(task, 5)
        assert ev.kind == "registered" and ev.instance.id == "x"
        call(url, "DELETE", "/v1/services/aw/x")
        ev = await asyncio.wait_for(stream.__anext__(), 5)
        assert ev.kind == "deregistered" and ev.reason == "owner"
        await stream.aclose()


def test_cli_watch_prints_json_lines(cluster):
    url = cluster.nodes[0].url
    for i in range(3):
        call(url, "POST", "/v1/services", {"name": "cw", "id": f"c{i}"})
    cluster.wait_for_replication()  # whichever node the CLI reaches holds all three
    out = subprocess.run([sys.executable, "-m", "manifest_node", "--url", ",".join(cluster.urls), "--json",
                          "watch", "cw", "--since", "0", "--count", "3"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(e["event"], e["instance"]["id"]) for e in lines] == [("registered", f"c{i}") for i in range(3)]


def test_live_discovery_follows_the_watch_and_goes_stale_when_all_nodes_die(cluster):
    url = cluster.nodes[0].url
    call(url, "POST", "/v1/services", {"name": "lv", "id": "a", "tags": ["x"]})
    reg = Registry(cluster.urls, live=True, timeout=1)
    assert [i.id for i in reg.discover("lv")] == ["a"]
    call(url, "POST", "/v1/services", {"name": "lv", "id": "b"})
    call(url, "PUT", "/v1/services/lv/a/heartbeat", {"status": "unhealthy"})
    wait_until(lambda: [i.id for i in reg.discover("lv")] == ["b"], 5, what="the view to follow")
    assert [i.id for i in reg.discover("lv", status=None, tags=["x"])] == ["a"]
    before = reg.discover("lv", status=None)
    assert not before.stale and {i.id for i in before} == {"a", "b"}
    for node in cluster.nodes:
        node.kill()
    wait_until(lambda: reg.discover("lv", status=None).stale, 5, what="the view to go stale")
    assert {i.id for i in reg.discover("lv", status=None)} == {"a", "b"}
    reg.close()


async def test_async_live_discovery_follows_the_watch(cluster):
    url = cluster.nodes[0].url
    call(url, "POST", "/v1/services", {"name": "alv", "id": "a"})
    async with AsyncRegistry(cluster.urls, live=True, timeout=1) as reg:
        assert [i.id for i in await reg.discover("alv")] == ["a"]
        call(url, "POST", "/v1/services", {"name": "alv", "id": "b"})
        for _ in range(50):
            if [i.id for i in await reg.discover("alv")] == ["a", "b"]:
                break
            await asyncio.sleep(0.1)
        assert [i.id for i in await reg.discover("alv")] == ["a", "b"]
        assert not (await reg.discover("alv")).stale
