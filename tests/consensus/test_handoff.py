"""LoopHandoff: callables from another thread run on the loop, in order, with few wake-ups."""

import asyncio
import threading

from manifest_node.consensus.handoff import LoopHandoff


async def test_a_burst_runs_in_order_with_fewer_wake_ups_and_survives_a_failing_callback():
    loop = asyncio.get_running_loop()
    wakeups = []
    original = loop.call_soon_threadsafe

    def counting(cb, *args):
        wakeups.append(cb)
        return original(cb, *args)

    loop.call_soon_threadsafe = counting
    try:
        handoff, seen, done = LoopHandoff(loop), [], asyncio.Event()

        def boom():
            raise RuntimeError("a listener failed")

        def producer():
            for i in range(2000):
                handoff(seen.append, i)
                if i == 1000:
                    handoff(boom)
            handoff(done.set)

        thread = threading.Thread(target=producer)
        thread.start()
        thread.join()  # blocks the loop: the whole burst is queued before it can drain
        await asyncio.wait_for(done.wait(), 10)
    finally:
        del loop.call_soon_threadsafe  # the instance attribute shadowed the method
    assert seen == list(range(2000))
    assert len(wakeups) == 1  # not one per callable
