"""A restarted follower replaying a long journal does not depose a healthy leader."""

import pytest

from tests.support.cluster import Cluster, wait_until

pytestmark = pytest.mark.cluster

INSTANCES, BATCH = 60_000, 500
# No snapshot: the whole fleet stays in the journal, which the restarted follower replays on its tick thread.
NO_COMPACTION = ["--compaction-entries", "1000000", "--compaction-interval", "100000"]


def term_and_leader(node) -> tuple:
    body = node.get("/v1/cluster", timeout=5).body
    return body["term"], body["leader"]


def test_a_follower_replaying_its_journal_at_start_does_not_campaign(tmp_path):
    """Replaying the committed tail at start held the tick thread past the election timeout, and its next
    tick campaigned before reading the leader's appends waiting on its socket (the scale run: an election
    whenever a follower restarted). It now reads them first."""
    cluster = Cluster(tmp_path, extra=NO_COMPACTION)
    cluster.start()
    try:
        leader = cluster.leader()
        for start in range(0, INSTANCES, BATCH):
            body = {"instances": [{"name": f"s{i % 50}", "id": f"i{i}", "ttl": 3600}
                                  for i in range(start, start + BATCH)]}
            reply = leader.call("POST", "/v1/services/batch", body, timeout=30)
            assert reply.status in (200, 201), reply.body
        revision = cluster.wait_for_replication(timeout=60)
        before = term_and_leader(leader)
        follower = cluster.followers()[0]
        follower.kill()
        follower.start()

        def caught_up():
            h = follower.health()
            return h.status == 200 and h.body["revision"] >= revision
        wait_until(caught_up, 90, what="the restarted follower replayed its journal")
        after = [term_and_leader(n) for n in cluster.nodes]
        if after != [before] * 3:
            pytest.fail(f"an election: {before} before, {after} after\n{cluster.logs()}")
        assert "became leader" not in follower.log_text().split("node starting")[-1]
    finally:
        cluster.stop()
