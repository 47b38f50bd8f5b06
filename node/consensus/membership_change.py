"""Adding and removing voters: Raft single-server changes, one at a time, never without a quorum.

pysyncobj appends a membership entry and applies it at once (the new
configuration counts for the entry's own commit), so the rules are ours to
keep, checked on the leader before the entry is appended, and again by the
fork (``membershipChangePending``):

- one change at a time: a second while the first is uncommitted is refused
  (409 ``membership_change_in_progress``), as is one before the leader's
  no-op of its term committed;
- a change must leave a reachable majority: the voters this leader is
  connected to, itself included, must be a majority of the new
  configuration (409 ``would_lose_quorum``); the last voter is never removed
  (409 ``last_member``);
- the leader is never removed by itself: it hands leadership to a caught-up
  follower first and the removal goes to the new leader.

Adding ``raft`` (served at ``api``): the leader tells that node, started with
``--join``, the members' Raft addresses (signed, ``/v1/internal/join``; the
node checks the address is its own), makes sure its own log is compacted so
the new node catches up from a snapshot (its registry state, voters
included, arrives whole), then appends the change. A follower forwards
either request to the leader, signed (``/v1/internal/membership``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time

from .. import errors
from ..fsm import commands
from ..fsm.validation import member_problem
from .pysyncobj import FAIL_REASON

log = logging.getLogger("manifest.membership")

JOIN_PATH = "/v1/internal/join"
CHANGE_PATH = "/v1/internal/membership"
_RAFT = re.compile(r"[A-Za-z0-9.\-\[\]:]{1,253}:[0-9]{1,5}")
_COMMIT_WAIT = 10.0  # seconds for a change to commit once appended
_TRANSFER_WAIT = 5.0
_COMPACT_WAIT = 20.0


class MembershipChanges:
    """The leader's side of ``add``/``remove``, and a joining node's ``accept_join``."""

    def __init__(self, store):
        self._store = store
        self._busy = asyncio.Lock()  # this node runs one change at a time; the fork checks the log

    # ---- the joining node -----------------------------------------------------
    def accept_join(self, raft, members) -> dict:
        store = self._store
        cfg, rs = store.cfg, store.raft_status()
        if raft != cfg.raft:
            raise errors.Conflict(f"this node's Raft address is {cfg.raft}, not {raft}", "raft",
                                  code="raft_mismatch")
        if not rs.joining:
            raise errors.Conflict("this node is not waiting to join (start it with --join and an empty "
                                  "data directory)", "raft", code="not_joining")
        if not isinstance(members, list) or not all(isinstance(m, str) and _RAFT.fullmatch(m) for m in members):
            raise errors.InvalidInput("members must be a list of Raft addresses", "members")
        store.raft_node().learn_peers(members)
        return {"id": cfg.id, "api": cfg.api_url, "raft": cfg.raft}

    # ---- entry points ------------------------------------------------------------
    async def add(self, raft: str, api: str) -> dict:
        if not self._store.is_leader():
            return await self._forward({"op": "add", "raft": raft, "api": api})
        async with self._one_at_a_time():
            return await self._add(raft, api)

    async def remove(self, node: str) -> dict:
        store = self._store
        if not store.is_leader():
            return await self._forward({"op": "remove", "node": node})
        async with self._one_at_a_time():
            raft = store.membership.resolve(node)
            if raft is None:
                raise errors.NotFound(f"no voter {node!r} (give a node id or a Raft address)", "node",
                                      code="unknown_member")
            if raft == store.cfg.raft:
                await self._hand_over()
                return await self._forward({"op": "remove", "node": raft}, patient=True)
            return await self._remove(raft)

    # ---- on the leader ---------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _one_at_a_time(self):
        # Refused, not queued: the caller learns that the cluster is changing and
        # decides again once it has changed (a queued change was decided earlier).
        if self._busy.locked():
            raise errors.Conflict("another membership change is under way on this node; retry once it is "
                                  "done (GET /v1/cluster)", code="membership_change_in_progress")
        async with self._busy:
            yield

    def _precheck(self, new_cluster: set[str]) -> None:
        rs = self._store.raft_status()
        if rs.change_pending:
            raise errors.Conflict("another membership change is not committed yet; retry once it is "
                                  "(GET /v1/cluster)", code="membership_change_in_progress")
        reachable = ({self._store.cfg.raft} | set(rs.connected)) & new_cluster
        if len(reachable) < len(new_cluster) // 2 + 1:
            raise errors.Conflict(
                f"after this change {len(new_cluster)} voters would need {len(new_cluster) // 2 + 1} for a "
                f"majority, and only {len(reachable)} are reachable from the leader; bring nodes back first",
                code="would_lose_quorum")

    async def _add(self, raft: str, api: str) -> dict:
        store = self._store
        cluster = set(store.raft_status().cluster)
        if raft in cluster:
            raise errors.Conflict(f"{raft} is already a voter", "raft", code="already_a_member")
        self._precheck(cluster | {raft})
        joined = await store.leader_client.call(api, JOIN_PATH, {"raft": raft, "members": sorted(cluster)}, 5.0)
        await self._ensure_snapshot()
        await self._append("add", raft)
        log.info("voter added", extra={"raft": raft, "api": api, "node": joined.get("id")})
        # Name it at once in /v1/cluster (it announces itself too, once caught up).
        member = commands.member(joined.get("id"), api, raft)
        if member_problem(member) is None:
            try:
                await store.propose(member)
            except errors.ManifestError as exc:
                log.warning("could not record the new member's API URL; it will announce it",
                            extra={"error": str(exc)})
        return self._answer()

    async def _remove(self, raft: str) -> dict:
        store = self._store
        cluster = set(store.raft_status().cluster)
        if len(cluster) <= 1:
            raise errors.Conflict("the last voter cannot be removed", "node", code="last_member")
        self._precheck(cluster - {raft})
        await self._append("rem", raft)
        log.info("voter removed", extra={"raft": raft})
        return self._answer()

    async def _hand_over(self) -> None:
        """Removing the leader: let the most caught-up follower take over, then ask it."""
        store = self._store
        if len(store.raft_status().cluster) <= 1:
            raise errors.Conflict("the last voter cannot be removed", "node", code="last_member")
        self._precheck(set(store.raft_status().cluster) - {store.cfg.raft})
        deadline = time.monotonic() + _TRANSFER_WAIT
        while time.monotonic() < deadline:
            store.raft_node().request_leadership_transfer()
            await asyncio.sleep(0.2)
            rs = store.raft_status()
            if rs.role != "leader" and rs.leader is not None and rs.leader != store.cfg.raft:
                log.info("leadership handed over before removing this node", extra={"leader": rs.leader})
                return
        raise errors.Unavailable("could not hand leadership to a caught-up follower; retry",
                                 code="leadership_transfer_failed")

    async def _ensure_snapshot(self) -> None:
        """A new node must start from a snapshot, never from the log's first entry.

        Its registry state (and the voters MEMBER commands are checked against)
        then arrives whole; a log replayed from index 1 would be checked against
        the new node's own configuration instead."""
        raft = self._store.raft_node()
        if raft.raftLogFirstIndex > 1:
            return
        raft.forceLogCompaction()
        deadline = time.monotonic() + _COMPACT_WAIT
        while raft.raftLogFirstIndex <= 1:
            if time.monotonic() > deadline:
                raise errors.Unavailable("the leader's snapshot for the new node is not written yet; retry",
                                         code="snapshot_not_ready")
            await asyncio.sleep(0.05)

    async def _append(self, kind: str, raft: str) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def callback(result, reason):  # on the tick thread
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(reason))

        self._store.raft_node().change_membership(kind, raft, callback)
        try:
            reason = await asyncio.wait_for(done, _COMMIT_WAIT)
        except TimeoutError:
            raise errors.UnknownOutcome("the membership change did not commit in time; check "
                                        "GET /v1/cluster before retrying") from None
        if reason == FAIL_REASON.SUCCESS:
            # The status the next request is checked against is refreshed per tick.
            deadline = time.monotonic() + 1.0
            while self._store.raft_status().change_pending and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return
        if reason == FAIL_REASON.REQUEST_DENIED:  # the fork's own check: a change in flight, or no no-op yet
            raise errors.Conflict("another membership change is not committed yet; retry once it is",
                                  code="membership_change_in_progress")
        if reason in (FAIL_REASON.QUEUE_FULL, FAIL_REASON.MISSING_LEADER):  # never appended
            raise errors.NoLeader("this node stopped leading before the change was appended; retry")
        raise errors.UnknownOutcome(f"the membership change ended with reason {reason}; check "
                                    "GET /v1/cluster before retrying")

    def _answer(self) -> dict:
        rs = self._store.raft_status()
        return {"members": self._store.members(), "leader": self._store.membership.api_url_of(rs.leader)}

    async def _forward(self, payload: dict, patient: bool = False) -> dict:
        """To the leader; ``patient`` (after handing leadership over) waits out the new
        leader's first moments: until its no-op commits it refuses changes."""
        store = self._store
        deadline = time.monotonic() + _TRANSFER_WAIT
        while True:
            url = store.remote_leader_api()
            if url is not None:
                try:
                    return await store.leader_client.call(url, CHANGE_PATH, payload, _COMMIT_WAIT + 5)
                except (errors.Conflict, errors.NoLeader) as exc:
                    waiting = isinstance(exc, errors.NoLeader) or exc.code == "membership_change_in_progress"
                    if not (patient and waiting) or time.monotonic() > deadline:
                        raise
            elif time.monotonic() > deadline:
                raise errors.NoLeader("no leader is known; retry shortly")
            await asyncio.sleep(0.1)
