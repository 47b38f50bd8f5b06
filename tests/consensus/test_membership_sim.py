"""The fork's membership rules on in-process nodes (raftsim.py): what the admin API relies on.

One change at a time (upstream never kept the index of a change in flight),
change entries that hold an address only, a configuration that survives a
restart from journal and snapshot without a node becoming its own peer, and
removal of a follower keeping every acknowledged write.
"""

from __future__ import annotations

import pickle

import pytest

from manifest_node.consensus.pysyncobj.config import FAIL_REASON

from .raftsim import SimNet, acknowledged

@pytest.fixture
def net(tmp_path):
    net = SimNet(tmp_path, n=3, dynamicMembershipChange=True, logCompactionMinEntries=4, logCompactionMinTime=0.2)
    yield net
    net.close()


def leader_of(net):
    net.run(3.0)
    leader = net.leader()
    assert leader is not None
    return leader


def voters(node) -> set[str]:
    return {node.addr, *(n.address for n in node.otherNodes)}


def test_a_second_change_before_the_first_applied_is_denied(net):
    leader = leader_of(net)
    follower = next(a for a in net.addrs if a != leader.addr)
    first, second = [], []
    leader.removeNodeFromCluster(follower, callback=lambda r, e: first.append(e))
    leader.addNodeToCluster("10.0.0.9:4321", callback=lambda r, e: second.append(e))
    leader.doTick(0.0)  # both leave the queue in one tick: the first is appended, the second refused
    assert second == [FAIL_REASON.REQUEST_DENIED]
    assert leader.membershipChangePending
    net.run(2.0)
    assert first == [FAIL_REASON.SUCCESS] and not leader.membershipChangePending
    assert voters(leader) == set(net.addrs) - {follower}


def test_a_change_entry_holds_the_address_only(net):
    leader = leader_of(net)
    leader.addNodeToCluster("10.0.0.9:4321")
    leader.doTick(0.0)
    last = leader._SyncObj__raftLog[-1][0]
    assert last[:1] == bytes([2]) and pickle.loads(last[1:]) == ["add", "10.0.0.9:4321"]


def test_the_configuration_survives_restarts_and_snapshots_without_self_as_peer(net):
    leader = leader_of(net)
    follower = next(a for a in net.addrs if a != leader.addr)
    done = []
    leader.removeNodeFromCluster(follower, callback=lambda r, e: done.append(e))
    net.run(2.0)
    assert done == [FAIL_REASON.SUCCESS]
    writes = [net.write(leader.addr, f"w{i}") for i in range(20)]  # enough for compactions
    net.run(3.0)
    assert all(acknowledged(w) for w in writes)
    stay = sorted(set(net.addrs) - {follower})
    for addr in stay:
        net.crash(addr)
        node = net.start(addr)  # started with every address as a peer, as the flags still say
        net.run(2.0)
        assert voters(node) == set(stay), addr
        assert node.addr not in {n.address for n in node.otherNodes}
    assert {c for _, c in net.nodes[stay[0]].log} >= {f"w{i}" for i in range(20)}


def test_a_node_waiting_to_be_added_does_not_vote(tmp_path):
    """Its log is empty and its term fresh: its vote could elect a node whose log lacks committed
    entries, one that still counts the wiped node's old identity (raftfuzz_members, seed 168)."""
    waiting = {"yes": True}
    net = SimNet(tmp_path, n=2, dynamicMembershipChange=True, voteGuard=lambda: not waiting["yes"])
    try:
        net.run(3.0)
        assert net.leader() is None  # one node's own vote is no majority of two
        assert all(n.raftCurrentTerm >= 1 for n in net.nodes.values())
        waiting["yes"] = False
        net.run(3.0)
        assert net.leader() is not None
    finally:
        net.close()
