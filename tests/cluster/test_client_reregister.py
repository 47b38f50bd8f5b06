"""The heartbeat manager registers again when the registry forgot its instance (issue 3).

Two ways to be forgotten, both on a real cluster: someone deregisters the
instance behind the client's back, and the instance really expires (goes
``down`` and is removed after the grace period) while the client cannot reach
the registry.  Either way the next heartbeat gets a 404 and the handle must
register again by itself.
"""

from __future__ import annotations

import threading
import time

import pytest

from manifest_client import ConnectionFailed, Registry, SyncTransport
from tests.support.cluster import Cluster, wait_until
from tests.support.http import call

pytestmark = pytest.mark.cluster

DOWN_GRACE = 0.5


def _views(c: Cluster) -> str:
    """Each node's own view (health and members), to tell why a cluster is not ready."""
    out = []
    for n in c.nodes:
        try:
            h, m = n.health(), n.get("/v1/cluster", timeout=1)
            out.append(f"{n.id} alive={n.alive} health={h.status} {h.body} members={m.body.get('members')}")
        except OSError as exc:
            out.append(f"{n.id} alive={n.alive} {n.url}: {exc!r}")
    return "\n".join(out)


def _start(c: Cluster, timeout: float = 40) -> None:
    """``c.start()``, but giving up at once when a node exits (instead of waiting out the timeout)."""
    for n in c.nodes:
        n.start()
    deadline = time.monotonic() + timeout  # generous: a loaded 2-core box can take long to start Pythons
    while True:
        if not all(n.alive for n in c.nodes):
            raise AssertionError("a node exited during start-up")
        try:
            c.wait_ready(timeout=1, nodes=c.nodes)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


@pytest.fixture
def cluster(tmp_path):
    """The conftest cluster, but removing ``down`` instances after 0.5 s instead of 60 s."""
    for attempt in (1, 2):
        base = tmp_path / f"start{attempt}"
        base.mkdir()
        c = Cluster(base, extra=["--down-grace", str(DOWN_GRACE)])
        try:
            _start(c)
            break
        except AssertionError as exc:
            views, died = _views(c), [n.id for n in c.nodes if not n.alive]
            c.stop()  # no node may outlive the test
            # free_port() only finds ports that were free a moment ago: on a busy box another
            # process may bind one first and a node dies with "address already in use".
            if attempt == 1 and died:
                continue
            raise AssertionError(f"{exc}\n{views}\n{c.logs()}") from None
    try:
        yield c
    finally:
        c.stop()


class PartitionableTransport(SyncTransport):
    """The real transport, except that while ``cut`` is set nothing reaches the registry."""

    def __init__(self) -> None:
        super().__init__()
        self.cut = threading.Event()
        self.refused = 0

    def handle_request(self, request):
        if self.cut.is_set():
            self.refused += 1
            raise ConnectionFailed("partitioned by the test", sent=False, endpoint=request.endpoint)
        return super().handle_request(request)


def states(cluster, name: str, iid: str) -> list[str | None]:
    """The instance's status on every live node (``None`` where it is unknown)."""
    out = []
    for node in cluster.alive():
        r = node.get(f"/v1/services/{name}/{iid}", timeout=2)
        assert r.status in (200, 404), (node.id, r.status, r.body)
        out.append(r.body["status"] if r.status == 200 else None)
    return out


def test_instance_is_registered_again_when_deregistered_behind_its_back_or_expired(cluster):
    transport = PartitionableTransport()
    reg = Registry(cluster.urls, transport=transport)
    try:
        with reg.register("phoenix", ttl=2, port=9000, version="1.0.0", handle_signals=False) as me:
            first = me.record
            assert first.registered_at is not None
            cluster.wait_for_replication()
            assert states(cluster, "phoenix", me.id) == ["up"] * 3

            # 1. Someone deletes it: the next heartbeat (<= 0.67 s later) gets 404 and registers again.
            time.sleep(0.01)  # registered_at has millisecond resolution
            r = call(cluster.leader().url, "DELETE", f"/v1/services/phoenix/{me.id}")
            assert r.status == 200, r.body
            wait_until(lambda: me.record.registered_at != first.registered_at, 3,
                       what="the handle to register again")
            cluster.wait_for_replication(me.record.revision)
            assert states(cluster, "phoenix", me.id) == ["up"] * 3
            record = call(cluster.nodes[0].url, "GET", f"/v1/services/phoenix/{me.id}").body
            # The same instance (same id, same fields), but a new registration.
            assert record["version"] == "1.0.0" and record["port"] == 9000 and record["ttl"] == 2
            assert record["registered_at"] != first.registered_at
            assert record["revision"] > r.body["revision"]  # written after the deletion
            assert me.running

            # 2. It really expires: the client cannot reach the registry for longer than
            # TTL + grace, so the instance goes down and is then removed.
            transport.cut.set()
            cut_at = time.monotonic()
            seen: set[str | None] = set()

            def removed_everywhere():
                now = states(cluster, "phoenix", me.id)
                seen.update(now)
                return now == [None] * 3

            # ttl 2 s + up to 1 s tick + 0.5 s grace + up to 1 s tick.
            wait_until(removed_everywhere, 7, interval=0.1, what="expiry and removal")
            assert "down" in seen, seen  # it really expired before it was removed
            assert transport.refused > 0 and me.consecutive_failures > 0
            healed_at = time.monotonic()
            assert healed_at - cut_at > 2  # gone for longer than its TTL
            transport.cut.clear()
            # A failed beat is retried within the interval (0.67 s): it gets 404 and registers again.
            wait_until(lambda: states(cluster, "phoenix", me.id) == ["up"] * 3, 4, interval=0.1,
                       what="registration again after the partition healed")
            # The handle knows it, too (on a very busy box the registration may have committed
            # after its short timeout; then the next beat, 0.5 s later, confirms it).
            wait_until(lambda: me.consecutive_failures == 0 and me.last_error is None, 3,
                       what="the handle to see its heartbeats succeed again")
            assert me.running
        # Closing still deregisters the re-registered record.
        cluster.wait_for_replication()
        assert states(cluster, "phoenix", me.id) == [None] * 3
    finally:
        reg.close()
