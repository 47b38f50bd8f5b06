"""Issue 13 in the pure state machine: checks, lifecycle, fencing, load coalescing, protection, tombstones."""

from pathlib import Path

from manifest_node.fsm import commands as C
from manifest_node.fsm import graph
from manifest_node.fsm.expiry import protection_view
from manifest_node.fsm.query import Query, run
from manifest_node.fsm.registry import RegistryState
from manifest_node.fsm.results import Code

FIXTURE = Path(__file__).parent / "fixtures" / "snapshot_format2.msgpack"
TICK = {"protect": [500, 3, 30_000, 600_000], "tomb": [3_600_000, 10_000]}


def apply(s, ts, *cmds, term=1):
    return s.apply(C.encode(ts, term, list(cmds)))


def reg(name="web", iid="w1", **fields):
    return C.register({"name": name, "id": iid, **fields})


def status(s, name="web", iid="w1"):
    return s.instances[(name, iid)].status


def test_a_format_2_snapshot_restores_and_keeps_working():
    s = RegistryState()
    s.restore(FIXTURE.read_bytes())
    assert {k: i.status for k, i in s.instances.items()} == {
        ("db", "d1"): "up", ("web", "w1"): "down", ("web", "w2"): "unhealthy"}
    assert s.instances[("web", "w1")].expired and s.idx.by_status["down"] == {("web", "w1")}
    assert graph.graph(s)["edges"][0]["satisfied"] is True
    out = apply(s, 10_000, C.heartbeat("web", "w1"))
    assert out.results[0].record["status"] == "up"
    again = RegistryState()
    again.restore(s.snapshot())
    assert again.digest_view() == s.digest_view()


def test_a_check_starts_the_instance_and_only_its_generation_and_term_count():
    s = RegistryState()
    gen = apply(s, 1000, reg(check={"http": "http://x/health"})).results[0].record["generation"]
    assert status(s) == "starting" and s.instances[("web", "w1")].expires_at is None
    assert apply(s, 1100, C.check("web", "w1", gen + 1, "up")).results[0].code is Code.STALE_GENERATION
    apply(s, 1200, C.check("web", "w1", gen, "up"), term=3)
    assert status(s) == "up"
    # A deposed leader's result (an older term) changes nothing.
    assert apply(s, 1300, C.check("web", "w1", gen, "down"), term=2).results[0].code is Code.STALE_GENERATION
    out = apply(s, 1400, C.check("web", "w1", gen, "unhealthy"), term=3)
    assert status(s) == "unhealthy" and [(e.kind, e.reason) for e in out.events] == [("status", "check")]


def test_a_check_only_instance_never_expires_but_a_failed_check_removes_it_after_grace():
    s = RegistryState()
    gen = apply(s, 0, reg(check={"tcp": "h:1"})).results[0].record["generation"]
    apply(s, 0, C.check("web", "w1", gen, "up"))
    apply(s, 10_000_000, C.tick(1000, TICK))
    assert status(s) == "up"
    apply(s, 10_000_100, C.check("web", "w1", gen, "down"))
    assert status(s) == "down"
    out = apply(s, 10_001_200, C.tick(1000, TICK))
    assert ("web", "w1") not in s.instances and out.events[0].reason == "grace"
    assert [r["removed"]["reason"] for r in s.tombstones.of("web")] == ["check_failed"]


def test_drain_deadline_removes_the_instance_at_the_leaders_tick():
    s = RegistryState()
    apply(s, 0, reg(ttl=60))
    out = apply(s, 100, C.drain("web", "w1", {"deadline_ms": 5000, "by": "operator"}))
    assert status(s) == "draining" and out.events[0].record["drain"]["by"] == "operator"
    assert run(s, Query(name="web", statuses=("up",)))[0] == []
    apply(s, 5000, C.tick(60_000, TICK))
    assert ("web", "w1") in s.instances
    out = apply(s, 5200, C.tick(60_000, TICK))
    assert ("web", "w1") not in s.instances and out.events[0].reason == "drained"
    assert s.tombstones.of("web")[0]["removed"]["reason"] == "drained"


def test_maintenance_is_never_expired_and_ends_with_a_fresh_ttl():
    s = RegistryState()
    apply(s, 0, reg(ttl=5))
    apply(s, 100, C.maintenance("web", "w1", {"on": True, "reason": "kernel"}))
    apply(s, 100_000, C.tick(1000, TICK))
    assert status(s) == "maintenance" and s.instances[("web", "w1")].mode_info["reason"] == "kernel"
    apply(s, 100_100, C.maintenance("web", "w1", {"on": False}))
    assert status(s) == "up"
    apply(s, 104_000, C.tick(1000, TICK))
    assert status(s) == "up"
    apply(s, 106_000, C.tick(1000, TICK))
    assert status(s) == "down"


def test_generations_fence_the_old_registrant():
    s = RegistryState()
    old = apply(s, 0, reg()).results[0].record["generation"]
    new = apply(s, 10, reg()).results[0].record["generation"]
    assert new > old
    assert apply(s, 20, C.heartbeat("web", "w1", None, {"generation": old})).results[0].code is Code.STALE_GENERATION
    assert apply(s, 20, C.deregister("web", "w1", {"generation": old})).results[0].code is Code.STALE_GENERATION
    assert apply(s, 20, reg(generation=old)).results[0].code is Code.STALE_GENERATION
    assert apply(s, 30, C.heartbeat("web", "w1", None, {"generation": new})).results[0].ok
    assert [r["removed"]["reason"] for r in s.tombstones.of("web")] == ["fenced"]


def test_load_events_are_coalesced_by_step_and_interval():
    s = RegistryState()
    apply(s, 0, reg(ttl=60))
    events = []
    for i, load in enumerate([0.5, 0.52, 0.55, 0.7, 0.71, 0.9, 0.2]):
        out = apply(s, 100 + i * 300, C.heartbeat("web", "w1", None, {"load": load, "coalesce": [100, 1000]}))
        events += [(e.kind, e.reason, e.record["load"]) for e in out.events]
    assert s.instances[("web", "w1")].load == 0.2  # reads see the latest
    # 0.5 first; 0.7 is 0.2 away but only 900 ms later; 0.71 is 1.2 s later; 0.9 and 0.2
    # come within the second after it.
    assert events == [("updated", "load", 0.5), ("updated", "load", 0.71)]


def _fleet(s, n=10, ttl=10):
    for i in range(n):
        apply(s, 0, reg(iid=f"w{i}", ttl=ttl))
    apply(s, 0, reg("other", "o1", ttl=ttl))


def test_mass_expiry_protects_the_service_until_heartbeats_return_and_is_never_global():
    s = RegistryState()
    _fleet(s)
    # w0..w5 (6 of 10) stop at 0 s; w6..w9 and other keep beating until 8 s, then other stops.
    for t in range(1000, 9000, 1000):
        apply(s, t, *[C.heartbeat("web", f"w{i}") for i in range(6, 10)], C.heartbeat("other", "o1"))
    out = apply(s, 10_500, C.tick(60_000, TICK))
    assert [e.kind for e in out.events] == ["protection"] and out.events[0].record["protected"] is True
    assert all(status(s, "web", f"w{i}") == "up" for i in range(10))
    assert protection_view(s)[0]["service"] == "web"
    out = apply(s, 19_000, C.tick(60_000, TICK))
    assert status(s, "other", "o1") == "down"  # one instance of another service: expired as usual
    apply(s, 19_500, *[C.heartbeat("web", f"w{i}") for i in range(10)])
    out = apply(s, 20_000, C.tick(60_000, TICK))
    assert [(e.kind, e.record["protected"]) for e in out.events] == [("protection", False)]
    assert not protection_view(s)


def test_protection_ends_after_its_maximum_and_expiry_resumes():
    s = RegistryState()
    _fleet(s)
    opts = {"protect": [500, 3, 30_000, 5_000], "tomb": [3_600_000, 100]}
    apply(s, 10_500, C.tick(60_000, opts))
    assert protection_view(s)
    out = apply(s, 16_000, C.tick(60_000, opts))
    kinds = [e.kind for e in out.events]
    assert kinds[0] == "protection" and kinds.count("expired") == 10 and not protection_view(s)
    out = apply(s, 17_000, C.tick(60_000, opts))
    assert not [e for e in out.events if e.kind == "protection"]  # not again until it recovers


def test_tombstones_are_bounded_and_expire():
    s = RegistryState()
    for i in range(8):
        apply(s, i, reg(iid=f"w{i}"), C.deregister("web", f"w{i}"))
    assert len(s.tombstones) == 8
    apply(s, 100, C.tick(60_000, {"tomb": [3_600_000, 5]}))
    assert [r["id"] for r in s.tombstones.of("web")] == ["w3", "w4", "w5", "w6", "w7"]
    apply(s, 3_700_000, C.tick(60_000, {"tomb": [3_600_000, 5]}))
    assert len(s.tombstones) == 0
    assert run(s, Query(name="web", include_removed=True))[0] == []


def test_a_batch_is_all_or_nothing_and_one_event_per_instance():
    s = RegistryState()
    out = apply(s, 0, C.batch([{"name": "web", "id": "a"}, {"name": "web", "id": "b", "ttl": 0}], (100, 100)))
    assert out.results[0].field == "instances[1].ttl" and s.revision == 0
    out = apply(s, 0, C.batch([{"name": "web", "id": f"w{i}"} for i in range(3)], (100, 2)))
    assert out.results[0].code is Code.TOO_MANY_INSTANCES and s.revision == 0
    out = apply(s, 0, C.batch([{"name": "db", "id": "d"}, {"name": "web", "id": "w", "dependencies": ["db"]}],
                              (100, 100), strict=True))
    assert len(out.results[0].items) == 2 and [e.kind for e in out.events] == ["registered"] * 2


def test_strict_registration_names_each_unmet_dependency():
    s = RegistryState()
    apply(s, 0, reg("db", "d1", version="1.9.0"))
    out = apply(s, 0, C.register({"name": "web", "id": "w1", "dependencies": ["db>=2", "cache"]}, None, True))
    r = out.results[0]
    assert r.code is Code.UNMET_DEPENDENCY and "db>=2" in r.message and "cache" in r.message
    out = apply(s, 0, reg(dependencies=["db^1"]))
    assert out.results[0].warnings == ()
