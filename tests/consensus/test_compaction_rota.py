"""When a node may compact its log (the fork's logCompactionSplit rota)."""

import pytest

from manifest_node.consensus.pysyncobj.syncobj import ENTRY_ROTA_PERIOD, compactionSlotOpen


def open_moments(interval, long_log, idx, count, step=0.1, span=600.0):
    return [i * step for i in range(int(span / step)) if compactionSlotOpen(i * step, interval, long_log, idx, count)]


def test_a_node_alone_may_always_compact():
    # CI failure: a one-node cluster past its entry threshold waited for the 30 % of 300 s it had.
    assert all(compactionSlotOpen(t, 300.0, long_log, 0, 1) for t in (0.0, 95.0, 299.9) for long_log in (0, 1))


@pytest.mark.parametrize("idx", [0, 1, 2])
def test_past_the_entry_threshold_each_of_three_gets_a_turn_every_few_seconds(idx):
    moments = open_moments(300.0, True, idx, 3)
    gaps = [b - a for a, b in zip(moments, moments[1:])]
    assert max(gaps) <= ENTRY_ROTA_PERIOD + 0.2  # was up to 270 s


def test_the_turns_of_three_nodes_never_overlap():
    for long_log in (False, True):
        turns = [set(open_moments(300.0, long_log, idx, 3)) for idx in range(3)]
        assert not (turns[0] & turns[1] or turns[1] & turns[2] or turns[0] & turns[2])
        assert all(turns)


def test_below_the_threshold_the_time_rota_is_upstreams():
    moments = open_moments(300.0, False, 1, 3)
    assert moments[0] == pytest.approx(100.0) and 129.8 < max(m for m in moments if m < 300) < 130.0
