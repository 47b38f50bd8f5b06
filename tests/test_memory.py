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
