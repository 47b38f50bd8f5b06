"""The leader's expiry clock on a real cluster."""

import threading
import time

import pytest

from tests.support.cluster import wait_until
from tests.support.http import call

pytestmark = pytest.mark.cluster


def status_everywhere(cluster, name, iid):
    out = []
    for node in cluster.alive():
        r = node.get(f"/v1/services/{name}/{iid}", timeout=2)
        out.append(r.body["status"] if r.status == 200 else None)
    return out


def test_silent_instance_turns_down_on_every_node_within_ttl_plus_slack(cluster):
    r = call(cluster.nodes[0].url, "POST", "/v1/services", {"name": "quiet", "id": "q1", "ttl": 2})
    assert r.status == 201
    registered = time.monotonic()
    wait_until(lambda: status_everywhere(cluster, "quiet", "q1") == ["down"] * 3, 6, interval=0.05,
               what="down everywhere")
    assert time.monotonic() - registered <= 2 + 1.5


def test_heartbeating_instance_stays_up_through_a_leader_kill(cluster):
    stop = threading.Event()
    urls = cluster.urls

    def heartbeat():
        i = 0
        while not stop.is_set():
            for k in range(len(urls)):  # fail over like a client would
                try:
                    if call(urls[(i + k) % len(urls)], "PUT", "/v1/services/busy/b1/heartbeat",
                            timeout=1).status == 200:
                        break
                except OSError:
                    pass
            i += 1
            stop.wait(0.6)

    assert call(urls[0], "POST", "/v1/services", {"name": "busy", "id": "b1", "ttl": 2}).status == 201
    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    seen = set()
    try:
        time.sleep(1)
        cluster.leader().kill()
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            seen.update(status_everywhere(cluster, "busy", "b1"))
            time.sleep(0.1)
    finally:
        stop.set()
        beat.join()
    assert seen == {"up"}, seen
