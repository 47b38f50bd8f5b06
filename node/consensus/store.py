"""Store: the async facade the HTTP layer uses; the only door to consensus.

Writes: ``propose(command)`` answers once a majority has committed the
command and this node has applied it (so the writer reads its own write on
the node it asked). On the leader it goes through the Proposer; on a
follower through the Forwarder to the leader. Reads: ``read(fn)`` runs ``fn``
on the state under the lock shared with the Raft thread; ``sync(level)``
first waits for a linearizable read point when asked.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass

from .. import errors
from ..config import NodeConfig
from ..fsm import commands as C
from ..fsm.registry import RegistryState
from .adapter import RaftNode, RaftStatus
from .clock import LeaderClock, Ticker
from .handoff import LoopHandoff
from .forwarder import Forwarder
from .proposer import Proposer

log = logging.getLogger("manifest.store")


@dataclass(frozen=True, slots=True)
class NodeStatus:
    role: str
    leader_api: str | None
    term: int
    commit: int
    applied: int
    revision: int
    last_contact_ms: int | None
    ready: bool


class Store:
    def __init__(self, cfg: NodeConfig):
        self.cfg = cfg
        self.fsm = RegistryState()
        self.lock = threading.Lock()
        self._clock = LeaderClock(wall=lambda: time.time() + cfg.clock_offset)
        self._listeners: list = []  # called on the loop with (index, events)
        self._restore_listeners: list = []  # called on the loop with (revision,)
        self._waiters: list = []  # heap of (index, seq, future)
        self._seq = itertools.count()
        self._applied = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handoff: LoopHandoff | None = None
        self._raft: RaftNode | None = None
        self._proposer: Proposer | None = None
        self._forwarder = Forwarder(cfg.cluster_secret)
        self._fwd_pending: list = []
        self._fwd_inflight = 0
        self._fwd_scheduled = False
        self._read_index: asyncio.Future | None = None  # follower read-index not yet sent
        self._members_seen: dict | None = None
        self._api_by_raft: dict[str, str] = {}
        self._ticker = Ticker(self, cfg.tick_interval, int(cfg.down_grace * 1000))

    # ---- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handoff = LoopHandoff(self._loop)
        await self._forwarder.start()
        # SyncObj's constructor binds and replays the journal; keep it off the loop.
        self._raft = await self._loop.run_in_executor(None, lambda: RaftNode(
            self.cfg, self.fsm, self.lock, self._on_applied, self._on_restore))
        self._proposer = Proposer(self._raft, self._stamp, self.cfg.max_inflight,
                                  self.cfg.batch_max, self.cfg.propose_timeout, self._handoff)
        self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()
        if self._raft is not None and self.cfg.peer and self.raft_status().role == "leader":
            # Leaving cleanly: let a caught-up follower take over now instead of
            # making the cluster wait out an election timeout.
            self._raft.request_leadership_transfer()
            for _ in range(20):
                await asyncio.sleep(0.05)
                if self.raft_status().role != "leader":
                    break
        if self._raft is not None:
            raft, self._raft = self._raft, None
            await self._loop.run_in_executor(None, raft.destroy_synchronous)
        await self._forwarder.close()

    def add_listener(self, fn, on_restore=None) -> None:
        """``fn(index, events)`` after each applied entry, in log order, on the loop;
        ``on_restore(revision)`` when a snapshot replaced the whole state."""
        self._listeners.append(fn)
        if on_restore is not None:
            self._restore_listeners.append(on_restore)

    # ---- status -------------------------------------------------------------
    def raft_status(self) -> RaftStatus:
        return self._raft.status if self._raft is not None else RaftStatus()

    def status(self) -> NodeStatus:
        rs = self.raft_status()
        return NodeStatus(
            role=rs.role,
            leader_api=self.api_url_of(rs.leader),
            term=rs.term,
            commit=rs.commit,
            applied=rs.applied,
            revision=self.fsm.revision,
            last_contact_ms=0 if rs.role == "leader" else (
                int((time.monotonic() - rs.last_contact) * 1000) if rs.last_contact else None),
            ready=rs.ready,
        )

    def api_url_of(self, raft_addr: str | None) -> str | None:
        if raft_addr is None:
            return None
        if raft_addr == self.cfg.raft:
            return self.cfg.api_url
        members = self.fsm.members  # replaced, never mutated, on every change
        if members is not self._members_seen:
            self._api_by_raft = {m["raft"]: m["api"] for m in members.values()}
            self._members_seen = members
        return self._api_by_raft.get(raft_addr)

    def members(self) -> list[dict]:
        rs = self.raft_status()
        with self.lock:
            known = {m["raft"]: (node_id, m["api"]) for node_id, m in self.fsm.members.items()}
        out = []
        for raft in sorted({self.cfg.raft, *self.cfg.peer}):
            node_id, api = known.get(raft, (None, None))
            if raft == self.cfg.raft:
                node_id, api, role = self.cfg.id, self.cfg.api_url, rs.role
            else:
                role = "leader" if raft == rs.leader else ("follower" if rs.leader else "unknown")
            out.append({"id": node_id, "api": api, "raft": raft, "role": role,
                        "self": raft == self.cfg.raft})
        return out

    def knows_itself(self) -> bool:
        with self.lock:
            me = self.fsm.members.get(self.cfg.id)
        return me == {"api": self.cfg.api_url, "raft": self.cfg.raft}

    def self_member_command(self) -> list:
        return C.member(self.cfg.id, self.cfg.api_url, self.cfg.raft)

    # ---- reads --------------------------------------------------------------
    def read(self, fn):
        """Run ``fn(state)`` under the state lock and return its result."""
        with self.lock:
            return fn(self.fsm)

    async def sync(self, linearizable: bool) -> None:
        """Return once this node's state reflects every write acknowledged so far."""
        if not linearizable:
            return
        deadline = time.monotonic() + self.cfg.propose_timeout
        if self.raft_status().role == "leader":
            index, _ = await self._proposer.barrier()
        else:
            index = await self._follower_read_index(deadline)
        await self.wait_applied(index, max(0.05, deadline - time.monotonic()))

    async def _follower_read_index(self, deadline: float) -> int:
        if self._read_index is None or self._read_index.done():
            fut = self._read_index = self._loop.create_future()
            self._loop.call_soon(lambda: self._loop.create_task(self._fetch_read_index(fut, deadline)))
        return await asyncio.shield(self._read_index)

    async def _fetch_read_index(self, fut: asyncio.Future, deadline: float) -> None:
        if self._read_index is fut:
            self._read_index = None  # reads arriving from now on need a fresh one
        try:
            leader = await self._await_leader_url(deadline)
            index = await self._forwarder.read_index(leader, max(0.05, deadline - time.monotonic()))
            fut.set_result(index)
        except errors.ManifestError as exc:
            fut.set_exception(errors.NoLeader(exc.message) if isinstance(exc, errors.UnknownOutcome) else exc)
        except Exception as exc:  # never leave readers hanging
            fut.set_exception(errors.Unavailable(f"read index failed: {exc}"))

    async def leader_read_index(self) -> int:
        """For the internal endpoint: confirm leadership through the log, return the index."""
        if self.raft_status().role != "leader":
            raise errors.NoLeader("not the leader")
        index, _ = await self._proposer.barrier()
        return index

    async def wait_applied(self, index: int, timeout: float) -> None:
        if self._applied >= index:
            return
        fut = self._loop.create_future()
        heapq.heappush(self._waiters, (index, next(self._seq), fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise errors.NotReady(f"this node has not applied index {index} yet") from None

    # ---- writes -------------------------------------------------------------
    async def propose(self, command: list) -> dict:
        """Commit one command and return its FSM result (which may be an error dict)."""
        deadline = time.monotonic() + self.cfg.propose_timeout
        while True:
            rs = self.raft_status()
            if rs.role == "leader":
                _, result = await self._proposer.propose(command)
                return result
            if rs.leader is not None and self.api_url_of(rs.leader) is not None:
                return await self._forward(command, deadline)
            # Election in progress: wait a little rather than fail at once.
            if time.monotonic() + 0.05 >= deadline:
                raise errors.NoLeader("no leader is known; retry shortly")
            await asyncio.sleep(0.05)

    async def leader_propose_many(self, commands: list) -> tuple[int, list]:
        """For the internal endpoint: propose forwarded commands, results in order."""
        if self.raft_status().role != "leader":
            raise errors.NoLeader("not the leader")
        futs = [self._proposer.propose(c) for c in commands]
        outs = await asyncio.gather(*futs, return_exceptions=True)
        index, results = 0, []
        for out in outs:
            if isinstance(out, errors.ManifestError):
                results.append({"error": out.code, "message": out.message, "unavailable": True})
            elif isinstance(out, BaseException):
                results.append({"error": "unknown_outcome", "message": str(out), "unavailable": True})
            else:
                index = max(index, out[0])
                results.append(out[1])
        return index, results

    async def _await_leader_url(self, deadline: float) -> str:
        while True:
            rs = self.raft_status()
            url = self.api_url_of(rs.leader)
            if url is not None and url != self.cfg.api_url:
                return url
            if rs.role == "leader":
                raise errors.NoLeader("this node is the leader now")
            if time.monotonic() + 0.05 >= deadline:
                raise errors.NoLeader("no leader is known; retry shortly")
            await asyncio.sleep(0.05)

    async def _forward(self, command: list, deadline: float) -> dict:
        fut = self._loop.create_future()
        self._fwd_pending.append((command, fut))
        if not self._fwd_scheduled:
            self._fwd_scheduled = True
            self._loop.call_soon(self._flush_forward, deadline)
        return await fut

    def _flush_forward(self, deadline: float) -> None:
        self._fwd_scheduled = False
        while self._fwd_pending and self._fwd_inflight < 4:
            items = self._fwd_pending[:self.cfg.batch_max]
            del self._fwd_pending[:self.cfg.batch_max]
            self._fwd_inflight += 1
            self._loop.create_task(self._send_forward(items, deadline))

    async def _send_forward(self, items: list, deadline: float) -> None:
        try:
            reply = await self._forward_until(items, deadline)
            # Answer only once this node has applied the entry: read-your-writes here.
            try:
                await self.wait_applied(reply["index"], max(0.05, deadline - time.monotonic()))
            except errors.NotReady:
                pass  # committed by a majority; this node is just behind
            for (_, fut), result in zip(items, reply["results"]):
                if fut.done():
                    continue
                if isinstance(result, dict) and result.get("unavailable"):
                    cls = errors.UnknownOutcome if result["error"] == "unknown_outcome" else errors.NoLeader
                    fut.set_exception(cls(result.get("message", "")))
                else:
                    fut.set_result(result)
        except errors.ManifestError as exc:
            for _, fut in items:
                if not fut.done():
                    fut.set_exception(type(exc)(exc.message))
        finally:
            self._fwd_inflight -= 1
            if self._fwd_pending and not self._fwd_scheduled:
                self._fwd_scheduled = True
                self._loop.call_soon(self._flush_forward, time.monotonic() + self.cfg.propose_timeout)

    async def _forward_until(self, items: list, deadline: float) -> dict:
        """Forward, retrying while the batch provably never reached a leader."""
        while True:
            if self.raft_status().role == "leader":
                # This node won the election meanwhile: propose here.
                index, results = await self.leader_propose_many([c for c, _ in items])
                return {"index": index, "results": results}
            try:
                leader = await self._await_leader_url(deadline)
            except errors.NoLeader:
                if self.raft_status().role == "leader":
                    continue
                raise
            try:
                return await self._forwarder.propose(
                    leader, [c for c, _ in items], max(0.05, deadline - time.monotonic()))
            except errors.NoLeader:
                # Not committed anywhere (refused, or the target is no longer
                # leader): safe to resend once an election settles.
                if time.monotonic() + 0.1 >= deadline:
                    raise
                await asyncio.sleep(0.05)

    def _stamp(self) -> tuple[int, int, int]:
        term = self.raft_status().term
        ts_ms, held_ms = self._clock.stamp(term)
        return ts_ms, term, held_ms

    # ---- called on the Raft thread -------------------------------------------
    def _on_applied(self, index: int, outcome) -> None:
        raft = self._raft  # None while pysyncobj's constructor already applies entries
        if raft is not None and outcome.term is not None and outcome.term == raft.raftCurrentTerm:
            self._clock.observe(outcome.ts_ms)  # fresh: a later term of ours can extrapolate it
        self._handoff(self._applied_on_loop, index, outcome.events)

    def _on_restore(self, revision: int) -> None:
        if self._handoff is not None:
            self._handoff(self._restored_on_loop, revision)

    # ---- back on the loop ----------------------------------------------------
    def _applied_on_loop(self, index: int, events: list) -> None:
        self._applied = max(self._applied, index)
        if events and self.raft_status().role == "leader":
            self._log_expiries(events)
        while self._waiters and self._waiters[0][0] <= self._applied:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
        for listener in self._listeners:
            listener(index, events)

    @staticmethod
    def _log_expiries(events: list) -> None:
        gone = [ev for ev in events if ev.kind == "expired" or ev.reason == "grace"]
        for ev in gone[:20]:
            log.info("instance expired" if ev.kind == "expired" else "instance removed after grace",
                     extra={"service": ev.record["name"], "instance": ev.record["id"], "revision": ev.revision})
        if len(gone) > 20:
            log.info("more instances expired or removed", extra={"count": len(gone) - 20})

    def _restored_on_loop(self, revision: int) -> None:
        for listener in self._restore_listeners:
            listener(revision)  # state replaced wholesale: listeners must resync
