"""The pysyncobj SyncObj subclass: one replicated entry point, nothing else.

``apply(envelope)`` is the only ``@replicated`` method: pysyncobj numbers
replicated methods by name, so adding one would break replay of old logs.
It hands the envelope to the pure FSM under a lock shared with readers on the
event loop, and reports the applied index and outcome to ``on_applied``.
Everything here runs on pysyncobj's tick thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

import pysyncobj.syncobj as _syncobj_module
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.pipe_notifier import PipeNotifier
from pysyncobj.transport import TCPTransport

from ..config import NodeConfig
from ..fsm.registry import RegistryState
from .journal import DurableJournal
from .snapshot import SnapshotHooks, reconcile

log = logging.getLogger("manifest.raft")
ROLES = {0: "follower", 1: "candidate", 2: "leader"}
_PING_EVERY = 0.5
_journal_patch = threading.Lock()


@dataclass(frozen=True, slots=True)
class RaftStatus:
    role: str = "follower"
    leader: str | None = None  # Raft address of the known leader
    term: int = 0
    commit: int = 0
    applied: int = 0
    last_contact: float = 0.0  # monotonic time of the last append from a leader
    ready: bool = False  # knows a leader and applied all it knows committed


class _Transport(TCPTransport):
    """TCPTransport that notes when the leader last spoke and can ping peers.

    Idle follower-to-follower links would otherwise be torn down by the first
    vote request after a leader dies (pysyncobj checks connectionTimeout only
    when sending), losing that vote and slowing the election.
    """

    def __init__(self, syncObj, selfNode, otherNodes):
        super().__init__(syncObj, selfNode, otherNodes)
        self.last_leader_contact = 0.0
        syncObj._manifest_transport = self

    def _onMessageReceived(self, node, message):
        if message.get("type") == "append_entries":
            self.last_leader_contact = time.monotonic()
        super()._onMessageReceived(node, message)


class RaftNode(SyncObj):
    def __init__(self, cfg: NodeConfig, fsm: RegistryState, lock: threading.Lock, on_applied, on_restore):
        os.makedirs(cfg.data_dir, exist_ok=True)
        journal = os.path.join(cfg.data_dir, "raft.journal")
        dump = os.path.join(cfg.data_dir, "raft.snapshot")
        outcome = reconcile(journal, dump)
        if outcome not in ("no dump", "consistent"):
            log.warning("start-up journal repair: %s", outcome)
        self._fsm, self._lock, self._on_applied = fsm, lock, on_applied
        self._role = "follower"
        self._last_ping = 0.0
        self._transfer_requested = False
        self.status = RaftStatus()
        hooks = SnapshotHooks(fsm, lock, cfg.fsync, on_restore)
        conf = SyncObjConf(
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
            deserializer=hooks.deserialize,
            serializeChecker=hooks.check,
            logCompactionMinEntries=cfg.compaction_entries,
            logCompactionMinTime=cfg.compaction_interval,
            logCompactionSplit=True,  # nodes compact at different moments, never all at once
            onStateChanged=self._state_changed,
            dynamicMembershipChange=False,
        )
        with _journal_patch:
            # pysyncobj has no hook for the journal class; swap its factory only
            # for the duration of this constructor (docs/durability.md).
            original = _syncobj_module.createJournal
            _syncobj_module.createJournal = lambda path: DurableJournal(path, fsync=cfg.fsync)
            try:
                super().__init__(cfg.raft, list(cfg.peer), conf, transportClass=_Transport)
            finally:
                _syncobj_module.createJournal = original
        # A one-node cluster commits on the tick after the append, but nothing
        # wakes pysyncobj's poll for that tick: without this it sleeps a whole
        # autoTickPeriod per write. Counters, not a shared int: each has one writer.
        self._solo = not cfg.peer
        self._submitted = 0
        self._completed = 0
        self._wake = PipeNotifier(self._poller)
        self.addOnTickCallback(self._on_tick)

    @replicated
    def apply(self, envelope: bytes):
        index = self.raftLastApplied + 1  # pysyncobj increments it after we return
        with self._lock:
            outcome = self._fsm.apply(envelope)
        self._on_applied(index, outcome)
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

    def request_leadership_transfer(self) -> None:
        """Hand leadership to the most caught-up follower (done on the tick thread)."""
        self._transfer_requested = True

    def _state_changed(self, old, new) -> None:
        self._role = ROLES.get(new, "follower")
        if new == 2:
            log.info("became leader", extra={"term": self.raftCurrentTerm})
        elif old == 2:
            log.warning("lost leadership", extra={"term": self.raftCurrentTerm})

    def _on_tick(self) -> None:
        leader = self._getLeader()
        role = "leader" if self._isLeader() else self._role if self._role != "leader" else "follower"
        transport = self._manifest_transport
        commit, applied = self.raftCommitIndex, self.raftLastApplied
        self.status = RaftStatus(
            role=role,
            leader=leader.address if leader is not None else None,
            term=self.raftCurrentTerm,
            commit=commit,
            applied=applied,
            last_contact=time.monotonic() if role == "leader" else transport.last_leader_contact,
            ready=leader is not None and applied >= commit,
        )
        if self._solo and self._submitted != self._completed:
            self._wake.notify()
        if self._transfer_requested:
            self._transfer_requested = False
            if role == "leader":
                self.transferLeadership()
        now = time.monotonic()
        if now - self._last_ping >= _PING_EVERY:
            self._last_ping = now
            for node in self.otherNodes:
                if self.isNodeConnected(node):
                    transport.send(node, {"type": "manifest_ping"})
