"""Property tests: apply is deterministic and snapshots restore exactly."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manifest_node.fsm import commands as C
from manifest_node.fsm import model
from manifest_node.fsm.lifecycle import derive_status
from manifest_node.fsm.registry import RegistryState

names = st.sampled_from(["web", "db", "cache"])
ids = st.sampled_from(["a", "b", "c", "d"])

register = st.builds(
    lambda n, i, ttl, tags, meta, ver: C.register(
        {"name": n, "id": i, "ttl": ttl, "tags": tags, "metadata": meta, "version": ver}),
    names, ids, st.sampled_from([1, 2, 5, 30]), st.lists(st.sampled_from(["x", "y"]), max_size=2),
    st.dictionaries(st.sampled_from(["k", "z"]), st.sampled_from(["1", "2"]), max_size=2),
    st.sampled_from([None, "1.0.0", "2.1.0"]))
heartbeat = st.builds(C.heartbeat, names, ids, st.sampled_from([None, "up", "unhealthy", "bogus"]))
deregister = st.builds(C.deregister, names, ids)
tick = st.builds(C.tick, st.sampled_from([0, 1000, 60_000]))
RAFTS = frozenset({"r:1", "r:2"})  # the configured cluster; "r:9" is a forged address
member = st.builds(C.member, st.sampled_from(["n1", "n2"]), st.sampled_from(["http://a", "http://b"]),
                   st.sampled_from(["r:1", "r:2", "r:9"]))
from tests.fsm.test_indexes import batch, checked, drain, maint  # noqa: E402 (issue 13's commands)

command = st.one_of(register, heartbeat, deregister, tick, member, st.just(C.noop()),
                    st.just([77]), st.just(["junk"]), batch, checked, drain, maint)

# An envelope: time moves forward by 0..5 s (sometimes backwards: a stale
# leader), the term sometimes grows, and it holds 1..4 commands.
envelope = st.tuples(st.integers(-1000, 5000), st.sampled_from([0, 0, 0, 1, -1]),
                     st.lists(command, min_size=1, max_size=4))


def replay(steps, snapshot_at=None):
    state, ts, term = RegistryState(RAFTS), 0, 1
    outcomes = []
    for i, (dt, dterm, cmds) in enumerate(steps):
        if i == snapshot_at:
            fresh = RegistryState(RAFTS)
            fresh.restore(state.snapshot())
            state = fresh
        ts, term = max(0, ts + dt), max(1, term + dterm)
        out = state.apply(C.encode(ts, term, cmds))
        outcomes.append((out.results, [(e.revision, e.kind, e.record, e.reason) for e in out.events]))
    return state, outcomes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(envelope, max_size=40), st.data())
def test_snapshot_restore_midway_yields_identical_state_and_outcomes(steps, data):
    cut = data.draw(st.integers(0, len(steps)))
    plain, plain_out = replay(steps)
    restored, restored_out = replay(steps, snapshot_at=cut)
    assert plain.digest_view() == restored.digest_view()
    assert plain_out == restored_out


@settings(max_examples=200, deadline=None)
@given(st.lists(envelope, max_size=40))
def test_invariants_hold_after_any_sequence(steps):
    state, outcomes = replay(steps)
    revisions = [rev for _, events in outcomes for rev, *_ in events]
    # Every visible change has its own revision, in order, without gaps.
    assert revisions == list(range(1, len(revisions) + 1))
    assert state.revision == len(revisions)
    for (name, iid), inst in state.instances.items():
        assert state.services[name][iid] is inst
        assert inst.revision <= state.service_rev[name] <= state.revision
        assert inst.status in model.STATUSES
        assert inst.status == derive_status(inst)
    assert sum(len(v) for v in state.services.values()) == len(state.instances)
    assert all(m["raft"] in RAFTS for m in state.members.values())
