"""Store: the RegistryStore Protocol (node/store_protocol.py) over Raft; a thin facade.

Writes: ``propose(command)`` answers once a majority has committed the
command and this node has applied it (so a writer reads its own write on the
node it asked): on the leader through the Proposer (group commit), on a
follower through the Forwarder. Reads: ``read(fn)`` runs ``fn`` on the state
under the lock shared with the Raft thread; ``sync(True)`` first waits for a
linearizable read point. Everything else lives in a module of its own:
membership.py, applied.py, clock.py, divergence.py, disk.py, writes.py,
node_status.py.
"""

from __future__ import annotations

import asyncio
import threading
import time

from .. import errors
from ..config import NodeConfig
from ..fsm.registry import RegistryState
from ..fsm.results import Result
from ..store_protocol import Capture, NodeStatus
from .adapter import RaftNode, RaftStatus
from .applied import Applied
from .clock import LeaderClock, Ticker
from .disk import DiskHealth
from .divergence import Alarms, AppliedHash, DivergenceMonitor
from .forwarder import Follower, Forwarder
from .handoff import LoopHandoff
from .leader_client import LeaderClient
from . import raft_members
from .membership import Membership
from .membership_change import MembershipChanges
from .monitoring import Monitoring, collect
from .node_status import node_status
from .proposer import Proposer
from .raft_events import RaftEvents, exit_if_stopped
from .writes import Writes


__all__ = ["NodeStatus", "Store"]


class Store:
    def __init__(self, cfg: NodeConfig, client_ssl=None):
        """``client_ssl``: the SSLContext for reaching other nodes over HTTPS (node/tls.py)."""
        self.cfg = cfg
        voters = frozenset(cfg.peer) if cfg.replica else frozenset({cfg.raft, *cfg.peer})
        try:  # membership changed since the flags were written (raft_members.py)
            voters = frozenset(raft_members.read(cfg.data_dir) or voters)
        except ValueError:
            pass  # RaftNode refuses to start with the reason
        self.fsm = RegistryState(member_rafts=voters)
        self.lock = threading.Lock()
        self.hashes, self.alarms, self.disk = AppliedHash(), Alarms(), DiskHealth(cfg.slow_fsync)
        self.membership = Membership(cfg, self.fsm, self.lock, cluster=lambda: self.raft_status().cluster)
        self.applied = Applied()
        self._clock = LeaderClock(wall=lambda: time.time() + cfg.clock_offset)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handoff: LoopHandoff | None = None
        self._raft: RaftNode | None = None
        self._proposer: Proposer | None = None
        self._writes: Writes | None = None
        self._leader_client = LeaderClient(cfg.cluster_secret, client_ssl)
        self._changes = MembershipChanges(self)
        self._ticker = Ticker(self, cfg.tick_interval, int(cfg.down_grace * 1000), cfg.tick_options())
        # How long a write or linearizable read waits for a leader to appear:
        # two elections' worth, so an election in progress is waited out but a
        # node cut off from the majority refuses quickly (issue 17).
        self._no_leader_wait = min(cfg.propose_timeout, 2 * cfg.election_timeout_max)
        self._divergence = DivergenceMonitor(self.hashes, self.alarms, self.membership.peer_apis,
                                             cfg.divergence_check_interval, client_ssl,
                                             commit_index=lambda: self.raft_status().commit)
        self._started = time.time()

    # ---- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self._handoff = LoopHandoff(loop)
        self.applied.bind(loop)
        await self._leader_client.start()
        events = RaftEvents(lambda: self._raft, lambda: self._handoff, lambda: self._proposer, self._clock,
                            self.applied, self._leading)
        try:
            # SyncObj's constructor binds and replays the journal; keep it off the loop.
            raft = await loop.run_in_executor(None, lambda: RaftNode(
                self.cfg, self.fsm, self.lock, events.on_applied, events.on_restore, self.hashes, self.alarms,
                self.disk, on_role=events.on_role, clock_anchored=self._clock.anchored))
        except BaseException:
            await self._leader_client.close()
            raise
        try:
            await loop.run_in_executor(None, raft.wait_started, 600.0)
        except BaseException:
            await loop.run_in_executor(None, raft.destroy_synchronous)
            await self._leader_client.close()
            raise
        self._raft = raft
        cfg = self.cfg
        self._proposer = Proposer(raft, self._stamp, cfg.max_inflight, cfg.batch_max, cfg.propose_timeout,
                                  self._handoff)
        follower = Follower(is_leader=self._leading, leader_api=self._remote_leader_api,
                            propose_here=self.leader_propose_many, wait_applied=self.applied.wait,
                            can_apply=lambda: self.disk.ok)
        forwarder = Forwarder(follower, self._leader_client, cfg.batch_max, cfg.forward_inflight,
                              cfg.propose_timeout, self._no_leader_wait, loop)
        self._writes = Writes(self._proposer, forwarder, self._leading, self._remote_leader_api, self.disk,
                              cfg.propose_timeout, self._no_leader_wait)
        self._ticker.start()
        self._divergence.start()

    async def stop(self) -> None:
        await self._ticker.stop()
        await self._divergence.stop()
        if self._raft is not None and len(self.raft_status().cluster) > 1 and self._leading():
            # Leaving cleanly: let a caught-up follower take over now instead of
            # making the cluster wait out an election timeout.
            self._raft.request_leadership_transfer()
            for _ in range(20):
                await asyncio.sleep(0.05)
                if not self._leading():
                    break
        if self._raft is not None:
            raft, self._raft = self._raft, None
            await self._loop.run_in_executor(None, raft.destroy_synchronous)
        await self._leader_client.close()

    # ---- membership (membership_change.py) -------------------------------------
    async def add_member(self, raft: str, api: str) -> dict:
        return await self._changes.add(raft, api)

    async def remove_member(self, node: str) -> dict:
        return await self._changes.remove(node)

    def accept_join(self, raft: str, members: list) -> dict:
        return self._changes.accept_join(raft, members)

    @property
    def leader_client(self) -> LeaderClient:
        return self._leader_client

    def raft_node(self) -> RaftNode:
        if self._raft is None:
            raise errors.NotReady("this node is starting")
        return self._raft

    def is_leader(self) -> bool:
        return self._leading()

    def remote_leader_api(self) -> str | None:
        return self._remote_leader_api()

    def add_listener(self, fn, on_restore=None) -> None:
        self.applied.add_listener(fn, on_restore)

    def check_alive(self) -> None:
        """Called every tick period (clock.py)."""
        exit_if_stopped(self._raft)

    # ---- status -------------------------------------------------------------
    def raft_status(self) -> RaftStatus:
        return self._raft.status if self._raft is not None else RaftStatus()

    def _leading(self) -> bool:
        return self.raft_status().role == "leader"

    def _remote_leader_api(self) -> str | None:
        url = self.membership.api_url_of(self.raft_status().leader)
        return None if url == self.cfg.api_url else url

    def status(self) -> NodeStatus:
        return node_status(self.raft_status(), self.membership, self.alarms, self.hashes, self.fsm.revision,
                           self.disk)

    def monitoring(self) -> Monitoring:
        """Storage, snapshot and replication figures for /metrics (consensus/monitoring.py)."""
        lags = self._divergence.apply_lag if self._leading() else {}
        return collect(self._raft, self.membership.id_of, lags, self._started)

    def members(self) -> list[dict]:
        rs = self.raft_status()
        return self.membership.view(rs.role, rs.leader, self.alarms.divergence)

    # ---- reads --------------------------------------------------------------
    def read(self, fn):
        with self.lock:
            return fn(self.fsm)

    def revision(self) -> int:
        return self.fsm.revision

    def service_revision(self, name: str) -> int:
        return self.fsm.service_rev.get(name, 0)

    def auth_view(self) -> tuple[dict, int]:
        fsm = self.fsm
        return fsm.tokens.records, fsm.clock

    async def sync(self, linearizable: bool) -> None:
        if not linearizable:
            return
        deadline = time.monotonic() + self.cfg.propose_timeout
        index = await self._writes.read_point(deadline)
        await self.applied.wait(index, max(0.05, deadline - time.monotonic()))

    async def capture(self) -> Capture:
        # A linearizable point first, then the state and the index it stands at, together under
        # the lock: every entry applied here is committed, and this one covers every write
        # acknowledged before the call. Off the loop: ~0.1 s at 100,000 instances.
        await self.sync(True)

        def take() -> Capture:
            with self.lock:
                point = self._raft.point
                return Capture(self.fsm.capture(), point.index, point.term)

        return await self._loop.run_in_executor(None, take)

    async def leader_read_index(self) -> int:
        return await self._writes.leader_read_index()

    # ---- writes (writes.py) ---------------------------------------------------
    async def propose(self, command: list) -> Result:
        return await self._writes.propose(command)

    async def leader_propose_many(self, commands: list) -> tuple[int, list]:
        return await self._writes.leader_propose_many(commands)

    def _stamp(self) -> tuple[int, int, int]:
        term = self.raft_status().term
        ts_ms, held_ms = self._clock.stamp(term)
        return ts_ms, term, held_ms
