"""/metrics of real nodes (issue 15, point 2): replication lag, expiry and heartbeat counters, storage, process.

Each figure is checked against what the test did to the cluster, not only
for its presence: docs/operations.md, "Monitoring", says what each means.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.cluster import Cluster, wait_until
from tests.support.scrape import scrape

pytestmark = pytest.mark.cluster


def register(node, name: str, iid: str, ttl: float = 30) -> None:
    r = node.call("POST", "/v1/services", {"name": name, "id": iid, "address": "10.0.0.1", "port": 80, "ttl": ttl})
    assert r.status in (200, 201), r.body


def test_the_leader_reports_each_followers_lag_and_counts_expiries_alone(tmp_path):
    with Cluster(tmp_path, extra=["--divergence-check-interval", "0.3", "--tick-interval", "0.2"]) as c:
        leader = c.leader()
        followers = c.followers()
        for i in range(2):
            register(leader, "brief", f"b{i}", ttl=1)
        wait_until(lambda: scrape(leader).value("manifest_expirations_total") == 2, 30,
                   what="the leader to count both expiries")
        ids = {f.id for f in followers}

        def lags(name):
            return {dict(labels)["follower"]: v for labels, v in scrape(leader).series(name).items()}

        wait_until(lambda: set(lags("manifest_raft_follower_apply_lag_entries")) == ids, 30,
                   what="an apply lag for each follower")
        assert set(lags("manifest_raft_follower_commit_lag_entries")) == ids
        for f in followers:
            s = scrape(f)
            # Followers apply the same expiries but do not count them: the cluster's figure is the sum.
            assert s.value("manifest_expirations_total") == 0
            assert not s.series("manifest_raft_follower_commit_lag_entries")
            assert s.value("manifest_raft_role", role="follower") == 1
            assert s.value("manifest_raft_leader_last_contact_seconds") is not None

        gone = followers[0]
        gone.kill()
        for i in range(5):
            register(leader, "web", f"w{i}")
        # The dead follower holds none of the five; the live one holds them all.
        wait_until(lambda: lags("manifest_raft_follower_commit_lag_entries").get(gone.id, 0) >= 5, 30,
                   what="the dead follower's commit lag to grow")
        wait_until(lambda: gone.id not in lags("manifest_raft_follower_apply_lag_entries"), 30,
                   what="no apply figure for a follower that does not answer")
        live = followers[1].id
        wait_until(lambda: lags("manifest_raft_follower_commit_lag_entries").get(live) == 0, 30,
                   what="the live follower to hold every committed entry")


def test_heartbeats_failures_and_expiries_are_counted_once_across_a_restart(tmp_path):
    with Cluster(tmp_path, size=1, extra=["--tick-interval", "0.2", "--down-grace", "1"]) as c:
        node = c.nodes[0]
        register(node, "web", "w0")
        register(node, "brief", "b0", ttl=1)
        assert node.call("PUT", "/v1/services/web/w0/heartbeat").status == 200
        assert node.call("PUT", "/v1/services/web/nope/heartbeat").status == 404
        r = node.call("POST", "/v1/heartbeats", {"heartbeats": [{"name": "web", "id": "w0"},
                                                                {"name": "web", "id": "gone"}]})
        assert r.status == 200
        assert node.call("PUT", "/v1/agent/check/pass/service:w0").status == 200  # Consul's heartbeat
        s = scrape(node)
        assert s.value("manifest_heartbeats_total") == 5
        assert s.series("manifest_heartbeat_failures_total") == {frozenset({("code", "not_found")}): 2}
        wait_until(lambda: scrape(node).value("manifest_removals_total") == 1, 30,
                   what="b0 to expire and be removed after the grace period")
        assert scrape(node).value("manifest_expirations_total") == 1

        c.restart(node)
        c.wait_ready()
        # The replayed journal holds that expiry: it is not counted a second time.
        s = scrape(node)
        assert (s.value("manifest_expirations_total"), s.value("manifest_removals_total")) == (0, 0)
        assert s.value("manifest_heartbeats_total") == 0
        register(node, "brief", "b1", ttl=1)
        wait_until(lambda: scrape(node).value("manifest_expirations_total") == 1, 30, what="b1 to expire")


def test_storage_process_and_blocking_read_figures(tmp_path):
    with Cluster(tmp_path, size=1, extra=["--compaction-entries", "10"]) as c:
        node = c.nodes[0]
        for i in range(30):
            register(node, "web", f"w{i}")
        wait_until(lambda: (scrape(node).value("manifest_snapshots_written_total") or 0) >= 1, 30,
                   what="a snapshot past 10 journal entries")
        # Compaction may still be writing a later snapshot (every 10 entries): the size reported is the
        # file's once the two agree, which they must do as soon as the writing stops.
        snapshot = tmp_path / "n1" / "raft.snapshot"
        wait_until(lambda: scrape(node).value("manifest_snapshot_size_bytes") == snapshot.stat().st_size, 30,
                   what="the reported snapshot size to be the file's")
        s = scrape(node)
        assert s.value("manifest_snapshot_age_seconds") >= 0 and s.value("manifest_snapshot_failing") == 0
        assert s.value("manifest_snapshot_failures_total") == 0
        assert s.value("manifest_journal_entries") < 30 and s.value("manifest_journal_size_bytes") > 0
        assert s.value("manifest_instances", status="up") == 30
        pid_start = s.value("process_start_time_seconds")
        assert time.time() - 600 < pid_start <= time.time()
        assert s.value("process_resident_memory_bytes") > 0 and s.value("process_open_fds") > 0
        assert s.value("process_cpu_seconds_total") > 0 and s.value("manifest_uptime_seconds") >= 0
        # The collector's work is visible (node/server.py makes its collections rare).
        assert s.value("python_gc_collections_total", generation="0") is not None

        # A blocking read is a waiting reader while it waits, and its wait is not latency.
        revision = node.get("/v1/services").body["revision"]
        answered = []
        reader = threading.Thread(target=lambda: answered.append(
            node.call("GET", f"/v1/services?index={revision}&wait=5s", timeout=30)))
        before = scrape(node).value("manifest_http_request_duration_seconds_sum",
                                    route="/v1/services", method="GET")
        reader.start()
        wait_until(lambda: scrape(node).value("manifest_blocking_reads") == 1, 10, what="a waiting reader")
        reader.join(30)
        assert answered and answered[0].status == 200
        s = scrape(node)
        assert s.value("manifest_blocking_reads") == 0
        # Without the wait taken out, the sum would have grown by at least the 5 s waited.
        served = s.value("manifest_http_request_duration_seconds_sum", route="/v1/services", method="GET")
        assert served - before < 5
