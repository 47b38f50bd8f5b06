"""The failover order, the node candidates of a region, and the ?region=* merge: pure, no I/O."""

from manifest_node.federation.directory import Directory
from manifest_node.federation.merge import count, merged
from manifest_node.federation.policy import FailoverPolicy


def directory() -> Directory:
    return Directory("us", {"eu": ("http://e1", "http://e2"), "ap": ("http://a1",), "sa": ("http://s1",)})


def test_the_service_list_beats_the_default_and_unhealthy_regions_are_skipped():
    d = directory()
    policy = FailoverPolicy("us", ("eu", "ap"), {"api": ("ap", "sa", "us")})
    assert policy.order("web", d) == (["eu", "ap"], [])  # nothing probed yet: ask them all
    d.get("ap").nodes[0].failed("ConnectionRefusedError")
    d.get("sa").nodes[0].succeeded(5.0)
    assert policy.order("api", d) == (["sa"], ["ap"])  # the own region in a list is never "failed over" to
    assert policy.order("web", d) == (["eu"], ["ap"])
    assert FailoverPolicy("us", (), {}).order("web", d) == ([], [])  # no list: no failover


def test_nearest_orders_the_healthy_regions_by_round_trip_time():
    d = directory()
    d.get("eu").nodes[0].succeeded(40.0)
    d.get("ap").nodes[0].succeeded(9.0)
    d.get("sa").nodes[0].failed("TimeoutError")
    policy = FailoverPolicy("us", ("sa",), {})
    assert policy.order("web", d, "nearest") == (["ap", "eu"], ["sa"])


def test_a_region_offers_its_fastest_healthy_node_first_and_skips_one_that_just_failed():
    d = directory()
    e1, e2 = d.get("eu").nodes
    e1.succeeded(30.0)
    e2.succeeded(3.0)
    assert [n.url for n in d.get("eu").candidates()] == ["http://e2", "http://e1"]
    e2.failed("ConnectionResetError")
    assert [n.url for n in d.get("eu").candidates()] == ["http://e1"]
    e1.failed("TimeoutError")
    assert d.get("eu").candidates() == [] and not d.get("eu").healthy
    view = d.get("eu").view()
    assert view["healthy"] is False and {n["circuit"] for n in view["nodes"]} == {"open"}
    e2.open_until = 0.0  # back-off over: tried again, after any healthy node
    assert [n.url for n in d.get("eu").candidates()] == ["http://e2"]


def test_the_merge_labels_every_record_and_lists_who_did_not_answer():
    status, body = merged(["us", "eu", "ap"], {
        "us": (200, {"instances": [{"name": "api", "id": "a"}], "revision": 7}),
        "eu": (200, {"instances": [{"name": "api", "id": "b"}, {"name": "api", "id": "c"}], "revision": 3}),
        "ap": "no node of region 'ap' answered"})
    assert status == 200
    assert [(r["id"], r["region"]) for r in body["instances"]] == [("a", "us"), ("b", "eu"), ("c", "eu")]
    assert body["unavailable"] == ["ap"]
    assert body["regions"]["eu"] == {"status": 200, "count": 2, "revision": 3}
    assert body["regions"]["ap"]["status"] == 503


def test_the_merge_is_404_only_when_every_region_answered_404():
    nobody = {"error": {"code": "not_found", "message": "no service"}}
    assert merged(["us", "eu"], {"us": (404, nobody), "eu": (404, nobody)})[0] == 404
    status, body = merged(["us", "eu"], {"us": (404, nobody), "eu": "timeout"})
    assert status == 200 and body["instances"] == [] and body["unavailable"] == ["eu"]
    status, body = merged(["us", "eu"], {"us": (404, nobody), "eu": (200, {"name": "api", "id": "x"})})
    assert status == 200 and body["instances"] == [{"name": "api", "id": "x", "region": "eu"}]


def test_count_knows_lists_and_single_records():
    assert count({"instances": [{}, {}]}) == 2 and count({"name": "a", "id": "b"}) == 1
    assert count({"instances": []}) == 0 and count({"error": {}}) == 0 and count(None) == 0
