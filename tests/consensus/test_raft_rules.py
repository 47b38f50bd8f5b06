"""Raft's rules that pysyncobj already kept, each pinned by a test (docs/durability.md, the audit).

The rules our fork had to patch have their reproductions in
test_raft_safety.py; these guard the ones upstream gets right, so a future
change to the fork cannot break them silently.
"""

from __future__ import annotations

import pickle

import pytest

from manifest_node.consensus.pysyncobj.config import FAIL_REASON

from .raftsim import SimNet, acknowledged, divergences
from .test_raft_safety import cut, settle, uncut, write_all


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


def campaign(net: SimNet, addr: str, seconds: float = 0.5) -> bool:
    """Let ``addr`` start one election; True if it won."""
    node = net.nodes[addr]
    node._SyncObj__raftElectionDeadline = 0
    settle(net, seconds)
    won = node._isLeader()
    node._SyncObj__raftElectionDeadline = float("inf")
    return won


def test_a_vote_survives_a_restart(net3):
    """Raft 5.2: votedFor is on disk before the vote is sent; one vote per term, restarts included."""
    a, b, c = net3.addrs
    net3.isolate(a)
    net3.elect(c)  # term 1, b voted for c
    term = net3.nodes[b].raftCurrentTerm
    net3.crash(b)
    net3.start(b)
    net3.quiet()
    assert net3.nodes[b].raftCurrentTerm == term
    assert net3.nodes[b]._SyncObj__votedForNodeId == net3.nodes[c].selfNode.id
    net3.heal()
    net3.isolate(c)
    net3.nodes[a]._SyncObj__raftCurrentTerm = term - 1  # a's next election is for the same term
    assert not campaign(net3, a, 0.1), "b voted twice in one term"


def test_a_candidate_with_a_shorter_log_gets_no_vote(net3):
    """Raft 5.4.1: votes go only to candidates whose log is at least as up to date."""
    a, b, c = net3.addrs
    net3.elect(a)
    cut(net3, a, [c])
    assert all(acknowledged(o) for o in write_all(net3, a, ["w1", "w2"]))  # on a and b only
    net3.isolate(a)
    assert not campaign(net3, c)
    assert campaign(net3, b)


def peek(net: SimNet, src: str, dst: str):
    queue = net.queues.get((src, dst))
    return pickle.loads(queue[0]) if queue else None


def test_entries_of_an_earlier_term_are_not_committed_by_counting(tmp_path):
    """Raft 5.4.2 (the paper's figure 8): a leader commits an older term's entry only under one of its own.

    s1 appends "old" in term 1 alone, leads again in term 2 and copies "old"
    to s2 and s3 (a majority of five) while its own term-2 no-op stays with
    it. Counting replicas must not commit "old" yet: in the paper's scenario a
    leader of a later term that lacks it can still be elected and replace it."""
    net = SimNet(tmp_path, n=5, appendEntriesBatchSizeBytes=50)  # "old..." travels alone
    try:
        net.quiet()
        s1, s2, s3, s4, s5 = net.addrs
        net.elect(s1)  # term 1
        write_all(net, s1, ["base"])
        cut(net, s1, [s2, s3, s4, s5])
        old = net.write(s1, "old" + "." * 60)  # on s1 alone
        settle(net, 0.3)
        index = net.nodes[s1]._SyncObj__raftLog[-1][1]
        for _ in range(120):  # s1's leader fallback: it stops leading, still in term 1
            net.step(0.05)
            net.quiet()  # and nobody else runs for leader meanwhile
        assert not net.nodes[s1]._isLeader() and not old

        net.heal()
        net.isolate(s4)
        net.isolate(s5)
        net.held.update({(s1, s2), (s1, s3)})
        net.nodes[s1]._SyncObj__raftElectionDeadline = 0
        net.tick([s1])  # s1 asks s2 and s3 for their votes in term 2
        net.deliver(s1, s2, 1)
        net.deliver(s1, s3, 1)
        net.step(0.01)  # their votes arrive: s1 leads term 2, appends its no-op after "old"
        assert net.nodes[s1]._isLeader()
        for _ in range(40):  # to s2 and s3: "old" and s1's probes, never the no-op
            net.step(0.11)
            for dst in (s2, s3):
                # Once dst holds "old", a message following it would carry the no-op: held back.
                while (head := peek(net, s1, dst)) is not None and not (
                        head.get("prevLogIdx") == index and net.nodes[dst]._SyncObj__raftLog[-1][1] >= index):
                    net.deliver(s1, dst, 1)
            if all(net.nodes[d]._SyncObj__raftLog[-1][1] == index for d in (s2, s3)):
                break
        settle(net, 0.3)  # their answers reach s1; nothing newer reaches them
        assert all(net.nodes[d]._SyncObj__raftLog[-1][1] == index for d in (s2, s3))
        assert net.nodes[s1].raftCommitIndex < index and not old
    finally:
        net.close()


def test_leadership_goes_only_to_a_caught_up_follower(net3):
    """Raft thesis 3.10: TimeoutNow only to a follower whose log matches the leader's."""
    a, b, c = net3.addrs
    net3.elect(a)
    write_all(net3, a, ["w1"])
    cut(net3, a, [b])
    write_all(net3, a, ["w2", "w3"])
    answers = []
    net3.nodes[a].transferLeadership(net3.nodes[b].selfNode.address, callback=lambda r, e: answers.append(e))
    assert answers == [FAIL_REASON.REQUEST_DENIED]
    uncut(net3, a, [b])
    settle(net3, 0.5)
    net3.nodes[a].transferLeadership(net3.nodes[b].selfNode.address, callback=lambda r, e: answers.append(e))
    assert answers[-1] == FAIL_REASON.SUCCESS
    settle(net3, 1.0)
    assert net3.nodes[b]._isLeader()
    assert divergences(net3) == []


def test_a_leader_without_a_majority_steps_down(net3):
    """pysyncobj's leader fallback (Raft's check-quorum): no answers from a majority, no leadership."""
    a, b, c = net3.addrs
    net3.elect(a)
    net3.isolate(a)
    net3.run(4.0, dt=0.05)
    assert net3.nodes[a]._isLeader()  # within leaderFallbackTimeout (5 s in the simulation)
    net3.run(1.5, dt=0.05)
    assert not net3.nodes[a]._isLeader()
