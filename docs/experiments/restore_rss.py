"""RSS a restore adds per instance, in a fresh process, for the benchmark's record at 100,000 instances
(issue 16, 2026-12-04: 3,009 bytes when the snapshot was decoded whole, 1,358 one record at a time).

    .venv/bin/python docs/experiments/restore_rss.py make      # the state file, once
    .venv/bin/python docs/experiments/restore_rss.py restore   # each run: a fresh process
"""
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
N = 100_000
PATH = "/tmp/manifest-restore-rss.state"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


if sys.argv[1:] == ["make"]:
    from loadtests.bench.lua import RECORD
    from manifest_node.fsm import commands as C
    from manifest_node.fsm.registry import RegistryState
    s = RegistryState()
    for start in range(0, N, 500):
        s.apply(C.encode(1000 + start, 1, [C.register({"name": "scale", "id": f"scale-{i:07d}", "ttl": 30, **RECORD})
                                            for i in range(start, start + 500)]))
    print(f"registered {len(s.instances)}: process RSS {rss_mb():.0f} MB")
    Path(PATH).write_bytes(s.snapshot())
else:
    from manifest_node.fsm.registry import RegistryState
    from manifest_node.memory import gc_paused
    data = Path(PATH).read_bytes()
    s = RegistryState()
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    with gc_paused():  # as a node restores
        s.restore(data)
    took = time.perf_counter() - t0
    del data
    gc.collect()
    grew = rss_mb() - before
    print(f"restore {took:.3f} s, RSS +{grew:.1f} MB = {grew * 2 ** 20 / len(s.instances):.0f} bytes per instance")
