"""The linearizability checker on small hand-made histories it must accept or reject."""

import random

import pytest

from tests.chaos.linearizability import ABSENT, Call, check, prepare, search


def put(v, s, e, created=None):
    return Call("put", v, created, s, e)


def get(v, s, e):
    return Call("get", v, None, s, e)


def delete(s, e, existed=None):
    return Call("del", None, existed, s, e)


def ok(calls):
    return check(calls, budget_s=5).ok is True


def test_sequential_history_is_linearizable():
    assert ok([put("a", 0, 1, True), get("a", 2, 3), put("b", 4, 5, False), get("b", 6, 7),
               delete(8, 9, True), get(ABSENT, 10, 11), delete(12, 13, False)])


def test_stale_read_after_a_completed_write_is_rejected():
    v = check([put("a", 0, 1), put("b", 2, 3), get("a", 4, 5)])
    assert v.ok is False
    assert "get -> 'a'" in v.message


def test_read_of_absent_after_acknowledged_write_is_rejected():
    assert not ok([put("a", 0, 1, True), get(ABSENT, 2, 3)])


def test_concurrent_read_may_see_old_or_new_value():
    assert ok([put("a", 0, 1), put("b", 2, 6), get("a", 3, 4)])
    assert ok([put("a", 0, 1), put("b", 2, 6), get("b", 3, 4)])


def test_reads_may_not_go_back_in_time():
    # b is concurrent with both reads, but once one read saw b a later one cannot see a.
    assert not ok([put("a", 0, 1), put("b", 2, 10), get("b", 3, 4), get("a", 5, 6)])


def test_value_never_written_is_rejected():
    assert not ok([put("a", 0, 1), get("zzz", 2, 3)])


def test_created_flag_must_match_presence():
    assert not ok([put("a", 0, 1, True), put("b", 2, 3, True)])  # second must be an update
    assert ok([put("a", 0, 1, True), delete(2, 3, True), put("b", 4, 5, True)])
    assert not ok([delete(0, 1, True)])  # deleting what never existed cannot answer 200


def test_unknown_write_may_or_may_not_take_effect():
    assert ok([put("a", 0, 1), put("b", 2, None), get("a", 3, 4)])
    assert ok([put("a", 0, 1), put("b", 2, None), get("b", 3, 4)])
    assert ok([put("a", 0, 1), put("b", 2, None), get("b", 3, 4), get("b", 20, 21)])
    # ... but once it was seen, it cannot be undone
    assert not ok([put("a", 0, 1), put("b", 2, None), get("b", 3, 4), get("a", 5, 6)])


def test_unknown_write_cannot_take_effect_before_it_started():
    assert not ok([put("a", 0, 1), get("b", 2, 3), put("b", 4, None)])


def test_unknown_put_can_explain_a_later_update_flag():
    assert ok([put("a", 0, None), put("b", 5, 6, False)])
    assert not ok([put("b", 5, 6, False)])


def test_failed_calls_are_simply_absent_and_unknown_reads_dropped():
    calls = [put("a", 0, 1), get("zzz", 2, None)]
    assert [c.kind for c in prepare(calls)] == ["put"]
    assert ok(calls)


def test_observed_unknown_put_is_bounded_by_the_first_read_that_saw_it():
    calls = prepare([put("b", 2, None), get("b", 3, 4), get("b", 7, 9)])
    assert calls[0].end == 4


def test_touching_intervals_count_as_concurrent():
    assert ok([put("a", 0, 1), put("b", 1, 2), get("a", 2, 3)])


def test_failure_report_names_the_offending_call():
    v = check([Call("put", "a", None, 0, 1, ref=1), Call("put", "b", None, 2, 3, ref=2),
               Call("get", "a", None, 4, 5, ref=3)])
    assert v.ok is False and any(c.ref == 3 for c in v.witness)


def _random_register_history(rng, n_ops=60):
    """A history produced by a real (atomic) register with random overlap: always linearizable."""
    t, state, calls = 0.0, ABSENT, []
    counter = 0
    for _ in range(n_ops):
        t += rng.random()
        start = t
        t += rng.random() * 0.1
        kind = rng.choice(["put", "put", "get", "del"])
        if kind == "put":
            counter += 1
            created = state is ABSENT
            state = f"v{counter}"
            c = Call("put", state, created, start, None)
        elif kind == "del":
            c = Call("del", None, state is not ABSENT, start, None)
            state = ABSENT
        else:
            c = Call("get", state, None, start, None)
        end = t + rng.random() * 3  # the effect happened at t; the reply may come much later
        unknown = kind != "get" and rng.random() < 0.1
        calls.append(Call(c.kind, c.value, None if unknown else c.flag, c.start, None if unknown else end))
    return calls


@pytest.mark.parametrize("seed", range(20))
def test_histories_of_an_atomic_register_are_accepted(seed):
    assert ok(_random_register_history(random.Random(seed)))


@pytest.mark.parametrize("seed", range(20))
def test_a_corrupted_read_in_a_sequential_history_is_rejected(seed):
    rng = random.Random(seed)
    reads = []
    while not reads:  # a history with no read has nothing to corrupt: draw the next one (seeded)
        calls = [c for c in _random_register_history(rng, n_ops=40) if c.end is not None]
        calls = [Call(c.kind, c.value, c.flag, i * 10, i * 10 + 1) for i, c in enumerate(calls)]  # no overlap
        reads = [i for i, c in enumerate(calls) if c.kind == "get"]
    i = rng.choice(reads)
    calls[i] = Call("get", "never-written", None, calls[i].start, calls[i].end)
    assert check(calls).ok is False


def test_budget_exhaustion_is_inconclusive_not_a_pass():
    calls = [put(f"u{i}", 0, None) for i in range(30)] + [get("nobody", 1, 2)]
    assert search(prepare(calls), budget_s=0.0).ok in (None, False)
