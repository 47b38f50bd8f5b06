"""glibc's allocator settings (node/memory.py): applied where glibc is, an operator's variable wins."""

import gc
import os
import platform
import subprocess
import sys

import pytest

from manifest_node import memory

GLIBC = platform.libc_ver()[0] == "glibc"


def test_each_setting_is_applied_on_glibc_and_none_elsewhere():
    names = [env for _, _, env in memory._SETTINGS]
    assert memory.tune() == (names if GLIBC else [])


def test_a_variable_the_operator_set_is_left_to_glibc():
    env = {**os.environ, "MALLOC_ARENA_MAX": "4"}
    out = subprocess.run([sys.executable, "-c", "from manifest_node import memory; print(memory.tune())"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert "MALLOC_ARENA_MAX" not in out
    assert ("MALLOC_MMAP_THRESHOLD_" in out) == GLIBC


def test_gc_paused_stops_the_collector_for_the_block_only():
    gc_paused = memory.gc_paused
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: the outer block still holds it
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("a restore that fails")
    assert gc.isenabled()


_FRAGMENTED = """
import os
from manifest_node import memory
memory.tune()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
# 100,000 heap blocks of 2 KB (above pymalloc's 512 bytes, below the mmap threshold),
# then every one but each 16th freed: free pages between live blocks, as a registered fleet leaves.
blocks = [bytearray(2000) for _ in range(100_000)]
keep = blocks[::16]
del blocks
before = rss()
trimmed = memory.trim()
print(trimmed, before, rss())
"""


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_trim_hands_free_pages_between_live_blocks_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", _FRAGMENTED], capture_output=True, text=True, check=True).stdout
    trimmed, before, after = out.split()
    assert trimmed == "True"
    assert int(before) - int(after) >= 100, out  # of ~190 MB freed inside the heap


def test_trimming_runs_on_its_period_until_cancelled(monkeypatch):
    import asyncio
    calls = []
    monkeypatch.setattr(memory, "trim", lambda: calls.append(1) or True)

    async def main():
        task = asyncio.create_task(memory.trimming(0.01))
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), 10))
    assert len(calls) >= 3
