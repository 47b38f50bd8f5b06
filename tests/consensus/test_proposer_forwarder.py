"""The leader's group commit (Proposer) and the follower's path (Forwarder), on fakes.

Only multi-process tests reached these before; here each rule is pinned:
batches stay within their bounds, deadlines run from a write's arrival, a
forward is sent again only when it provably reached no leader, and an
uncertain outcome is reported as such.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from manifest_node import errors
from manifest_node.consensus.forwarder import Follower, Forwarder
from manifest_node.consensus.proposer import Proposer
from manifest_node.consensus.pysyncobj.config import FAIL_REASON
from manifest_node.fsm import commands
from manifest_node.fsm.results import Written


class FakeRaft:
    """Records submitted envelopes; the test completes them."""

    def __init__(self):
        self.submitted: list[tuple[list, object]] = []

    def submit(self, envelope, callback):
        self.submitted.append((commands.decode(envelope).commands, callback))

    def complete(self, i: int, err=FAIL_REASON.SUCCESS, index: int = 10):
        cmds, callback = self.submitted[i]
        results = [Written({"n": c[1] if len(c) > 1 else None}) for c in cmds]
        callback((index, results) if err == FAIL_REASON.SUCCESS else None, err)


def proposer(raft, max_inflight=1, batch_max=3, timeout=1.0):
    return Proposer(raft, lambda: (1000, 1, 0), max_inflight, batch_max, timeout, handoff=lambda fn, *a: fn(*a))


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_write_leaves_at_once_and_the_rest_coalesce_within_bounds():
    raft = FakeRaft()
    p = proposer(raft, max_inflight=1, batch_max=3)
    futs = [p.propose(commands.noop()[:1] + [i]) for i in range(7)]
    await settle()
    # Seven arrived together: the first batch holds at most batch_max, nothing else is in flight.
    assert len(raft.submitted) == 1 and len(raft.submitted[0][0]) == 3
    raft.complete(0)
    await settle()
    assert len(raft.submitted) == 2 and len(raft.submitted[1][0]) == 3
    raft.complete(1)
    await settle()
    raft.complete(2)
    await settle()
    assert [len(c) for c, _ in raft.submitted] == [3, 3, 1]
    assert [(await f)[1].record["n"] for f in futs] == list(range(7))


async def test_a_write_waiting_for_a_slot_fails_by_its_own_deadline_as_uncommitted():
    raft = FakeRaft()
    p = proposer(raft, max_inflight=1, batch_max=1, timeout=0.2)
    started = time.monotonic()
    first, second, third = (p.propose(commands.noop()) for _ in range(3))  # none ever completes
    for waiting in (second, third):  # they never left this node: certainly not committed
        with pytest.raises(errors.NoLeader):
            await waiting
    assert time.monotonic() - started < 0.45  # their own deadlines, not the end of the batch before them
    with pytest.raises(errors.UnknownOutcome):  # handed to Raft: it may still commit
        await first
    assert len(raft.submitted) == 1


@pytest.mark.parametrize("reason,expected", [
    (FAIL_REASON.NOT_LEADER, errors.NoLeader), (FAIL_REASON.MISSING_LEADER, errors.NoLeader),
    (FAIL_REASON.QUEUE_FULL, errors.NoLeader), (FAIL_REASON.DISCARDED, errors.NoLeader),
    (FAIL_REASON.REQUEST_DENIED, errors.NoLeader),
    (FAIL_REASON.LEADER_CHANGED, errors.UnknownOutcome), (FAIL_REASON.UNKNOWN_OUTCOME, errors.UnknownOutcome),
])
async def test_raft_failures_are_reported_as_certain_or_unknown(reason, expected):
    raft = FakeRaft()
    p = proposer(raft)
    fut = p.propose(commands.noop())
    await settle()
    raft.complete(0, reason)
    with pytest.raises(expected):
        await fut


async def test_reads_arriving_before_a_barrier_leaves_share_it():
    raft = FakeRaft()
    p = proposer(raft)
    busy = p.propose(commands.noop())  # occupies the only slot
    await settle()
    a, b = p.barrier(), p.barrier()
    assert a is b
    raft.complete(0)
    await settle()
    assert len(raft.submitted) == 2 and len(raft.submitted[1][0]) == 1  # one NOOP for both reads
    c = p.barrier()  # arrived after it was submitted: needs its own
    assert c is not a
    raft.complete(1)
    await busy, a


# ---- the follower side ----------------------------------------------------------
class FakeClient:
    def __init__(self, script=None):
        self.calls: list[list] = []
        self.script = list(script or [])  # exceptions to raise, in order, then successes
        self.concurrent = self.max_concurrent = 0
        self.read_index_calls = 0
        self.gate: asyncio.Event | None = None

    async def propose(self, url, cmds, timeout):
        self.calls.append(cmds)
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
            if self.script:
                raise self.script.pop(0)
            return 42, [Written({"n": c}) for c in cmds]
        finally:
            self.concurrent -= 1

    async def read_index(self, url, timeout):
        self.read_index_calls += 1
        await asyncio.sleep(0.01)
        return 7


def follower(client, leading=False, url="http://leader", applied=None, batch_max=4, max_inflight=1):
    state = {"leading": leading, "url": url}

    async def here(cmds):
        return 1, [Written({"here": c}) for c in cmds]

    async def wait_applied(index, timeout):
        if applied is not None:
            applied.append(index)

    node = Follower(is_leader=lambda: state["leading"], leader_api=lambda: state["url"], propose_here=here,
                    wait_applied=wait_applied, can_apply=lambda: True)
    return Forwarder(node, client, batch_max, max_inflight, timeout=1.0), state


async def test_forwarded_writes_go_in_bounded_batches_and_wait_to_be_applied_here():
    client, applied = FakeClient(), []
    fwd, _ = follower(client, applied=applied, batch_max=4, max_inflight=1)
    deadline = time.monotonic() + 1
    outs = await asyncio.gather(*(fwd.propose(i, deadline) for i in range(10)))
    assert [o.record["n"] for o in outs] == list(range(10))
    assert all(len(c) <= 4 for c in client.calls) and sum(map(len, client.calls)) == 10
    assert client.max_concurrent == 1 and applied and set(applied) == {42}


async def test_a_forward_that_reached_no_leader_is_sent_again():
    client = FakeClient([errors.NoLeader("refused")])
    fwd, _ = follower(client)
    out = await fwd.propose("x", time.monotonic() + 1)
    assert out.record["n"] == "x" and client.calls == [["x"], ["x"]]


async def test_a_forward_that_may_have_committed_is_never_sent_again():
    client = FakeClient([errors.UnknownOutcome("lost contact")])
    fwd, _ = follower(client)
    with pytest.raises(errors.UnknownOutcome):
        await fwd.propose("x", time.monotonic() + 1)
    assert client.calls == [["x"]]


async def test_without_a_leader_a_forward_gives_up_by_the_writes_deadline():
    fwd, state = follower(FakeClient())
    state["url"] = None
    started = time.monotonic()
    with pytest.raises(errors.NoLeader):
        await fwd.propose("x", started + 0.3)
    assert 0.2 < time.monotonic() - started < 0.6


async def test_a_node_that_became_leader_proposes_its_queue_itself():
    client = FakeClient()
    fwd, state = follower(client)
    state["leading"], state["url"] = True, None
    out = await fwd.propose("x", time.monotonic() + 1)
    assert out.record == {"here": "x"} and client.calls == []


async def test_a_bug_while_forwarding_is_an_internal_error_not_a_hang():
    client = FakeClient([ValueError("boom")])
    fwd, _ = follower(client)
    with pytest.raises(errors.InternalError):
        await asyncio.wait_for(fwd.propose("x", time.monotonic() + 1), 2)


async def test_concurrent_linearizable_reads_share_one_read_index():
    client = FakeClient()
    fwd, _ = follower(client)
    deadline = time.monotonic() + 1
    assert await asyncio.gather(*(fwd.read_index(deadline) for _ in range(20))) == [7] * 20
    assert client.read_index_calls == 1


async def test_a_leader_that_steps_down_answers_every_write_at_once():
    raft = FakeRaft()
    p = proposer(raft, max_inflight=1, batch_max=1, timeout=5.0)
    travelling, queued = p.propose(commands.noop()), p.propose(commands.noop())
    await settle()
    started = time.monotonic()
    p.abandon()
    with pytest.raises(errors.UnknownOutcome):  # handed to Raft: the next leader may commit it
        await travelling
    with pytest.raises(errors.NoLeader):  # never left this node
        await queued
    assert time.monotonic() - started < 1  # not at the 5 s deadline
    raft.complete(0)  # a late callback from pysyncobj changes nothing
    await settle()
    later = p.propose(commands.noop())  # and the slot is free again
    await settle()
    assert len(raft.submitted) == 2
    raft.complete(1)
    await later
