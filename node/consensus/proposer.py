"""Group commit: coalesce concurrent commands into one log entry per batch.

Commands proposed while ``max_inflight`` entries are already on their way to
a majority wait and leave together in the next entry, so the number of Raft
entries per second stays bounded however many requests arrive, and a single
request still goes out at once. Every batch has a deadline: pysyncobj does
not always call back (a deposed leader's entry can vanish), and a batch that
never completes must not hold its in-flight slot forever.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .pysyncobj import FAIL_REASON

from .. import errors
from ..fsm import commands

# pysyncobj failure reasons after which the entry certainly did not commit.
_NOT_COMMITTED = {FAIL_REASON.QUEUE_FULL, FAIL_REASON.MISSING_LEADER, FAIL_REASON.NOT_LEADER,
                  FAIL_REASON.DISCARDED, FAIL_REASON.REQUEST_DENIED}


@dataclass(slots=True, eq=False)  # identity: batches live in a set
class _Batch:
    items: list  # [(command, future)]
    done: bool = False
    timer: asyncio.TimerHandle | None = field(default=None)


# A RESTORE (fsm/restore.py) carries a whole registry: at 100,000 instances its entry is
# megabytes to replicate and seconds to apply on every node, far beyond --propose-timeout.
RESTORE_TIMEOUT = 120.0


def timeout_for(command: list, default: float) -> float:
    """How long ``command`` may take to commit: the configured timeout, longer for a restore."""
    return max(default, RESTORE_TIMEOUT) if command and command[0] == commands.RESTORE else default


class Proposer:
    """Leader-side batching. ``stamp()`` returns (ts_ms, term, held_ms) for a new entry."""

    def __init__(self, raft, stamp, max_inflight: int, batch_max: int, timeout: float, handoff=None):
        self._raft, self._stamp = raft, stamp
        self._max_inflight, self._batch_max, self._timeout = max_inflight, batch_max, timeout
        self._pending: list = []
        self._inflight = 0
        self._scheduled = False
        self._barrier: asyncio.Future | None = None  # a NOOP not yet submitted
        self._travelling: set[_Batch] = set()  # handed to Raft, not yet answered
        self._unsent: set[asyncio.Future] = set()  # queued, not yet handed to Raft
        self._loop = asyncio.get_running_loop()
        self._handoff = handoff or self._loop.call_soon_threadsafe  # tick thread -> loop

    def propose(self, command: list) -> asyncio.Future:
        """Future of ``(index, result)`` for one command, settled within ``timeout`` of now."""
        fut = self._loop.create_future()
        self._pending.append((command, fut))
        self._unsent.add(fut)
        # The deadline runs from arrival, not from submission: a command that
        # waited for an in-flight slot must not get a second full timeout.
        timer = self._loop.call_later(timeout_for(command, self._timeout), self._deadline, fut)
        fut.add_done_callback(lambda _: timer.cancel())
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        return fut

    def barrier(self) -> asyncio.Future:
        """A NOOP shared by every read that arrives before it is submitted."""
        if self._barrier is None or self._barrier.done():
            self._barrier = self.propose(commands.noop())
        return self._barrier

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending and self._inflight < self._max_inflight:
            items = self._pending[:self._batch_max]
            del self._pending[:self._batch_max]
            if any(f is self._barrier for _, f in items):
                self._barrier = None  # later reads need a barrier submitted after they arrived
            self._unsent.difference_update(f for _, f in items)
            live = [(c, f) for c, f in items if not f.done()]
            if not live:
                continue
            batch = _Batch(live)
            self._travelling.add(batch)
            ts_ms, term, held_ms = self._stamp()
            envelope = commands.encode(ts_ms, term, [c for c, _ in live], held_ms)
            self._inflight += 1
            timeout = max(timeout_for(c, self._timeout) for c, _ in live)
            batch.timer = self._loop.call_later(timeout, self._expire, batch)
            self._raft.submit(envelope, lambda res, err, b=batch: self._handoff(self._complete, b, res, err))

    def _complete(self, batch: _Batch, res, err) -> None:
        if batch.done:
            return
        batch.done = True
        self._travelling.discard(batch)
        batch.timer.cancel()
        self._inflight -= 1
        if err == FAIL_REASON.SUCCESS:
            index, results = res
            for (_, fut), result in zip(batch.items, results):
                if not fut.done():
                    fut.set_result((index, result))
        else:
            exc_type = errors.NoLeader if err in _NOT_COMMITTED else errors.UnknownOutcome
            for _, fut in batch.items:
                if not fut.done():
                    fut.set_exception(exc_type(f"write not committed (raft: {err})"))
        self._flush()

    def _expire(self, batch: _Batch) -> None:
        if batch.done:
            return
        batch.done = True
        self._travelling.discard(batch)
        self._inflight -= 1
        for _, fut in batch.items:
            if not fut.done():
                fut.set_exception(errors.UnknownOutcome("write not confirmed in time; it may still commit"))
        self._flush()

    def abandon(self) -> None:
        """This node stopped leading: answer every write now instead of at its deadline.

        Queued ones never left this node (certainly not committed); those handed
        to Raft may still commit under the next leader, so their outcome is unknown."""
        pending, self._pending = self._pending, []
        for _, fut in pending:
            self._unsent.discard(fut)
            if not fut.done():
                fut.set_exception(errors.NoLeader("this node stopped leading; nothing was committed"))
        for batch in list(self._travelling):
            batch.done = True
            if batch.timer is not None:
                batch.timer.cancel()
            self._inflight -= 1
            for _, fut in batch.items:
                if not fut.done():
                    fut.set_exception(errors.UnknownOutcome("this node stopped leading; the write may still commit"))
        self._travelling.clear()
        self._barrier = None

    def _deadline(self, fut: asyncio.Future) -> None:
        if fut.done():
            return
        if fut in self._unsent:  # never left this node: certainly not committed
            self._unsent.discard(fut)
            fut.set_exception(errors.NoLeader("no majority answered in time; nothing was committed"))
        else:
            fut.set_exception(errors.UnknownOutcome("write not confirmed in time; it may still commit"))
