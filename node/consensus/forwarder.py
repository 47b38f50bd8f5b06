"""Everything a follower does to reach the leader: forward writes, fetch read indexes.

Writes a follower receives are queued and leave in batches (at most
``batch_max`` commands, ``max_inflight`` batches at a time) to the leader's
internal endpoint (peer_protocol.py), which proposes them and answers with
each command's outcome and the log index that holds them. The follower then
waits until it has applied that index itself, so a writer reads its own write
on the node it asked.

A batch is sent again only while it provably never reached a leader
(connection refused, or the target said it does not lead): anything else may
have committed and is reported as ``UnknownOutcome``. Every deadline counts
from the write's arrival, not from when its batch left.

Linearizable reads on a follower share one read-index request among all
reads that arrive while none is being fetched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from .. import errors
from .leader_client import LeaderClient

log = logging.getLogger("manifest.forwarder")

POLL = 0.05  # seconds between looks for a leader during an election


@dataclass(frozen=True, slots=True)
class Follower:
    """What the forwarder needs from its node, and nothing more."""

    is_leader: Callable[[], bool]
    leader_api: Callable[[], str | None]  # the leader's API URL, None if unknown or this node
    propose_here: Callable[[list], Awaitable[tuple[int, list]]]  # when this node became leader
    wait_applied: Callable[[int, float], Awaitable[None]]
    can_apply: Callable[[], bool]  # False while this node cannot write its journal


class Forwarder:
    def __init__(self, node: Follower, client: LeaderClient, batch_max: int, max_inflight: int,
                 timeout: float, no_leader_wait: float | None = None,
                 loop: asyncio.AbstractEventLoop | None = None):
        """``no_leader_wait``: how long to wait for a leader to become known (an election)."""
        self._node, self._client = node, client
        self._batch_max, self._max_inflight, self._timeout = batch_max, max_inflight, timeout
        self._no_leader_wait = timeout if no_leader_wait is None else no_leader_wait
        self._loop = loop or asyncio.get_running_loop()
        self._pending: list[tuple[list, asyncio.Future, float]] = []  # (command, future, deadline)
        self._inflight = 0
        self._scheduled = False
        self._read_index: asyncio.Future | None = None  # a read index not yet requested

    # ---- writes ---------------------------------------------------------------
    def propose(self, command: list, deadline: float) -> asyncio.Future:
        """Future of the command's outcome (a Result), or an Unavailable error."""
        fut = self._loop.create_future()
        self._pending.append((command, fut, deadline))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending and self._inflight < self._max_inflight:
            items = self._pending[:self._batch_max]
            del self._pending[:self._batch_max]
            items = [item for item in items if not item[1].done()]
            if not items:
                continue
            self._inflight += 1
            self._loop.create_task(self._send(items))

    async def _send(self, items: list) -> None:
        deadline = min(d for _, _, d in items)
        try:
            index, outcomes = await self._until_sent([c for c, _, _ in items], deadline)
            if self._node.can_apply():
                try:
                    await self._node.wait_applied(index, max(0.05, deadline - time.monotonic()))
                except errors.NotReady:
                    pass  # committed by a majority; this node is only behind
            for (_, fut, _), outcome in zip(items, outcomes):
                if fut.done():
                    continue
                if isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)
        except errors.ManifestError as exc:
            for _, fut, _ in items:
                if not fut.done():
                    fut.set_exception(exc)
        except Exception as exc:  # a bug: never leave a writer hanging, never call it retriable
            log.error("forwarding to the leader failed", exc_info=exc)  # the 500's details
            for _, fut, _ in items:
                if not fut.done():
                    fut.set_exception(errors.InternalError(f"forwarding failed: {exc!r}"))
        finally:
            self._inflight -= 1
            if self._pending and not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._flush)

    async def _until_sent(self, commands: list, deadline: float) -> tuple[int, list]:
        """Send to whoever leads; again only while the batch provably reached no leader."""
        while True:
            if self._node.is_leader():  # this node won an election meanwhile
                return await self._node.propose_here(commands)
            try:
                leader = await self._leader_url(deadline)
            except errors.NoLeader:
                if self._node.is_leader():
                    continue
                raise
            try:
                return await self._client.propose(leader, commands, max(0.05, deadline - time.monotonic()))
            except errors.NoLeader:
                # Refused, or the target no longer leads: nothing committed.
                if time.monotonic() + 2 * POLL >= deadline:
                    raise
                await asyncio.sleep(POLL)

    async def _leader_url(self, deadline: float) -> str:
        give_up = min(deadline, time.monotonic() + self._no_leader_wait)
        while True:
            url = self._node.leader_api()
            if url is not None:
                return url
            if self._node.is_leader():
                raise errors.NoLeader("this node is the leader now")
            if time.monotonic() + POLL >= give_up:
                raise errors.NoLeader("no leader is known; retry shortly")
            await asyncio.sleep(POLL)

    # ---- linearizable reads ---------------------------------------------------
    async def read_index(self, deadline: float) -> int:
        """The leader's commit index, confirmed by it; shared by reads that arrive meanwhile."""
        if self._read_index is None or self._read_index.done():
            fut = self._read_index = self._loop.create_future()
            self._loop.call_soon(lambda: self._loop.create_task(self._fetch_read_index(fut, deadline)))
        return await asyncio.shield(self._read_index)

    async def _fetch_read_index(self, fut: asyncio.Future, deadline: float) -> None:
        if self._read_index is fut:
            self._read_index = None  # reads arriving from now on need a fresh one
        try:
            leader = await self._leader_url(deadline)
            fut.set_result(await self._client.read_index(leader, max(0.05, deadline - time.monotonic())))
        except errors.UnknownOutcome as exc:
            fut.set_exception(errors.NoLeader(exc.message))  # a read changes nothing: just retry
        except errors.ManifestError as exc:
            fut.set_exception(exc)
        except Exception as exc:  # a bug: a 500, never a retriable 503
            log.error("the leader's read index failed", exc_info=exc)
            fut.set_exception(errors.InternalError(f"read index failed: {exc!r}"))
