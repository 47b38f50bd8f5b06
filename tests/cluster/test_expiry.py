"""The leader's expiry clock on a real cluster."""

import threading
import time

import pytest

from tests.support.http import call

pytestmark = pytest.mark.cluster


def status_everywhere(cluster, name, iid):
    out = []
    for node in cluster.alive():
        r = node.get(f"/v1/services/{name}/{iid}", timeout=2)
        out.append(r.body["status"] if r.status == 200 else None)
    return out


def test_silent_instance_turns_down_on_every_node_within_ttl_plus_slack(cluster):
    ttl, tick, slack = 2, 1, 3  # slack: replication, and a loaded machine's late timers
    sent = time.monotonic()
    r = call(cluster.nodes[0].url, "POST", "/v1/services", {"name": "quiet", "id": "q1", "ttl": ttl})
    assert r.status == 201
    while True:
        seen = status_everywhere(cluster, "quiet", "q1")
        answered = time.monotonic()
        # The leader registered it after `sent`: an answer showing it down that
        # came back sooner than `sent + ttl` is an early expiry, however loaded the machine.
        assert "down" not in seen or answered >= sent + ttl, f"down {answered - sent:.2f}s after registration"
        if seen == ["down"] * 3:
            break
        assert answered < sent + ttl + tick + slack, f"still {seen} {answered - sent:.1f}s after registration"
        time.sleep(0.05)


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
