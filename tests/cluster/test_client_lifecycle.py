"""The client against a real cluster: SIGTERM, stale-if-error discovery, and the asyncio twin (issue 3)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from manifest_client import AsyncRegistry, ConnectionFailed, NotFound, Registry
from tests.support.http import call

pytestmark = pytest.mark.cluster


def states(cluster, name: str, iid: str) -> list[str | None]:
    """The instance's status on every live node (``None`` where it is unknown)."""
    out = []
    for node in cluster.alive():
        r = node.get(f"/v1/services/{name}/{iid}", timeout=2)
        assert r.status in (200, 404), (node.id, r.status, r.body)
        out.append(r.body["status"] if r.status == 200 else None)
    return out


# A service as its authors would write it: register, then do its work until told to stop.
CHILD = """
import sys, time
from manifest_client import Registry

with Registry(sys.argv[1]).register("worker", id=sys.argv[2], ttl=30, port=7000) as me:
    print("registered", me.id, flush=True)
    time.sleep(60)
print("the with block ended without a signal", flush=True)
"""


def test_sigterm_deregisters_and_still_terminates_the_process(cluster):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")}
    seed = cluster.followers()[0].url
    child = subprocess.Popen([sys.executable, "-c", CHILD, seed, "worker-1"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().split() == ["registered", "worker-1"], child.stderr.read()
        cluster.wait_for_replication()
        assert states(cluster, "worker", "worker-1") == ["up"] * 3
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=10)
    finally:
        child.kill()
    # The default action of SIGTERM was kept: the process died of it, without running on.
    assert child.returncode == -signal.SIGTERM, (child.returncode, out, err)
    assert "ended without a signal" not in out
    assert "Traceback" not in err, err
    # The deregistration was acknowledged before the process died: a linearizable
    # read on any node sees it gone at once (the TTL of 30 s cannot have done it).
    for node in cluster.alive():
        r = node.get("/v1/services/worker/worker-1?consistency=linearizable", timeout=5)
        assert r.status == 404, (node.id, r.status, r.body)
    cluster.wait_for_replication()
    assert states(cluster, "worker", "worker-1") == [None] * 3


def test_discover_serves_the_cached_list_flagged_stale_when_every_node_is_down(cluster):
    leader = cluster.leader()
    for i in range(3):
        r = call(leader.url, "POST", "/v1/services",
                 {"name": "cached", "id": f"cached-{i}", "ttl": 600, "tags": ["blue"], "port": 8000 + i})
        assert r.status == 201, r.body
    cluster.wait_for_replication()
    reg = Registry(cluster.nodes[0].url, cache=True)
    plain = Registry(cluster.urls)  # no cache: must raise
    try:
        fresh = reg.discover("cached")
        fresh_blue = reg.discover("cached", tags=["blue"])
        assert sorted(i.id for i in fresh) == ["cached-0", "cached-1", "cached-2"]
        assert fresh.stale is False and fresh_blue.stale is False
        assert len(fresh_blue) == 3
        assert [i.id for i in plain.discover("cached")] == [i.id for i in fresh]

        for node in cluster.nodes:
            node.kill()

        started = time.monotonic()
        stale = reg.discover("cached")
        assert time.monotonic() - started < 5
        assert stale.stale is True
        assert [i.to_dict() for i in stale] == [i.to_dict() for i in fresh]
        assert stale.revision == fresh.revision
        stale_blue = reg.discover("cached", tags=["blue"])  # cached per query
        assert stale_blue.stale is True and len(stale_blue) == 3
        with pytest.raises(ConnectionFailed):
            reg.discover("cached", tags=["green"])  # never asked before: nothing to fall back on
        with pytest.raises(ConnectionFailed):
            plain.discover("cached")
        with pytest.raises(ConnectionFailed):
            reg.list_instances(service="cached")  # the cache is for discover() only
    finally:
        reg.close()
        plain.close()


async def _states(cluster, name, iid):
    return await asyncio.to_thread(states, cluster, name, iid)


async def test_async_registration_heartbeats_through_a_leader_kill_and_discovers(cluster):
    async with AsyncRegistry(cluster.urls) as reg:
        async with reg.register("async-svc", ttl=2, port=8081, tags=["blue"], version="2.1.0",
                                handle_signals=False) as me:
            assert me.running
            found = await reg.discover("async-svc")
            assert [(i.id, i.status, i.tags, i.version) for i in found] == [(me.id, "up", ["blue"], "2.1.0")]
            assert [i.id for i in await reg.discover("async-svc", tags=["blue"], version=">=2,<3")] == [me.id]
            assert await reg.discover("async-svc", tags=["green"]) == []
            assert await reg.discover("never-registered") == []

            # The heartbeat task (not a thread) keeps it up through the loss of the leader.
            await asyncio.to_thread(cluster.wait_for_replication)
            leader = cluster.leader()
            await asyncio.to_thread(leader.kill)
            seen: list[list[str | None]] = []
            # Past two ttls, and at least five looks: a loaded machine polls
            # less often, so it polls for longer instead of failing a count.
            window = time.monotonic() + 4.5
            while time.monotonic() < window or len(seen) < 5:
                seen.append(await _states(cluster, "async-svc", me.id))
                await asyncio.sleep(0.1)
            assert all(s == ["up", "up"] for s in seen), [s for s in seen if s != ["up", "up"]][:10]
            assert me.running
            for _ in range(30):  # a beat that timed out on a busy box is confirmed by the next one
                if me.consecutive_failures == 0:
                    break
                await asyncio.sleep(0.1)
            assert me.consecutive_failures == 0, me.last_error

            # Forgotten by the registry, it registers again by itself.
            first = me.record.registered_at
            new_leader = await asyncio.to_thread(cluster.leader)
            r = await asyncio.to_thread(call, new_leader.url, "DELETE", f"/v1/services/async-svc/{me.id}")
            assert r.status == 200, r.body
            for _ in range(40):
                await asyncio.sleep(0.1)
                if me.record.registered_at != first:
                    break
            assert me.record.registered_at != first
            assert [i.id for i in await reg.discover("async-svc")] == [me.id]

        # Leaving the block deregistered it.
        assert not me.running
        await asyncio.to_thread(cluster.wait_for_replication)
        assert await reg.discover("async-svc") == []
        with pytest.raises(NotFound):
            await reg.get("async-svc", me.id)
        assert await _states(cluster, "async-svc", me.id) == [None, None]
