"""A real 3-node cluster whose every series exists, scraped once for the rule and dashboard checks.

Series appear only once there is something to count (a route's latency at
its first request, a refused heartbeat's code, a follower's apply lag at the
first divergence check, the snapshot's size once one is written), so the
cluster is given instances, heartbeats, a refused heartbeat, a refused
registration, a blocking read, an expiry and a snapshot before its nodes are scraped.
"""

from __future__ import annotations

import pathlib

import pytest

from tests.support.cluster import Cluster, wait_until
from tests.support.scrape import scrape

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Prometheus makes ``up`` itself for every target; no exporter has it.
SYNTHETIC = {"up"}


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> set[str]:
    """Every sample name the cluster's nodes expose, leader and followers together."""
    tmp = tmp_path_factory.mktemp("monitored")
    # Voters compact in turn, each in its slice of compaction_interval: a short one lets the leader
    # write its snapshot within seconds.
    extra = ["--compaction-entries", "10", "--compaction-interval", "3", "--divergence-check-interval", "0.3",
             "--tick-interval", "0.2", "--max-instances-per-service", "12"]
    with Cluster(tmp, extra=extra) as c:
        leader = c.leader()
        for i in range(12):
            r = leader.call("POST", "/v1/services", {"name": "web", "id": f"w{i}", "ttl": 1 if i == 0 else 60})
            assert r.status in (200, 201), r.body
        # One past max_instances_per_service: a limit refusal.
        assert leader.call("POST", "/v1/services", {"name": "web", "id": "w12"}).status == 429
        assert leader.call("PUT", "/v1/services/web/w1/heartbeat").status == 200
        assert leader.call("PUT", "/v1/services/web/unknown/heartbeat").status == 404
        assert leader.call("GET", "/v1/services/web").status == 200
        revision = leader.call("GET", "/v1/services").body["revision"]
        assert leader.call("GET", f"/v1/services?index={revision}&wait=10ms").status == 200

        def complete():
            s = scrape(leader)
            return (s.value("manifest_expirations_total") >= 1 and s.value("manifest_snapshot_size_bytes")
                    and s.series("manifest_raft_follower_apply_lag_entries"))

        wait_until(complete, 60, what="an expiry, a snapshot and the followers' apply lag on the leader")
        names = set()
        for node in c.nodes:
            names |= scrape(node).names()
        return names | SYNTHETIC
