"""Deterministic reproductions of the Raft safety bugs in pysyncobj (issue 19).

Each test drives real pysyncobj nodes (our fork, node/consensus/pysyncobj)
through one exact interleaving on the simulated network of raftsim.py, and
checks the Raft property that upstream pysyncobj 0.3.17 breaks there. The
fork's PATCHES.md names the patch each test guards; docs/durability.md tells
the story.
"""

from __future__ import annotations

import pytest

from .raftsim import SimNet, acknowledged, divergences


@pytest.fixture
def net3(tmp_path):
    net = SimNet(tmp_path, n=3)
    net.quiet()
    yield net
    net.close()


@pytest.fixture
def net5(tmp_path):
    net = SimNet(tmp_path, n=5)
    net.quiet()
    yield net
    net.close()


def settle(net: SimNet, seconds: float = 1.0) -> None:
    net.run(seconds, dt=0.02)


def write_all(net: SimNet, addr: str, commands) -> list:
    outs = [net.write(addr, c) for c in commands]
    settle(net, 0.5)
    return outs


def test_follower_never_applies_a_tail_the_leader_did_not_verify(net3):
    """A snapshot chunk advanced a follower's commit index over its own stale tail.

    A deposed leader holds entries no majority has; the new leader compacts
    and must send it a snapshot. Upstream applies ``commit = min(leaderCommit,
    last log index)`` on every append_entries, snapshot chunks included,
    so the old leader applied its stale entries (at indices where the
    majority committed others) before the snapshot replaced its state: the
    watch-stream divergence of the seed-2026 chaos run.
    """
    a, b, c = net3.addrs
    net3.elect(a)
    assert all(acknowledged(o) for o in write_all(net3, a, ["w1", "w2", "w3"]))

    net3.isolate(a)
    stale = [net3.write(a, x) for x in ("x1", "x2")]  # appended on a only
    settle(net3, 0.3)
    assert not any(stale)

    net3.elect(b)
    assert all(acknowledged(o) for o in write_all(net3, b, ["y1", "y2", "y3", "y4"]))
    net3.nodes[b].forceLogCompaction()
    settle(net3, 0.3)
    assert net3.nodes[b]._SyncObj__raftLog[0][1] > 5, "b compacted past a's last common entry"

    net3.heal()
    net3.run(2.0, dt=0.02, per_link=1)  # each snapshot chunk lands in its own poll
    assert net3.nodes[a].raftLastApplied == net3.nodes[b].raftLastApplied
    assert divergences(net3) == []
    assert "x1" not in net3.nodes[a].applied.values()


def cut(net: SimNet, src: str, dsts) -> None:
    """New messages from src to dsts are lost (queued ones stay queued)."""
    for dst in dsts:
        net.cut.add((src, dst))


def uncut(net: SimNet, src: str, dsts) -> None:
    for dst in dsts:
        net.cut.discard((src, dst))


def test_leader_ignores_a_reply_from_an_earlier_term(net5):
    """A success reply delayed from one leadership was counted in the next.

    Upstream's next_node_idx reply carries no term, and the leader raises
    matchIndex with any success it receives. Five nodes: b acknowledges a's
    term-1 entries, but the answer is delayed; c leads term 2 and overwrites
    them on b; a leads again in term 3 and then receives b's old answer,
    which claims b holds a's term-3 entries. a commits them with only d really
    holding them (2 of 5), acknowledges the write, and term 4 loses it.
    """
    a, b, c, d, e = net5.addrs
    net5.elect(a)
    assert all(acknowledged(o) for o in write_all(net5, a, ["w1"]))

    cut(net5, a, [c, d, e])
    net5.held.add((b, a))  # b's answers to a are delayed
    stale = [net5.write(a, x) for x in ("x1", "x2", "x3", "x4")]
    settle(net5, 0.3)
    assert len(net5.queues[(b, a)]) > 0 and not any(stale)

    cut(net5, a, [b])
    for other in (b, c, d, e):
        net5.cut.add((other, a))
    net5.elect(c)  # d and e vote; b, holding x1..x4, refuses
    assert all(acknowledged(o) for o in write_all(net5, c, ["y1"]))
    assert "y1" in net5.nodes[b].applied.values()

    uncut(net5, a, [c, d, e])
    uncut(net5, c, [a])
    uncut(net5, d, [a])
    uncut(net5, e, [a])
    settle(net5, 0.5)  # a takes c's log: x1.. are replaced by y1
    net5.elect(a)  # term 3
    term3 = net5.nodes[a].raftCurrentTerm

    cut(net5, a, [b, c, e])  # only d receives a's term-3 entries
    late = net5.write(a, "z1")
    settle(net5, 0.2)
    net5.deliver(b, a)  # b's answers from term 1 arrive now
    settle(net5, 0.3)
    assert net5.nodes[a].raftCurrentTerm == term3

    net5.isolate(a)
    net5.isolate(d)
    net5.elect(c)  # term 4, with b and e
    assert all(acknowledged(o) for o in write_all(net5, c, ["q1"]))
    assert not acknowledged(late), "z1 was acknowledged while only a and d held it"
    assert divergences(net5) == []


def test_snapshot_never_moves_a_follower_back(net3):
    """A late 'reset' answer made the leader send a snapshot older than the follower's state.

    b misses one entry and answers two appends with 'reset'. The first reset
    brings b up to date; the second, still on its way, sends a back to b's
    old position, now below a's compacted log, so a sends its snapshot.
    Upstream installs it unconditionally: b's applied state goes back to the
    snapshot's index (local reads and watches see time run backwards), and a
    local snapshot finishing on b just after the install empties its journal.
    Raft's InstallSnapshot rule: a follower that already holds the snapshot's
    last entry keeps its log and state.
    """
    a, b, c = net3.addrs
    net3.elect(a)
    assert all(acknowledged(o) for o in write_all(net3, a, ["w1", "w2"]))

    cut(net3, a, [b])
    net3.write(a, "w3")  # b misses it
    settle(net3, 0.1)
    uncut(net3, a, [b])
    net3.held.add((b, a))
    for x in ("w4", "w5"):
        net3.write(a, x)
        settle(net3, 0.05)
    answers = list(net3.queues[(b, a)])
    assert len(answers) >= 2  # b answered 'reset' to each append it could not place

    net3.deliver(b, a, 1)  # the first reset: a resends from w3 and b catches up
    settle(net3, 0.2)
    net3.nodes[a].forceLogCompaction()
    settle(net3, 0.3)
    snapshot_index = net3.nodes[a]._SyncObj__raftLog[1][1]
    assert all(acknowledged(o) for o in write_all(net3, a, ["w6", "w7"]))
    ahead = net3.nodes[b].raftLastApplied
    assert ahead == net3.nodes[a].raftLastApplied > snapshot_index
    net3.nodes[b].forceLogCompaction()
    net3.tick([b])  # b starts a local snapshot of its own
    net3.held.discard((b, a))  # the older resets arrive now
    lowest = ahead
    for _ in range(30):
        net3.step(0.11, per_link=1)  # one answer per append round: a acts on each
        lowest = min(lowest, net3.nodes[b].raftLastApplied)
    assert lowest == ahead, f"b went back from index {ahead} to {lowest}"
    assert divergences(net3) == []

    net3.crash(b)
    net3.start(b)
    settle(net3, 1.0)
    assert net3.nodes[b].raftLastApplied == net3.nodes[a].raftLastApplied
    assert [c for _, c in net3.nodes[b].log][-5:] == ["w3", "w4", "w5", "w6", "w7"]


def test_leader_sends_one_heartbeat_while_its_snapshot_is_not_ready(net3):
    """A follower that needs a snapshot while the leader is writing one got flooded.

    Upstream's send loop, finding no snapshot data yet, sends an empty
    'serialized: None' append and loops again until appendEntriesPeriod has
    passed: thousands of messages a tick to that follower, each of which also
    advanced its commit index unverified.
    """
    a, b, c = net3.addrs
    net3.elect(a)
    write_all(net3, a, ["w1", "w2"])
    cut(net3, a, [b])
    write_all(net3, a, ["w3", "w4", "w5", "w6"])
    net3.nodes[a].forceLogCompaction()
    settle(net3, 0.3)
    assert net3.nodes[a]._SyncObj__raftLog[0][1] > net3.nodes[b]._SyncObj__raftLog[-1][1]

    net3.held.add((b, a))
    uncut(net3, a, [b])
    settle(net3, 0.3)  # b answers a's appends with 'reset': it lacks their predecessors
    for x in ("w7", "w8"):
        net3.write(a, x)
    settle(net3, 0.3)
    net3.nodes[a].forceLogCompaction()
    net3.tick([a])  # a starts writing a new snapshot
    serializer = net3.nodes[a]._SyncObj__serializer
    assert serializer._Serializer__pid != 0, "a's snapshot is still being written"
    net3.deliver(b, a)  # a learns b needs one
    before = len(net3.queues.get((a, b), ()))
    net3.clock.now += 0.11  # an append round is due
    net3.tick([a])
    assert len(net3.queues.get((a, b), ())) - before <= 1

    net3.held.clear()
    settle(net3, 2.0)
    assert net3.nodes[b].raftLastApplied == net3.nodes[a].raftLastApplied
    assert divergences(net3) == []


def test_deposed_leader_learns_the_new_term_from_a_follower(net3):
    """A leader cut off from the new leader kept leading until its fallback timer.

    Upstream drops an append_entries of an older term without a word, so a
    deposed leader that can still reach a follower learns of the new term
    only when leaderFallbackTimeout runs out: until then it accepts writes it
    cannot commit and reads it cannot confirm. Raft: the follower answers
    with its term, and a leader seeing a higher term steps down at once.
    """
    a, b, c = net3.addrs
    net3.elect(a)
    write_all(net3, a, ["w1"])
    cut(net3, a, [c])
    cut(net3, c, [a])
    net3.elect(c)  # b votes for c
    assert net3.nodes[b].raftCurrentTerm == net3.nodes[c].raftCurrentTerm == 2
    settle(net3, 0.3)  # well under a's 5 s leaderFallbackTimeout
    assert not net3.nodes[a]._isLeader()
    assert net3.nodes[a].raftCurrentTerm == 2


def test_an_entry_larger_than_the_batch_size_replicates(tmp_path):
    """Upstream streamed such an entry but sent 'finish' too early: followers never got it.

    It decided the last chunk by the command's length instead of the pickled
    entry's, so the follower unpickled a truncated stream, failed, and the
    leader sent it again every round: no commit, ever. Ours: our entries are
    batches of up to batch_max commands and can pass appendEntriesBatchSizeBytes.
    """
    net = SimNet(tmp_path, n=3, appendEntriesBatchSizeBytes=64)
    try:
        net.quiet()
        a = net.addrs[0]
        net.elect(a)
        big = "x" * 1000
        outs = write_all(net, a, [big, "small", big + "y"])
        assert all(acknowledged(o) for o in outs)
        assert all(big in n.applied.values() for n in net.nodes.values())
        assert divergences(net) == []
    finally:
        net.close()


def test_a_follower_that_spent_long_installing_a_snapshot_does_not_campaign(net3):
    """A restore long enough to outlast the election timeout started an election.

    The snapshot's last chunk is an append from the leader, so the timeout
    was reset when it arrived; then the install held the tick thread for as
    long as the restore ran (2-3 s at 100,000 instances before the restore
    was made faster, more at a million), and at its next tick the follower
    found the timeout long past and campaigned against a healthy leader.
    Here the restore takes 3 s of the clock, the election timeout is 1-2 s.
    """
    a, b, c = net3.addrs
    net3.elect(a)
    assert all(acknowledged(o) for o in write_all(net3, a, ["w1", "w2"]))
    net3.isolate(c)
    assert all(acknowledged(o) for o in write_all(net3, a, ["w3", "w4", "w5"]))
    net3.nodes[a].forceLogCompaction()
    settle(net3, 0.3)
    assert net3.nodes[a]._SyncObj__raftLog[0][1] > net3.nodes[c].raftLastApplied, "c needs a snapshot"

    # b never campaigns: the 3 s also pass for it, and its election is not the one under test
    net3.nodes[b]._SyncObj__conf.electionGuard = lambda: False
    slow = net3.nodes[c]
    serializer = slow._SyncObj__serializer
    restore = serializer._Serializer__deserializer

    def slow_restore(filename):
        net3.clock.now += 3.0
        return restore(filename)
    serializer._Serializer__deserializer = slow_restore
    term = net3.nodes[a].raftCurrentTerm
    net3.heal()
    for _ in range(200):
        net3.step(0.02)
        if slow.restores:
            break
    assert slow.restores, "c installed the leader's snapshot"
    settle(net3, 1.0)
    assert slow.raftCurrentTerm == term and net3.nodes[a]._isLeader()
    assert slow.raftLastApplied == net3.nodes[a].raftLastApplied
    assert divergences(net3) == []
