"""glibc's allocator with fixed thresholds instead of its self-tuning ones.

glibc raises its mmap threshold each time a large block is freed (up to
32 MB), after which the blocks of hundreds of kilobytes a node keeps making
and dropping (rendered lists, msgpack buffers, snapshot chunks) come from the
heap instead, where one small live block pins the free pages around it; and
each thread that allocates gets an arena of its own. The hour-long soak saw a
node's RSS creep for as long as it ran (~20 MB/h on the leader, after the
render cache stopped holding dead lists), and the same run with these three
settings given as glibc's environment variables stayed flat (docs/operations.md,
Soak). A variable an operator sets (``MALLOC_ARENA_MAX``, ...) wins: its
setting is left alone. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import os

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
