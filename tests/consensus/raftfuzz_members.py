"""raftfuzz.py's faults, with voters removed and added while they happen (dynamic membership).

The cluster has ``nodes`` voters and one spare slot. Now and then, when a
leader has no change in flight, the test either removes a random follower
(once that committed, the removed node is wiped and restarted empty as the
spare, as the operator's "replace a node" does) or adds the spare back: the
spare first learns the voters (``learnPeers``, what ``/v1/internal/join``
does) and never campaigns until it applied its own addition or installed a
snapshot naming it (the ``--join`` rule, adapter.py's electionGuard). A
restarted node starts from the voters it last knew (raft.members). Judged as
raftfuzz.py judges: the same command at every index on every node, every
acknowledged write applied on every voter at the end, and the voters agree
on who they are.

    .venv/bin/python -m tests.consensus.raftfuzz_members --seeds 200 [--nodes 3]
"""

from __future__ import annotations

import pathlib
import random

from manifest_node.consensus.pysyncobj.config import FAIL_REASON

from .raftfuzz import (SIM_CONF, cli, count_down, lost_writes, replicated_divergences, tick_and_deliver,
                       write_sometimes)
from .raftsim import SimNet, divergences

COMMITTED = {"add": 0, "rem": 0}  # over every seed of a command-line run


class MemberNet(SimNet):
    def __init__(self, tmp_path, n: int, seed: int, **conf):
        self.voters0 = [f"10.0.0.{i + 1}:4321" for i in range(n)]
        self.known: dict[str, list[str]] = {a: [b for b in self.voters0 if b != a] for a in self.voters0}
        self.spare = f"10.0.0.{n + 1}:4321"
        self.known[self.spare] = []
        self.waiting: set[str] = {self.spare}
        self.incarnation: dict[str, int] = {}
        super().__init__(tmp_path, n + 1, seed, dynamicMembershipChange=True, **conf)

    def start(self, addr: str, fresh: bool = False, **conf):
        if fresh:  # a new data directory: the wiped node starts empty, waiting to join
            self.incarnation[addr] = self.incarnation.get(addr, 0) + 1
            self.known[addr] = []
            self.waiting.add(addr)
        saved = self.addrs
        self.addrs = [addr, *self.known[addr]]  # SimNet.start: peers are addrs other than addr
        try:
            node = super().start(addr, **{"electionGuard": lambda: addr not in self.waiting,
                                          "voteGuard": lambda: addr not in self.waiting,
                                          "onMembershipApplied": lambda kind, a: self._applied(addr, kind, a),
                                          **conf}, folder=self._folder(addr))
        finally:
            self.addrs = saved
        return node

    def _folder(self, addr: str) -> pathlib.Path:
        return self._tmp / f"{addr.replace(':', '_')}-{self.incarnation.get(addr, 0)}"

    def _applied(self, addr: str, kind: str, target: str) -> None:
        if kind == "add" and target == addr:
            self.waiting.discard(addr)

    def on_install(self, addr: str, cluster) -> None:
        if addr in cluster:  # a snapshot naming it: joined (adapter.py's JoinState.installed)
            self.waiting.discard(addr)

    def remember(self) -> None:
        """What raft.members would hold: each live node's voters as it knows them (a
        waiting node: the peers it learned), and whether it still waits."""
        for addr, node in self.nodes.items():
            if addr not in self.down:
                self.known[addr] = sorted(n.address for n in node.otherNodes)


def run(seed: int, tmp: pathlib.Path, nodes: int = 3, steps: int = 1500) -> list[str]:
    rng = random.Random(seed)
    net = MemberNet(tmp, nodes, seed, **SIM_CONF)
    outcomes: list[tuple[str, list]] = []
    change: list = []  # the membership change in flight: [kind, addr, outcome list]
    crashed: dict[str, int] = {}
    held: dict[tuple[str, str], int] = {}
    changes = {"add": 0, "rem": 0}
    try:
        for step in range(steps):
            net.clock.now += 0.02
            r = rng.random()
            addr = rng.choice(net.addrs)
            if r < 0.004 and not crashed:
                net.remember()
                net.crash(addr)
                crashed[addr] = rng.randint(10, 80)
            elif r < 0.014:
                other = rng.choice([a for a in net.addrs if a != addr])
                held[(addr, other)] = rng.randint(5, 150)
            elif r < 0.019:
                other = rng.choice([a for a in net.addrs if a != addr])
                net.queues.pop((addr, other), None)
            count_down((held, crashed), lambda table, key: net.start(key) if table is crashed else None)
            net.held = set(held)
            # membership: one change at a time, from the leader
            if change and change[2]:
                kind, target, outcome = change
                if outcome[0][1] == FAIL_REASON.SUCCESS:
                    changes[kind] += 1
                    if kind == "rem":  # wipe it: it comes back empty, as the spare
                        if target not in net.down:
                            net.crash(target)
                        crashed.pop(target, None)
                        net.spare = target
                        net.start(target, fresh=True)
                    else:
                        net.spare = None
                change.clear()
            leader = net.leader()
            if not change and leader is not None and rng.random() < 0.01 and not leader.membershipChangePending:
                outcome: list = []
                if net.spare is None:
                    followers = [n.address for n in leader.otherNodes]
                    if len(followers) >= 2:
                        target = rng.choice(followers)
                        change[:] = ["rem", target, outcome]
                        leader.removeNodeFromCluster(target, callback=lambda res, err: outcome.append((res, err)))
                elif net.spare not in net.down:
                    spare = net.nodes[net.spare]
                    spare.learnPeers([leader.addr, *(n.address for n in leader.otherNodes)])
                    change[:] = ["add", net.spare, outcome]
                    leader.addNodeToCluster(net.spare, callback=lambda res, err: outcome.append((res, err)))
            write_sometimes(net, rng, seed, step, outcomes)
            net.remember()
            tick_and_deliver(net, rng)
        for addr in list(crashed):
            net.start(addr)
        net.heal()
        net.run(10.0, dt=0.02)
        problems = divergences(net) + replicated_divergences(net)
        leader = net.leader()
        if leader is None:
            return problems + ["no leader after healing"]
        voters = {leader.addr, *(n.address for n in leader.otherNodes)}
        for addr in voters:
            node = net.nodes[addr]
            theirs = {addr, *(n.address for n in node.otherNodes)}
            if theirs != voters:
                problems.append(f"{addr} thinks the voters are {sorted(theirs)}, the leader {sorted(voters)}")
            problems += lost_writes(addr, node, outcomes)
        for kind, n in changes.items():
            COMMITTED[kind] += n
        return problems
    finally:
        net.close()


def main() -> None:
    cli(run, lambda: f"; membership changes committed: {COMMITTED['add']} adds, {COMMITTED['rem']} removals")


if __name__ == "__main__":
    main()
