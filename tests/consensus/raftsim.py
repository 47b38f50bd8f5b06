"""An in-process cluster of real (vendored) pysyncobj nodes on a network we control.

Every node is a genuine ``SyncObj`` with our ``DurableJournal`` in a temporary
folder; only the transport and the clock are replaced. Messages travel through
one FIFO queue per directed link, as over one TCP connection, after a pickle
round trip. A test decides what happens to them: deliver, hold (a slow link or
a paused peer: TCP delivers late, in order), or drop (a broken connection).
Time is a number the test advances; nothing sleeps. That is what makes the
reproductions in test_raft_safety.py deterministic.

Each node records what it applied in ``applied`` (index -> command), outside
the replicated state, so a checker can compare nodes index by index; the
replicated state ``log`` is what snapshots carry.
"""

from __future__ import annotations

import os
import pickle
import random
from collections import deque

from manifest_node.consensus.journal import DurableJournal
from manifest_node.consensus.snapshot import FORMAT as SNAPSHOT_FORMAT
from manifest_node.consensus.snapshot import _entry, pack_dump, read_dump, reconcile
from manifest_node.consensus.pysyncobj import SyncObj, SyncObjConf, replicated
from manifest_node.consensus.pysyncobj import syncobj as syncobj_module
from manifest_node.consensus.pysyncobj.config import FAIL_REASON
from manifest_node.consensus.pysyncobj.transport import Transport


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SimTransport(Transport):
    def __init__(self, syncObj, selfNode, otherNodes):
        super().__init__(syncObj, selfNode, otherNodes)
        self._net = syncObj.sim_net
        self._addr = selfNode.address

    @property
    def ready(self):
        return True

    def tryGetReady(self):
        pass

    def send(self, node, message):
        return self._net.send(self._addr, node.address, message)

    # Membership changes (raftfuzz_members.py): a node added or dropped is connected or cut at once.
    def addNode(self, node):
        self._onNodeConnected(node)

    def dropNode(self, node):
        self._onNodeDisconnected(node)

    def destroy(self):
        pass


class SimNode(SyncObj):
    def __init__(self, addr, peers, net, data_dir, **conf):
        self.sim_net = net
        self.addr = addr
        self.applied: dict[int, object] = {}  # index -> command, never rolled back
        self.restores: list[int] = []  # last index of every snapshot installed
        options = dict(
            serializer=self._serialize, deserializer=self._deserialize,
            autoTick=False, appendEntriesUseBatch=False, commandsWaitLeader=False,
            raftMinTimeout=1.0, raftMaxTimeout=2.0, appendEntriesPeriod=0.1,
            leaderFallbackTimeout=5.0, connectionTimeout=10.0,
            journalFile=f"{data_dir}/journal", fullDumpFile=f"{data_dir}/dump",
            useFork=False, logCompactionMinEntries=10 ** 9, logCompactionMinTime=10 ** 9,
            journalFactory=lambda path: DurableJournal(path),
        )
        options.update(conf)
        self.log: list = []  # replicated state: (index, command), carried by snapshots
        # As RaftNode does before pysyncobj reads the files (snapshot.reconcile).
        reconcile(options["journalFile"], options["fullDumpFile"])
        super().__init__(addr, peers, SyncObjConf(**options), transportClass=SimTransport)

    # Snapshots in the shape of ours (snapshot.py), so reconcile applies to them.
    def _serialize(self, filename, data):
        last, prev, cluster = data
        fields = {"format": SNAPSHOT_FORMAT, "last": list(last), "prev": list(prev),
                  "cluster": sorted(str(getattr(n, "address", n)) for n in cluster)}
        with open(filename, "wb") as f:
            f.write(pack_dump(fields, pickle.dumps(self.log)))

    def _deserialize(self, filename):
        raw = read_dump(filename)
        self.log = pickle.loads(raw["state"])
        self.restores.append(raw["last"][1])
        on_install = getattr(self.sim_net, "on_install", None)  # raftfuzz_members.py
        if on_install is not None:
            on_install(self.addr, raw["cluster"])
        return _entry(raw["last"]), _entry(raw["prev"]), tuple(raw["cluster"])

    @replicated
    def apply(self, command):
        index = self.raftLastApplied + 1
        self.log.append((index, command))
        self.applied[index] = command
        return index


class SimNet:
    """Links, faults and the fake clock for a set of SimNodes."""

    def __init__(self, tmp_path, n: int = 3, seed: int = 0, **conf):
        self.clock = Clock()
        self.rng = random.Random(seed)
        self._saved = (syncobj_module.monotonicTime, syncobj_module.random)
        syncobj_module.monotonicTime = self.clock
        syncobj_module.random = random.Random(seed)
        self.addrs = [f"10.0.0.{i + 1}:4321" for i in range(n)]
        self.queues: dict[tuple[str, str], deque] = {}
        self.cut: set[tuple[str, str]] = set()  # messages sent on these links are lost
        self.held: set[tuple[str, str]] = set()  # these links deliver nothing for now
        self.down: set[str] = set()
        self._burst: dict[tuple[str, str], list] = {}
        self._tmp = tmp_path
        self._conf = conf
        self.nodes: dict[str, SimNode] = {}
        for addr in self.addrs:
            self.start(addr)

    # ---- nodes --------------------------------------------------------------
    def start(self, addr: str, folder=None, **conf) -> SimNode:
        folder = folder or self._tmp / addr.replace(":", "_")
        folder.mkdir(parents=True, exist_ok=True)
        peers = [a for a in self.addrs if a != addr]
        node = SimNode(addr, peers, self, str(folder), **{**self._conf, **conf})
        for peer in node.otherNodes:
            node._SyncObj__transport._onNodeConnected(peer)
        old = self.nodes.get(addr)
        if old is not None:
            node.applied = old.applied  # what it applied before a crash stays applied
            node.restores = old.restores
        self.nodes[addr] = node
        self.down.discard(addr)
        return node

    def crash(self, addr: str) -> None:
        """SIGKILL: nothing in memory survives, queued messages to and from it are lost.

        What reached the files stays (the page cache outlives a process), but
        nothing is flushed on the way out: a dirty commit index is lost."""
        self.down.add(addr)
        os.close(self.nodes[addr]._SyncObj__raftLog._fd)
        for link in list(self.queues):
            if addr in link:
                self.queues[link].clear()

    def close(self) -> None:
        for addr, node in self.nodes.items():
            if addr not in self.down:
                os.close(node._SyncObj__raftLog._fd)
        syncobj_module.monotonicTime, syncobj_module.random = self._saved

    def node(self, i: int) -> SimNode:
        return self.nodes[self.addrs[i]]

    # ---- links --------------------------------------------------------------
    FLOOD = 500  # messages on one link within one instant of fake time

    def send(self, src: str, dst: str, message) -> bool:
        burst = self._burst.get((src, dst))
        if burst is None or burst[0] != self.clock.now:
            burst = self._burst[(src, dst)] = [self.clock.now, 0]
        burst[1] += 1
        if burst[1] > self.FLOOD:
            raise AssertionError(f"{src} flooded {dst}: over {self.FLOOD} messages at one instant")
        if src in self.down or dst in self.down or (src, dst) in self.cut:
            return True  # TCP accepted it; it will never arrive
        self.queues.setdefault((src, dst), deque()).append(pickle.dumps(message))
        return True

    def deliver(self, src: str, dst: str, count: int | None = None) -> int:
        """Deliver up to ``count`` queued messages on one link (all by default)."""
        queue = self.queues.get((src, dst))
        done = 0
        while queue and (count is None or done < count) and dst not in self.down:
            message = pickle.loads(queue.popleft())
            target = self.nodes[dst]
            sender = self._node_obj(target, src)
            if sender is not None:  # else: a node it does not know, whose connection TCPTransport refuses
                target._SyncObj__transport._onMessageReceived(sender, message)
            done += 1
        return done

    def _node_obj(self, target: SimNode, addr: str):
        for peer in target.otherNodes:
            if peer.address == addr:
                return peer
        return None

    def isolate(self, addr: str) -> None:
        for other in self.addrs:
            if other != addr:
                self.cut.update({(addr, other), (other, addr)})
                self.queues.pop((addr, other), None)
                self.queues.pop((other, addr), None)

    def heal(self) -> None:
        self.cut.clear()
        self.held.clear()

    # ---- time ---------------------------------------------------------------
    def tick(self, addrs=None) -> None:
        for addr in addrs or self.addrs:
            if addr not in self.down:
                self.nodes[addr].doTick(0.0)

    def step(self, dt: float = 0.05, rounds: int = 1, per_link: int | None = None) -> None:
        """Advance time, tick every node, deliver every link that is not held.

        ``per_link`` caps the messages each link delivers per step: a slow
        link, whose messages reach the peer in separate polls.
        """
        for _ in range(rounds):
            self.clock.now += dt
            self.tick()
            for (src, dst) in list(self.queues):
                if (src, dst) not in self.held:
                    self.deliver(src, dst, per_link)

    def run(self, seconds: float, dt: float = 0.05, per_link: int | None = None) -> None:
        self.step(dt, int(seconds / dt), per_link)

    # ---- elections and writes -------------------------------------------------
    def elect(self, addr: str) -> SimNode:
        """Make ``addr`` start an election now and deliver until it leads."""
        node = self.nodes[addr]
        node._SyncObj__raftElectionDeadline = 0
        for _ in range(200):
            self.step(0.01)
            if node._isLeader():
                return node
        raise AssertionError(f"{addr} did not become leader")

    def quiet(self) -> None:
        """Followers stop calling elections on their own (tests drive every election)."""
        for node in self.nodes.values():
            node._SyncObj__raftElectionDeadline = float("inf")

    def leader(self) -> SimNode | None:
        leaders = [n for a, n in self.nodes.items() if a not in self.down and n._isLeader()]
        return leaders[0] if len(leaders) == 1 else None

    def write(self, addr: str, command) -> list:
        """Submit a command on ``addr``; the returned list gets (result, error) when it completes."""
        outcome: list = []
        self.nodes[addr].apply(command, callback=lambda res, err: outcome.append((res, err)))
        return outcome


def acknowledged(outcome: list) -> bool:
    return bool(outcome) and outcome[0][1] == FAIL_REASON.SUCCESS


def divergences(net: SimNet) -> list[str]:
    """Indices at which two nodes applied different commands."""
    seen: dict[int, tuple[str, object]] = {}
    out = []
    for addr, node in net.nodes.items():
        for index, command in node.applied.items():
            first = seen.setdefault(index, (addr, command))
            if first[1] != command:
                out.append(f"index {index}: {first[0]} applied {first[1]!r}, {addr} applied {command!r}")
    return out
