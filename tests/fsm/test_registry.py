"""Unit tests of the pure registry state machine."""

import msgpack
import pytest

from manifest_node.fsm import commands as C
from manifest_node.fsm.registry import RegistryState, pack_snapshot
from manifest_node.fsm.results import DONE, Ticked

GRACE = 60_000


def apply(state, ts, *cmds, term=1):
    return state.apply(C.encode(ts, term, list(cmds)))


def reg(name="web", iid="w1", **fields):
    return C.register({"name": name, "id": iid, **fields})


def test_register_creates_then_updates_and_bumps_revisions():
    s = RegistryState()
    out = apply(s, 1000, reg(ttl=10, tags=["a"]))
    r = out.results[0]
    assert r.created is True and r.record["revision"] == 1 and r.record["status"] == "up"
    assert r.record["registered_at"] == "1970-01-01T00:00:01.000Z"
    assert [e.kind for e in out.events] == ["registered"]
    # Same spec again from the same registrant (its generation): nothing a watcher could see changed.
    out = apply(s, 2000, reg(ttl=10, tags=["a"], generation=r.record["generation"]))
    assert out.results[0].created is False and s.revision == 1 and out.events == []
    assert out.results[0].record["last_heartbeat"] == "1970-01-01T00:00:02.000Z"
    out = apply(s, 3000, reg(ttl=10, tags=["b"], generation=r.record["generation"]))
    assert s.revision == 2 and [e.kind for e in out.events] == ["updated"]
    assert out.results[0].record["registered_at"] == "1970-01-01T00:00:01.000Z"
    assert s.service_rev["web"] == 2


def test_heartbeat_without_change_costs_no_revision_and_status_change_does():
    s = RegistryState()
    apply(s, 1000, reg())
    out = apply(s, 2000, C.heartbeat("web", "w1"))
    assert out.results[0].ok and s.revision == 1 and out.events == []
    out = apply(s, 3000, C.heartbeat("web", "w1", "unhealthy"))
    assert s.revision == 2 and out.events[0].kind == "status"
    assert out.results[0].record["status"] == "unhealthy"
    assert apply(s, 3000, C.heartbeat("web", "nope")).results[0].code == "not_found"


def test_deregister_keeps_service_known_and_reports_missing():
    s = RegistryState()
    apply(s, 1000, reg())
    out = apply(s, 1000, C.deregister("web", "w1"))
    assert out.results[0].record["id"] == "w1" and out.events[0].kind == "deregistered"
    assert out.events[0].reason == "owner"
    assert "web" in s.service_rev and "web" not in s.services
    assert apply(s, 1000, C.deregister("web", "w1")).results[0].code == "not_found"


def test_tick_expires_after_ttl_and_removes_after_grace():
    s = RegistryState()
    apply(s, 0, C.tick(GRACE), term=1)
    apply(s, 1000, reg(ttl=2))
    assert apply(s, 3000, C.tick(GRACE)).results[0].expired == 0  # exactly ttl: not yet
    out = apply(s, 3001, C.tick(GRACE))
    assert out.results[0].expired == 1 and s.instances[("web", "w1")].status == "down"
    assert out.events[0].kind == "expired" and out.events[0].reason == "ttl"
    assert apply(s, 3001 + GRACE - 1, C.tick(GRACE)).results[0].removed == 0
    out = apply(s, 3001 + GRACE, C.tick(GRACE))
    assert out.results[0].removed == 1 and not s.instances
    assert out.events[0].kind == "deregistered" and out.events[0].reason == "grace"


def test_heartbeat_revives_a_down_instance():
    s = RegistryState()
    apply(s, 0, C.tick(GRACE))
    apply(s, 0, reg(ttl=1))
    apply(s, 5000, C.tick(GRACE))
    out = apply(s, 6000, C.heartbeat("web", "w1"))
    assert out.results[0].record["status"] == "up" and out.events[0].kind == "status"
    assert apply(s, 6500, C.tick(GRACE)).results[0].expired == 0


def held(state, wall, held_ms, *cmds, term):
    """An envelope as a real leader stamps it: wall time, and ms since its term began."""
    return state.apply(C.encode(wall, term, list(cmds), held_ms))


def test_time_without_a_leader_does_not_count_against_ttls():
    s = RegistryState()
    held(s, 0, 0, C.tick(GRACE), term=1)
    held(s, 0, 0, reg(ttl=2), term=1)
    held(s, 1000, 1000, C.tick(GRACE), term=1)  # the old leader's last commit, then a minute without majority
    out = held(s, 61_000, 5, C.tick(GRACE), term=2)
    assert out.results[0].expired == 0 and s.epoch == 2 and s.held == 1000 and s.clock == 61_000
    assert held(s, 62_005, 1005, C.tick(GRACE), term=2).results[0].expired == 0  # exactly ttl: not yet
    assert held(s, 62_006, 1006, C.tick(GRACE), term=2).results[0].expired == 1


def test_leader_churn_does_not_postpone_expiry_for_ever():
    s = RegistryState()
    held(s, 0, 0, reg(ttl=3), term=1)
    expired_at = None
    for term in range(1, 20):  # a new leader every 2 s, each ticking every second; no heartbeats at all
        for t in (0, 1000, 2000):
            wall = (term - 1) * 2500 + t
            if held(s, wall, t, C.tick(GRACE), term=term).results[0].expired:
                expired_at = expired_at or s.held
    # Only committed leader time counts: 3 s of it, seen at the next tick.
    assert expired_at is not None and expired_at <= 3000 + 1000


def test_tick_from_a_deposed_leader_changes_nothing():
    s = RegistryState()
    apply(s, 0, C.tick(GRACE), term=3)
    apply(s, 0, reg(ttl=1))
    out = apply(s, 10_000, C.tick(GRACE), term=2)
    assert out.results[0].stale and s.instances[("web", "w1")].status == "up" and s.held == 0


def test_a_leader_wall_clock_hours_off_neither_expires_nor_removes_anyone():
    s = RegistryState()
    held(s, 1000, 0, reg(iid="down", ttl=1), reg(iid="live", ttl=60), term=1)
    held(s, 3000, 2000, C.tick(GRACE), term=1)
    assert s.instances[("web", "down")].status == "down"
    hour = 3_600_000
    # A new leader whose wall clock is an hour fast, then one with a right clock again.
    for term, wall in ((2, 3500 + hour), (3, 3600)):
        for t in (0, 1000):
            out = held(s, wall + t, t, C.tick(GRACE), term=term)
            assert out.results[0] == Ticked()
    assert s.instances[("web", "live")].status == "up" and s.held == 4000
    out = held(s, 4600, 1000, C.heartbeat("web", "live"), term=3)
    assert out.results[0].record["last_heartbeat"] == "1970-01-01T00:00:04.600Z"  # shown as stamped


def test_bad_commands_are_rejected_without_changing_state():
    s = RegistryState()
    before = s.digest_view()
    assert s.apply(b"\xc1garbage").results[0].code == "bad_command"
    out = apply(s, 1, reg(name="Bad Name"), [99], ["x"], [C.HEARTBEAT], reg(ttl=-1), C.register({"name": "x"}))
    assert [r.code for r in out.results] == ["invalid", "bad_command", "bad_command", "bad_command",
                                                  "invalid", "required"]
    assert out.results[0].field == "name" and out.results[4].field == "ttl"
    assert s.digest_view()[5:] == before[5:] and s.revision == 0


def test_batch_results_line_up_with_commands():
    s = RegistryState()
    out = apply(s, 1, reg(iid="a"), reg(iid="b"), C.heartbeat("web", "zzz"), C.deregister("web", "a"))
    assert [getattr(r, "code", None) for r in out.results] == [None, None, "not_found", None]
    assert [e.revision for e in out.events] == [1, 2, 3]


def test_members_are_recorded():
    s = RegistryState()
    apply(s, 1, C.member("n1", "http://127.0.0.1:1", "127.0.0.1:2"))
    assert s.members == {"n1": {"api": "http://127.0.0.1:1", "raft": "127.0.0.1:2"}}
    assert s.revision == 0


def test_a_member_outside_the_configured_cluster_is_refused():
    """Issue 10.3: a forged MEMBER could point a node id at any Raft address."""
    s = RegistryState(member_rafts=frozenset({"127.0.0.1:2", "127.0.0.1:4"}))
    apply(s, 1, C.member("n1", "http://127.0.0.1:1", "127.0.0.1:2"))
    before = (s.members, s.revision, s.changes.seq)
    out = apply(s, 2, C.member("n1", "http://evil:1", "10.6.6.6:1"), C.member("n9", "http://evil:1", "x:1"))
    assert [r.code for r in out.results] == ["not_a_member"] * 2
    assert out.results[0].field == "raft" and "10.6.6.6:1" in out.results[0].message
    assert (s.members, s.revision, s.changes.seq) == before and s.members is before[0] and out.events == []
    assert apply(s, 3, C.member("n2", "http://127.0.0.1:3", "127.0.0.1:4")).results == [DONE]
    # Configuration, not state: a restored snapshot keeps checking.
    s.restore(s.snapshot())
    assert apply(s, 4, C.member("n1", "http://evil:1", "10.6.6.6:1")).results[0].code == "not_a_member"


def test_a_revived_instance_expires_on_time_on_every_node():
    # Found by the chaos suite as a revision divergence: the node that had not
    # restored a snapshot skipped the expiry scan until the old removal time.
    plain = RegistryState()
    apply(plain, 0, C.tick(30_000), term=1)
    apply(plain, 0, reg(ttl=1))
    apply(plain, 2000, C.tick(30_000))  # down; next deadline = removal at 32 s
    apply(plain, 3000, C.heartbeat("web", "w1"))  # revived: expires at 4 s
    restored = RegistryState()
    restored.restore(plain.snapshot())
    for state in (plain, restored):
        out = apply(state, 4001, C.tick(30_000))
        assert out.results[0].expired == 1
    assert plain.digest_view() == restored.digest_view()


def test_a_snapshot_packed_in_chunks_is_plain_msgpack_of_the_sorted_state():
    s = RegistryState()
    apply(s, 1000, *[reg(name=f"s{i % 7}", iid=f"i{2500 - i}") for i in range(2500)])
    captured = s.capture()
    expected = {**captured, "instances": sorted(captured["instances"], key=lambda w: (w[0], w[1]))}
    assert pack_snapshot(captured) == msgpack.packb(expected, use_bin_type=True)


def test_voters_follow_membership_changes_and_travel_in_snapshots():
    s = RegistryState(member_rafts=frozenset({"127.0.0.1:2"}))
    assert apply(s, 1, C.member("n4", "http://127.0.0.1:7", "127.0.0.1:8")).results[0].code == "not_a_member"
    s.change_voters("add", "127.0.0.1:8")
    assert apply(s, 2, C.member("n4", "http://127.0.0.1:7", "127.0.0.1:8")).results == [DONE]
    # A node built with another configuration (one that joined later) takes the snapshot's voters.
    joined = RegistryState(member_rafts=frozenset({"127.0.0.1:99"}))
    joined.restore(s.snapshot())
    assert joined.member_rafts == {"127.0.0.1:2", "127.0.0.1:8"} and joined.members == s.members
    s.change_voters("rem", "127.0.0.1:8")
    assert "n4" not in s.members and s.member_rafts == {"127.0.0.1:2"}
    assert apply(s, 3, C.member("n4", "http://127.0.0.1:7", "127.0.0.1:8")).results[0].code == "not_a_member"
    offline = RegistryState()  # tools without a configuration accept any, and stay so
    offline.change_voters("add", "127.0.0.1:8")
    assert offline.member_rafts is None


def test_a_restore_reads_its_instances_one_by_one_in_any_key_order_and_interns_their_strings():
    s = RegistryState()
    record = {"address": "10.0.0.5", "version": "1.4.2", "tags": ["blue"], "metadata": {"zone": "b"},
              "interfaces": {"http": "http://10.0.0.5:8080"}, "dependencies": ["db"]}
    apply(s, 1000, *[C.register({"name": "web", "id": f"w{i}", **record}) for i in range(3)])
    snap = msgpack.unpackb(s.snapshot(), raw=False)
    assert list(snap)[-1] == "instances"
    moved = msgpack.packb({"instances": snap.pop("instances"), **snap}, use_bin_type=True)  # first, not last
    restored = RegistryState()
    restored.restore(moved)
    assert restored.digest_view() == s.digest_view()
    a, b = restored.instances[("web", "w0")], restored.instances[("web", "w2")]
    # msgpack decodes a copy per record; one copy of each repeated string is kept, as a registration keeps.
    assert a.address is b.address and a.version is b.version and a.tags[0] is b.tags[0] and a.status is b.status
    assert next(iter(a.metadata.values())) is next(iter(b.metadata.values()))


def test_a_restore_of_a_snapshot_with_bytes_after_its_end_changes_nothing():
    s, target = RegistryState(), RegistryState()
    apply(s, 1000, C.register({"name": "web", "id": "w1"}))
    apply(target, 1000, C.register({"name": "db", "id": "d1"}))
    before = target.digest_view()
    for bad in (s.snapshot() + b"\xc0", s.snapshot()[:-3], msgpack.packb([1, 2])):  # nil after it: still refused
        with pytest.raises(Exception):  # msgpack's own types, as unpackb raised them
            target.restore(bad)
        assert target.digest_view() == before
