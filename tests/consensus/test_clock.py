"""The leader's stamps: held time from the monotonic clock, wall time not from a wrong clock."""

from manifest_node.consensus.clock import SLEW, LeaderClock

HOUR = 3600.0


class Clocks:
    def __init__(self, wall: float, mono: float = 100.0):
        self.wall_s, self.mono_s = wall, mono

    def wall(self) -> float:
        return self.wall_s

    def mono(self) -> float:
        return self.mono_s

    def advance(self, seconds: float) -> None:
        self.wall_s += seconds
        self.mono_s += seconds


def test_without_a_live_stamp_the_wall_clock_starts_registry_time():
    c = Clocks(wall=1000.0)
    clock = LeaderClock(c.wall, c.mono)
    assert clock.stamp(term=1) == (1_000_000, 0)
    c.advance(2.5)
    assert clock.stamp(term=1) == (1_002_500, 2500)


def test_held_time_follows_the_monotonic_clock_only():
    c = Clocks(wall=1000.0)
    clock = LeaderClock(c.wall, c.mono)
    clock.stamp(term=1)
    c.wall_s += HOUR  # an NTP step or an operator's mistake
    c.mono_s += 1.0
    ts, held = clock.stamp(term=1)
    assert held == 1000
    assert ts == 1_001_000 + int(SLEW * 1000)  # pulled towards the new wall time, by 1 % of the term only


def test_a_node_with_a_clock_an_hour_fast_stamps_registry_time_from_the_last_live_stamp():
    c = Clocks(wall=1000.0 + HOUR)
    clock = LeaderClock(c.wall, c.mono)
    clock.observe(1_000_000)  # the previous leader's stamp, applied while its term was current
    c.advance(3.0)  # then this node wins an election
    ts, held = clock.stamp(term=5)
    assert (ts, held) == (1_003_000, 0)
    c.advance(10.0)
    ts, held = clock.stamp(term=5)
    assert held == 10_000 and ts == 1_013_000 + int(SLEW * 10_000)


def test_a_new_term_restarts_held_time():
    c = Clocks(wall=1000.0)
    clock = LeaderClock(c.wall, c.mono)
    clock.stamp(term=1)
    c.advance(5.0)
    assert clock.stamp(term=1)[1] == 5000
    assert clock.stamp(term=3)[1] == 0


def test_a_restarted_node_that_heard_a_leader_campaigns_only_once_it_can_stamp_registry_time():
    """CI flake of test_bug_clock_skewed_leader: elected before it applied a live stamp, a restarted
    node with a skewed clock stamped its own wall clock. The election guard holds it back."""
    from types import SimpleNamespace
    from unittest import mock

    from manifest_node.consensus import adapter

    clock = LeaderClock(lambda: 1000.0 + HOUR, lambda: 100.0)
    node = SimpleNamespace(_heard_leader_at=None, _clock_anchored=clock.anchored, _anchor_wait=3.0)
    may = adapter.RaftNode._may_stamp
    with mock.patch.object(adapter.time, "monotonic", return_value=50.0):
        assert may(node)  # never heard of a leader: a whole cluster starting elects at once
        node._heard_leader_at = 49.0
        assert not may(node)  # a leader exists and no live stamp was applied yet
        clock.observe(1_000_000)
        assert may(node)
    node._clock_anchored = lambda: False
    with mock.patch.object(adapter.time, "monotonic", return_value=51.5):
        assert not may(node)
    with mock.patch.object(adapter.time, "monotonic", return_value=52.5):
        assert may(node)  # held back at most _anchor_wait: liveness before a perfect clock
