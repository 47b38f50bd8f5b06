"""POST /v1/heartbeats on a real cluster: through a follower, with the client, keeping a fleet up."""

import time

import pytest

from manifest_client import Registry
from tests.support.http import call

pytestmark = pytest.mark.cluster


def test_a_batch_through_a_follower_keeps_every_instance_up_past_its_ttl(cluster):
    follower = cluster.followers()[0]
    for i in range(50):
        assert call(follower.url, "POST", "/v1/services", {"name": "fleet", "id": f"f{i}", "ttl": 3}).status == 201
    # Registered last, never heartbeated: once it is down, every other instance
    # has outlived its ttl too, by the leader's clock, however slow this machine.
    assert call(follower.url, "POST", "/v1/services", {"name": "fleet", "id": "silent", "ttl": 3}).status == 201
    items = [{"name": "fleet", "id": f"f{i}"} for i in range(50)] + [{"name": "fleet", "id": "never"}]
    deadline = time.monotonic() + 30
    while status(follower, "silent") != "down":
        assert time.monotonic() < deadline, "the instance without heartbeats never went down"
        r = call(follower.url, "POST", "/v1/heartbeats", {"heartbeats": items})
        assert r.status == 200
        assert [x["ok"] for x in r.body["results"]] == [True] * 50 + [False]
        time.sleep(0.3)  # a tenth of the ttl: a stall of 2.7 s would be needed to miss one
    for node in cluster.nodes:
        instances = node.get("/v1/services/fleet?consistency=linearizable").body["instances"]
        statuses = {i["id"]: i["status"] for i in instances}
        assert statuses.pop("silent") == "down" and list(statuses.values()) == ["up"] * 50, (node.id, statuses)


def status(node, iid: str) -> str:
    return node.get(f"/v1/services/fleet/{iid}").body["status"]


def test_client_heartbeat_many_reports_who_must_register_again(cluster):
    with Registry([n.url for n in cluster.nodes]) as reg:
        reg.register_instance({"name": "batch", "id": "a", "port": 1})
        results = reg.heartbeat_many([("batch", "a", "unhealthy"), ("batch", "b")])
        assert [(r["id"], r["ok"]) for r in results] == [("a", True), ("b", False)]
        assert results[0]["status"] == "unhealthy" and results[1]["error"] == "not_found"
        assert reg.get("batch", "a").status == "unhealthy"
