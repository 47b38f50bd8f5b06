"""RaftNode: the SyncObj of our pysyncobj fork, with one replicated entry point.

``apply(envelope)`` is the only ``@replicated`` method: pysyncobj numbers
replicated methods by name, so adding one would break replay of old logs.
It hands the envelope to the pure FSM under a lock shared with readers on the
event loop, extends the applied-state hash (divergence.py), and reports the
applied index and outcome to ``on_applied``. Around it, on every tick: the
status snapshot the node serves (``RaftStatus``), stepping down and probing
while the disk fails (disk.py), leadership transfer on request, and pings
that keep idle peer links open. Everything here runs on pysyncobj's tick
thread.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
import time
from dataclasses import dataclass

from .pysyncobj import SyncObj, SyncObjConf, replicated
from .pysyncobj.pipe_notifier import PipeNotifier
from .pysyncobj.transport import TCPTransport

from ..config import NodeConfig, split_hostport
from ..fsm.registry import RegistryState
from ..errors import StartupError
from .disk import DiskHealth
from .divergence import Alarms, AppliedHash
from . import raft_members
from .journal import DurableJournal
from .snapshot import SnapshotHooks, StatePoint, reconcile
from .wire import CodecFactory

log = logging.getLogger("manifest.raft")
ROLES = {0: "follower", 1: "candidate", 2: "leader"}
_PING_EVERY = 0.5
# A port held by a process that is exiting frees within a few seconds; one
# held by something else does not, and the operator should hear so.
_BIND_PATIENCE = 5.0
_PROBE_EVERY = 1.0  # seconds between write probes while the disk fails


@dataclass(frozen=True, slots=True)
class RaftStatus:
    role: str = "follower"
    leader: str | None = None  # Raft address of the known leader
    term: int = 0
    commit: int = 0
    applied: int = 0
    last_contact: float = 0.0  # monotonic time of the last append from a leader
    ready: bool = False  # knows a leader and applied all it knows committed
    cluster: tuple = ()  # Raft addresses of every voter, this node's included, as of the log's end
    connected: tuple = ()  # the other voters this node has a connection to
    change_pending: bool = True  # leader only: a membership change (or its term's no-op) uncommitted
    joining: bool = False  # --join: waiting to be added
    removed: bool = False  # this node applied its own removal


class _Transport(TCPTransport):
    """TCPTransport that notes when the leader last spoke and can ping peers.

    Idle follower-to-follower links would otherwise be torn down by the first
    vote request after a leader dies (pysyncobj checks connectionTimeout only
    when sending), losing that vote and slowing the election.
    """

    def __init__(self, syncObj, selfNode, otherNodes):
        self.bind_error: OSError | None = None  # the last failed attempt to listen on our Raft address
        super().__init__(syncObj, selfNode, otherNodes)
        self.last_leader_contact = 0.0
        syncObj._manifest_transport = self

    def _createServer(self):
        super()._createServer()
        # pysyncobj retries a failed bind forever and says nothing, so a node
        # whose Raft port is taken hung at start-up with its API never
        # listening. Keep the reason; wait_started gives up with it.
        bind = self._server.bind

        def noting_bind():
            try:
                bind()
            except OSError as exc:
                if self.bind_error is None:
                    log.warning("cannot listen on the Raft address yet; retrying", extra={"error": str(exc)})
                self.bind_error = exc
                raise
            self.bind_error = None

        self._server.bind = noting_bind

    def _onMessageReceived(self, node, message):
        if message.get("type") == "append_entries":
            self.last_leader_contact = time.monotonic()
        super()._onMessageReceived(node, message)


def _bind_address(cfg: NodeConfig) -> str | None:
    """Where the Raft port listens: the --raft address itself when it is an IP (or localhost).

    pysyncobj listens on 0.0.0.0 unless told, so ``--raft 127.0.0.1:PORT``, which
    is allowed without a secret because it is local, was reachable from every
    network the host is on. A host name (a container's or a pod's DNS name)
    still listens on every interface: it may not resolve before the node is up."""
    if cfg.replica:
        return None
    host, port = split_hostport(cfg.raft, "raft")
    if host == "localhost":
        return f"127.0.0.1:{port}"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return f"{host}:{port}"


class RaftNode(SyncObj):
    def __init__(self, cfg: NodeConfig, fsm: RegistryState, lock: threading.Lock, on_applied, on_restore,
                 hashes: AppliedHash | None = None, alarms: Alarms | None = None,
                 disk: DiskHealth | None = None, on_role=None, clock_anchored=None):
        os.makedirs(cfg.data_dir, exist_ok=True)
        self._data_dir = cfg.data_dir
        self._raft_address = cfg.raft
        try:
            state = raft_members.read_state(cfg.data_dir)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        known, joined = state if state is not None else (None, False)
        # The voters as last known here win over the flags: membership changes
        # since the start are in the log, not in --peer (raft_members.py).
        peers = list(cfg.peer) if known is None or cfg.replica else [m for m in known if m != cfg.raft]
        if known is not None and not cfg.replica and set(peers) != set(cfg.peer):
            log.info("starting with the membership last known here, not --peer", extra={"members": known})
        self._members_written = None if known is None else (frozenset(known), joined)
        # No file while the voters are what the flags say: restarting with other
        # flags then still means what it always meant.
        self._configured = frozenset({cfg.raft, *cfg.peer})
        self._fsync = cfg.fsync
        self.join = raft_members.JoinState(None if cfg.replica else cfg.raft,
                                           waiting=cfg.join and not joined)
        self._peers = bool(peers)
        self._last_probe = 0.0
        journal = os.path.join(cfg.data_dir, "raft.journal")
        dump = os.path.join(cfg.data_dir, "raft.snapshot")
        outcome = reconcile(journal, dump)
        if outcome not in ("no dump", "consistent"):
            log.warning("start-up journal repair: %s", outcome)
        self._fsm, self._lock, self._on_applied = fsm, lock, on_applied
        self.hashes = hashes if hashes is not None else AppliedHash()
        self.alarms = alarms if alarms is not None else Alarms()
        self.disk = disk if disk is not None else DiskHealth()
        self._on_role = on_role  # (old, new) role names, on the tick thread
        # A node that rejoins a running cluster stamps registry time from a stamp it applied
        # in the current term (clock.py); elected before it saw one, it would stamp its own
        # wall clock, hours off on a skewed host. So it waits to campaign until it has one,
        # for at most a few ticks' worth (a majority of such nodes still elects someone).
        # A node that never heard of a leader (a whole cluster starting) is not held back.
        self._clock_anchored = clock_anchored or (lambda: True)
        self._heard_leader_at: float | None = None
        self._anchor_wait = max(3 * cfg.tick_interval, 2 * cfg.election_timeout_max)
        self._ticked = threading.Event()
        self._role = "follower"
        self._last_ping = 0.0
        self._transfer_requested = False
        self.status = RaftStatus()
        self.point = StatePoint()  # the index and term of the state, under the lock (backups)
        self._on_restore = on_restore
        hooks = SnapshotHooks(fsm, lock, cfg.fsync, on_restore, self.hashes, self.disk, self.point)
        self.snapshots, self.journal = hooks, None  # read by monitoring.py at scrape time
        self.dump_path = dump
        conf = SyncObjConf(
            bindAddress=_bind_address(cfg),
            password=cfg.cluster_secret,
            autoTickPeriod=0.02,
            appendEntriesUseBatch=False,  # latency: send each entry at once; we batch commands ourselves
            appendEntriesPeriod=cfg.append_entries_period,
            raftMinTimeout=cfg.election_timeout_min,
            raftMaxTimeout=cfg.election_timeout_max,
            leaderFallbackTimeout=cfg.leader_fallback,
            connectionTimeout=5.0,
            connectionRetryTime=0.5,
            commandsWaitLeader=False,
            appendEntriesBatchSizeBytes=2 ** 20,
            fullDumpFile=dump,
            journalFile=journal,
            serializer=hooks.serialize,
            deserializer=lambda path: self._installed(hooks.deserialize(path)),
            serializeChecker=hooks.check,
            logCompactionMinEntries=cfg.compaction_entries,
            logCompactionMinTime=cfg.compaction_interval,
            # Voters compact at different moments, never all at once; a replica
            # (no address of its own) is not in that rota.
            logCompactionSplit=not cfg.replica,
            onStateChanged=self._state_changed,
            dynamicMembershipChange=True,
            onMembershipApplied=self._membership_applied,
            connectionCodec=CodecFactory(cfg.cluster_secret, cfg.raft_protocol),
            journalFactory=lambda path: self._open_journal(path, cfg.fsync),
            # A node that cannot write its log must not lead: it could not
            # even append the no-op a new term starts with.
            # Nor may one that waits to be added (--join) or was removed.
            electionGuard=lambda: self.disk.ok and self.join.may_campaign() and self._may_stamp(),
            # A node waiting to be added has an empty log: its vote must not count.
            voteGuard=lambda: not self.join.waiting,
        )
        # A replica has no address: pysyncobj then connects to every voter as a
        # read-only node, which the leader replicates to but never counts.
        self._replica = cfg.replica  # before the tick thread starts: _on_tick reads it
        self._leader_silence = 2 * cfg.election_timeout_max
        super().__init__(None if cfg.replica else cfg.raft, peers, conf, transportClass=_Transport)
        # A one-node cluster commits on the tick after the append, but nothing
        # wakes pysyncobj's poll for that tick: without this it sleeps a whole
        # autoTickPeriod per write. Counters, not a shared int: each has one writer.
        self._solo = not peers
        self._submitted = 0
        self._completed = 0
        self._wake = PipeNotifier(self._poller)
        self.addOnTickCallback(self._on_tick)

    def _may_stamp(self) -> bool:
        heard = self._heard_leader_at
        return heard is None or self._clock_anchored() or time.monotonic() - heard > self._anchor_wait

    def _open_journal(self, path: str, fsync: bool) -> DurableJournal:
        self.journal = DurableJournal(path, fsync=fsync, on_cut=self._journal_cut, disk=self.disk)
        return self.journal

    def follower_match(self) -> dict[str, int]:
        """On the leader, each follower's Raft address -> the last index it holds; {} elsewhere.

        Any thread: pysyncobj keeps no accessor for its match indexes, and
        copying a small dict is one step under the GIL (the tick thread only
        replaces its values)."""
        if not self._isLeader():
            return {}
        match = dict(self._SyncObj__raftMatchIndex)
        return {node.address: idx for node, idx in match.items()}

    def wait_started(self, timeout: float) -> None:
        """Block until the first tick loaded the snapshot and replayed the journal.

        Raises ``StartupError`` when the snapshot could not be loaded:
        pysyncobj used to carry on with whatever state it had, and serve it."""
        deadline = time.monotonic() + timeout
        give_up_binding = time.monotonic() + _BIND_PATIENCE
        while not self._ticked.wait(0.05):
            bind_error = getattr(self, "_manifest_transport", None) and self._manifest_transport.bind_error
            if bind_error is not None and time.monotonic() > give_up_binding:
                raise StartupError(f"cannot listen on the Raft address {self._raft_address}: "
                                   f"{bind_error.strerror or bind_error}")
            if self.fatalError is not None:
                raise StartupError(f"refusing to start: the snapshot in {self._data_dir} could not be "
                                   f"loaded ({self.fatalError}); docs/operations.md, 'Damaged state files'")
            if time.monotonic() > deadline:
                raise StartupError(f"the Raft state in {self._data_dir} did not load within {timeout:.0f} s")

    @replicated
    def apply(self, envelope: bytes):
        index = self.raftLastApplied + 1  # pysyncobj increments it after we return
        with self._lock:
            outcome = self._fsm.apply(envelope)
            self.point.index = index
            if outcome.term is not None:
                self.point.term = outcome.term
        self.hashes.advance(index, envelope)
        self._on_applied(index, outcome)
        if outcome.restored:  # a RESTORE (fsm/restore.py): the same resync as an installed snapshot
            self._on_restore(self._fsm.revision)
        return index, outcome.results

    def submit(self, envelope: bytes, callback) -> None:
        """Queue an envelope; ``callback((index, results) | None, fail_reason)`` runs on the tick thread."""
        def done(res, err):
            self._completed += 1
            callback(res, err)

        self._submitted += 1
        try:
            self.apply(envelope, callback=done)
        except BlockingIOError:
            pass  # pysyncobj queued the command but its wake-up pipe was full

    def change_membership(self, kind: str, address: str, callback) -> None:
        """Append a single-server change (``add``/``rem``); ``callback(result, fail_reason)`` once applied."""
        (self.addNodeToCluster if kind == "add" else self.removeNodeFromCluster)(address, callback=callback)

    def learn_peers(self, addresses: list[str]) -> None:
        """--join: the leader's list of voters, to connect to before it adds us (done on the tick thread)."""
        self.join.learned = list(addresses)

    def _membership_applied(self, kind: str, address: str) -> None:
        with self._lock:
            self._fsm.change_voters(kind, address)
        self.join.applied(kind, address)

    def _installed(self, loaded):
        self.join.installed(loaded[2])
        return loaded

    def request_leadership_transfer(self) -> None:
        """Hand leadership to the most caught-up follower (done on the tick thread)."""
        self._transfer_requested = True

    def _write_members(self, cluster: tuple, joined: bool) -> None:
        try:
            raft_members.write(self._data_dir, list(cluster), self._fsync, joined)
        except OSError as exc:  # retried on the next tick; the journal still has the changes
            log.error("cannot write the members file", extra={"error": str(exc)})
            return
        self._members_written = (frozenset(cluster), joined)

    def _journal_cut(self, index: int) -> None:
        applied = self.raftLastApplied
        if index <= applied:
            self.alarms.entry_replaced(index, applied)

    def _state_changed(self, old, new) -> None:
        self._role = ROLES.get(new, "follower")
        if new == 2:
            log.info("became leader", extra={"term": self.raftCurrentTerm})
        elif old == 2:
            log.warning("lost leadership", extra={"term": self.raftCurrentTerm})
        if self._on_role is not None and old != new:
            self._on_role(ROLES.get(old, "follower"), self._role)

    def _on_tick(self) -> None:
        self._ticked.set()
        now = time.monotonic()
        if not self.disk.ok:
            if self._peers and self._isLeader():
                # Another node can take over; alone, keep leading and refuse writes.
                log.error("stepping down: this node cannot write its journal", extra={"term": self.raftCurrentTerm})
                self.stepDown()
            if now - self._last_probe >= _PROBE_EVERY:
                self._last_probe = now
                self.disk.probe(self._data_dir)
        leader = self._getLeader()
        if leader is not None and self._heard_leader_at is None and not self._isLeader():
            self._heard_leader_at = now
        transport = self._manifest_transport
        if self._replica:
            role = "replica"
            # pysyncobj forgets a leader when an election starts, which a
            # replica never holds: silence for two election timeouts means none.
            if now - transport.last_leader_contact > self._leader_silence:
                leader = None
        else:
            role = "leader" if self._isLeader() else self._role if self._role != "leader" else "follower"
        commit, applied = self.raftCommitIndex, self.raftLastApplied
        others = self.otherNodes
        join = self.join
        if join.learned is not None:
            learned, join.learned = join.learned, None
            if join.waiting:
                self.learnPeers(learned)
        own = () if self._replica else (self._raft_address,)
        cluster = tuple(sorted({*own, *(n.address for n in others)}))
        self._peers, self._solo = bool(others), not others
        written = (frozenset(cluster), not join.waiting)
        if not self._replica and written != (self._members_written or (self._configured, True)) and (
                len(cluster) > 1 or not join.waiting):
            self._write_members(cluster, not join.waiting)
        self.status = RaftStatus(
            role=role,
            leader=leader.address if leader is not None else None,
            term=self.raftCurrentTerm,
            commit=commit,
            applied=applied,
            last_contact=time.monotonic() if role == "leader" else transport.last_leader_contact,
            ready=leader is not None and applied >= commit and not join.waiting,
            cluster=cluster,
            connected=tuple(sorted(n.address for n in others if self.isNodeConnected(n))),
            change_pending=role != "leader" or self.membershipChangePending,
            joining=join.waiting,
            removed=join.removed,
        )
        if self._solo and self._submitted != self._completed:
            self._wake.notify()
        if self._transfer_requested:
            self._transfer_requested = False
            if role == "leader":
                self.transferLeadership()
        if now - self._last_ping >= _PING_EVERY:
            self._last_ping = now
            for node in self.otherNodes:
                if self.isNodeConnected(node):
                    transport.send(node, {"type": "manifest_ping"})
