"""The write path and the read point of one node: leader through the Proposer, follower through the Forwarder.

``propose`` answers once a majority has committed the command and this node
has applied it. While no leader is known it waits out an election (up to
``no_leader_wait``) instead of failing at once. ``read_point`` is the index a
linearizable read must see applied: the leader confirms its leadership
through the log (a barrier); a follower asks the leader.
"""

from __future__ import annotations

import asyncio
import time

from .. import errors
from ..fsm.results import Result
from .proposer import timeout_for


class Writes:
    def __init__(self, proposer, forwarder, leading, remote_leader_api, disk, propose_timeout: float,
                 no_leader_wait: float):
        self._proposer, self._forwarder, self._disk = proposer, forwarder, disk
        self._leading, self._remote_leader_api = leading, remote_leader_api
        self._timeout, self._no_leader_wait = propose_timeout, no_leader_wait

    async def propose(self, command: list) -> Result:
        now = time.monotonic()
        deadline = now + timeout_for(command, self._timeout)
        leaderless_until = now + self._no_leader_wait
        while True:
            if self._leading():
                try:
                    _, result = await self._proposer.propose(command)
                except errors.NoLeader:
                    if not self._disk.ok:
                        raise storage_error(self._disk) from None
                    raise
                return result
            if self._remote_leader_api() is not None:
                return await self._forwarder.propose(command, deadline)
            # Election in progress: wait a little rather than fail at once.
            if time.monotonic() + 0.05 >= leaderless_until:
                raise errors.NoLeader("no leader is known; retry shortly")
            await asyncio.sleep(0.05)

    async def leader_propose_many(self, commands: list) -> tuple[int, list]:
        if not self._leading():
            raise errors.NoLeader("not the leader")
        outs = await asyncio.gather(*(self._proposer.propose(c) for c in commands), return_exceptions=True)
        index, outcomes = 0, []
        for out in outs:
            if isinstance(out, BaseException):
                outcomes.append(out)  # peer_protocol encodes it; a bug becomes unknown_outcome
            else:
                index = max(index, out[0])
                outcomes.append(out[1])
        return index, outcomes

    async def read_point(self, deadline: float) -> int:
        if self._leading():
            index, _ = await self._proposer.barrier()
            return index
        return await self._forwarder.read_index(deadline)

    async def leader_read_index(self) -> int:
        if not self._leading():
            raise errors.NoLeader("not the leader")
        index, _ = await self._proposer.barrier()
        return index


def storage_error(disk) -> errors.ManifestError:
    problem = "; ".join(f"{p['file']}: {p['error']}" for p in disk.problems())
    return errors.Unavailable(f"this node cannot write its state ({problem}); nothing was committed, "
                              "retry: another node takes over", code="storage_unavailable")
