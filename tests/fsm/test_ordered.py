"""OrderedKeys (node/fsm/ordered.py) behaves as a sorted set, whatever the order of adds and discards."""

from hypothesis import given, settings
from hypothesis import strategies as st

from manifest_node.fsm.ordered import OrderedKeys

keys = st.tuples(st.sampled_from(["a", "b", "web"]), st.text("xyz0", min_size=1, max_size=3))
ops = st.lists(st.tuples(st.sampled_from(["add", "discard"]), keys), max_size=200)


@settings(max_examples=300, deadline=None)
@given(st.lists(keys, max_size=30), ops, keys, st.integers(1, 4))
def test_it_is_a_sorted_set(initial, steps, probe, block):
    got, model = OrderedKeys(initial, block=block), set(initial)
    for op, key in steps:
        getattr(got, op)(key)
        (model.add if op == "add" else model.discard)(key)
        assert len(got) == len(model)
    assert list(got) == sorted(model)
    assert (probe in got) == (probe in model)
    assert list(got.from_key(probe)) == sorted(k for k in model if k > probe)
    assert list(got.from_key(probe, inclusive=True)) == sorted(k for k in model if k >= probe)
    # blocks stay within their bounds, and none is empty
    assert all(0 < len(b) <= 2 * block for b in got._blocks)
    assert got._maxes == [b[-1] for b in got._blocks]
