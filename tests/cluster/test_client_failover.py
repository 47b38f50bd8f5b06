"""The client's heartbeat manager keeps an instance ``up`` while registry nodes die (issue 3).

Real 3-node clusters; the instance has a TTL of 2 s, so one missed second of
heartbeats would show up as ``down`` on the nodes polled every 0.1 s.

Note what the server contributes: a new leader gives every instance that
heartbeated during the previous term a full TTL from its first tick, so the
election gap itself is covered by the registry.  What these tests pin down is
the client's part: finding the new leader (or any live node) within that TTL,
also when the only node it was given is the one that died.
"""

from __future__ import annotations

import time

import pytest

from manifest_client import Registry
from tests.support.cluster import wait_until

pytestmark = pytest.mark.cluster

WATCH_SECONDS = 5.0
POLL_INTERVAL = 0.1


class Watch:
    """What every live node said about one instance, polled every 0.1 s."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str, str]] = []  # (seconds since start, node id, status or "missing")
        self.errors: list[tuple[float, str, str]] = []  # a live node that did not answer
        self.discovered: list[tuple[float, object]] = []  # what the client's own discover() returned
        self.max_failures = 0

    def bad(self) -> list[tuple[float, str, str]]:
        return [s for s in self.seen if s[2] != "up"]

    def answers(self, node_id: str) -> int:
        return sum(1 for s in self.seen if s[1] == node_id)


def watch(cluster, me, seconds: float = WATCH_SECONDS, reg: Registry | None = None) -> Watch:
    """Poll every live node for ``me`` (and, with ``reg``, discover it through the client)."""
    out = Watch()
    t0 = time.monotonic()
    while (now := time.monotonic()) - t0 < seconds:
        elapsed = round(now - t0, 2)
        for node in cluster.alive():
            try:
                r = node.get(f"/v1/services/{me.name}/{me.id}", timeout=2)
            except OSError as exc:
                out.errors.append((elapsed, node.id, repr(exc)))
                continue
            if r.status == 200:
                out.seen.append((elapsed, node.id, r.body["status"]))
            elif r.status == 404:
                out.seen.append((elapsed, node.id, "missing"))
            else:
                out.errors.append((elapsed, node.id, f"HTTP {r.status}"))
        if reg is not None:
            try:
                out.discovered.append((elapsed, [i.id for i in reg.discover(me.name)]))
            except Exception as exc:  # recorded, asserted on below
                out.discovered.append((elapsed, exc))
        out.max_failures = max(out.max_failures, me.consecutive_failures)
        time.sleep(POLL_INTERVAL)
    return out


def assert_always_up(cluster, w: Watch) -> None:
    assert not w.bad(), f"instance seen not up: {w.bad()[:20]}"
    for node in cluster.alive():
        # Each live node must really have been looked at, all along (>= 2.5 answers/s even on a busy box).
        assert w.answers(node.id) >= 2.5 * WATCH_SECONDS, (node.id, w.answers(node.id), w.errors[:10])


def test_instance_stays_up_when_the_only_node_it_was_given_and_talks_to_is_killed(cluster):
    # One seed, which is the leader: heartbeats (writes) and discover() (reads) both go there,
    # and the client knows the other nodes only from /v1/cluster.
    seed = cluster.leader()
    reg = Registry(seed.url)
    try:
        with reg.register("seeded", ttl=2, port=8080, handle_signals=False) as me:
            cluster.wait_for_replication()
            assert sorted(reg.endpoints) == sorted(cluster.urls)
            assert reg.leader == seed.url
            assert [i.id for i in reg.discover("seeded")] == [me.id]
            killed_at = time.time()
            seed.kill()
            w = watch(cluster, me, reg=reg)
            assert_always_up(cluster, w)
            # The client's own reads failed over too, and never lost the instance.
            assert all(found == [me.id] for _, found in w.discovered), w.discovered
            assert me.running
            assert me.last_success is not None and me.last_success > killed_at + WATCH_SECONDS - 2
            assert reg.leader == cluster.leader().url
    finally:
        reg.close()


def test_instance_stays_up_when_the_leader_is_killed(cluster):
    reg = Registry(cluster.urls)
    try:
        with reg.register("led", ttl=2, port=8080, handle_signals=False) as me:
            leader = cluster.leader()
            # Heartbeats are writes: the client sends them to the leader it was told about.
            wait_until(lambda: reg.leader == leader.url, 3, what="the client to know the leader")
            cluster.wait_for_replication()
            killed_at = time.time()
            leader.kill()
            w = watch(cluster, me)
            assert_always_up(cluster, w)
            new_leader = cluster.leader()
            assert new_leader is not leader
            wait_until(lambda: reg.leader == new_leader.url, 3, what="the client to follow the new leader")
            assert me.running
            assert me.last_success is not None and me.last_success > killed_at + WATCH_SECONDS - 2
            # A kill costs at most a few fast retries, never a TTL's worth of silence.
            assert w.max_failures <= 3, w.max_failures
    finally:
        reg.close()
