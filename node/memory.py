"""How a node's memory is managed: glibc's allocator, and CPython's cyclic collector.

glibc's allocator gets fixed thresholds instead of its self-tuning ones.

glibc raises its mmap threshold each time a large block is freed (up to
32 MB), after which the blocks of hundreds of kilobytes a node keeps making
and dropping (rendered lists, msgpack buffers, snapshot chunks) come from the
heap instead, where one small live block pins the free pages around it; and
each thread that allocates gets an arena of its own. The hour-long soak saw a
node's RSS creep for as long as it ran (~20 MB/h on the leader, after the
render cache stopped holding dead lists), and the same run with these three
settings given as glibc's environment variables stayed flat (docs/operations.md,
Soak). A variable an operator sets (``MALLOC_ARENA_MAX``, ...) wins: its
setting is left alone. Elsewhere than glibc this does nothing. Those settings
return only the free top of the heap, so ``trimming`` also hands back, every
minute, the free pages between live blocks (``trim``).

The cyclic collector runs far less often than CPython's default
(``GC_THRESHOLDS``): every write allocates dozens of containers (msgpack,
records, events) while the registry holds long-lived ones by the hundred
thousand, so the default thresholds (a young collection every 700
allocations, full ones traversing every instance) cost 13-15 % of a node's
CPU under registrations. Our own structures hold no reference cycles; the
rarer collections still reclaim aiohttp's. ``gc_paused`` stops it for the
length of a restore, which allocates the whole registry at once: with the
collector running, 100,000 instances took 0.80 s to restore, 0.56 s without.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os

GC_THRESHOLDS = (100_000, 50, 100)
TRIM_EVERY = 60.0  # seconds between malloc_trim calls (trimming)

log = logging.getLogger("manifest.node")

# mallopt(3) parameters, and the environment variable each is also read from.
_SETTINGS = (
    (-8, 2, "MALLOC_ARENA_MAX"),  # M_ARENA_MAX: the main arena and one more, not one per thread
    (-3, 128 << 10, "MALLOC_MMAP_THRESHOLD_"),  # M_MMAP_THRESHOLD: fixed, so big blocks go back at free
    (-1, 256 << 10, "MALLOC_TRIM_THRESHOLD_"),  # M_TRIM_THRESHOLD: return the heap's free top early
)


def tune() -> list[str]:
    """Apply the settings an operator did not set; the names of those applied."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return []
    applied = []
    for param, value, env in _SETTINGS:
        if env not in os.environ and mallopt(param, value) == 1:
            applied.append(env)
    return applied


@contextlib.contextmanager
def gc_paused():
    """No cyclic collection inside the block (the whole process: it is one collector)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def trim() -> bool:
    """Hand the allocator's free pages back to the system; False where that is not glibc.

    glibc returns only the free top of its heap by itself (M_TRIM_THRESHOLD);
    ``malloc_trim(0)`` also releases the free pages between live blocks, which
    registering a fleet leaves behind: after 100,000 registrations a node's
    RSS fell from 214 to 203 MB in 2.5 ms."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim(0)
    return True


async def trimming(period: float = TRIM_EVERY) -> None:
    """``trim`` every ``period`` seconds, on an executor thread (ctypes lets the loop run meanwhile)."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(period)
        try:
            if not await loop.run_in_executor(None, trim):
                return  # not glibc: nothing to trim, ever
        except Exception:  # never worth stopping a node for
            log.exception("malloc_trim failed")
            return
