"""How long a node holds its state lock for a snapshot now (the fork) against the capture it held it
for before, in this process, at 100,000 and 1,000,000 instances (issue 16, 2026-12-03).

    .venv/bin/python docs/experiments/fork_cost.py
"""
import os, sys, time, gc
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from manifest_node.fsm.registry import RegistryState
from manifest_node.fsm import commands as C
from manifest_node.memory import GC_THRESHOLDS
gc.set_threshold(*GC_THRESHOLDS)
def rss():
    for l in open("/proc/self/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) // 1024
for n in (100_000, 1_000_000):
    s = RegistryState()
    batch = []
    for i in range(n):
        batch.append(C.register({"name": f"svc{i // 100}", "id": f"i{i}", "address": "10.0.0.1", "port": 8080,
                                 "version": "1.2.3", "tags": ["a", "b"], "metadata": {"k": "v"}, "ttl": 30},
                                [10**7, 10**6]))
        if len(batch) == 1000:
            s.apply(C.encode(1000, 1, batch)); batch = []
    times = []
    for _ in range(5):
        t0 = time.perf_counter(); pid = os.fork()
        if pid == 0: os._exit(0)
        times.append(time.perf_counter() - t0); os.waitpid(pid, 0)
    t0 = time.perf_counter(); s.capture(); cap = time.perf_counter() - t0
    print(f"{n} instances, RSS {rss()} MB: fork {min(times)*1000:.1f}-{max(times)*1000:.1f} ms; capture {cap*1000:.0f} ms", flush=True)
    del s; gc.collect()
