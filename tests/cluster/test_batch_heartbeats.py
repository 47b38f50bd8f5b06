"""POST /v1/heartbeats on a real cluster: through a follower, with the client, keeping a fleet up."""

import time

import pytest

from manifest_client import Registry
from tests.support.http import call

pytestmark = pytest.mark.cluster


def test_a_batch_through_a_follower_keeps_every_instance_up_past_its_ttl(cluster):
    follower = cluster.followers()[0]
    for i in range(50):
        assert call(follower.url, "POST", "/v1/services", {"name": "fleet", "id": f"f{i}", "ttl": 2}).status == 201
    items = [{"name": "fleet", "id": f"f{i}"} for i in range(50)] + [{"name": "fleet", "id": "never"}]
    until = time.monotonic() + 5.0  # 2.5 ttls
    while time.monotonic() < until:
        r = call(follower.url, "POST", "/v1/heartbeats", {"heartbeats": items})
        assert r.status == 200
        assert [x["ok"] for x in r.body["results"]] == [True] * 50 + [False]
        time.sleep(0.5)
    for node in cluster.nodes:
        statuses = {i["status"] for i in node.get("/v1/services/fleet?consistency=linearizable").body["instances"]}
        assert statuses == {"up"}, node.id


def test_client_heartbeat_many_reports_who_must_register_again(cluster):
    with Registry([n.url for n in cluster.nodes]) as reg:
        reg.register_instance({"name": "batch", "id": "a", "port": 1})
        results = reg.heartbeat_many([("batch", "a", "unhealthy"), ("batch", "b")])
        assert [(r["id"], r["ok"]) for r in results] == [("a", True), ("b", False)]
        assert results[0]["status"] == "unhealthy" and results[1]["error"] == "not_found"
        assert reg.get("batch", "a").status == "unhealthy"
