"""Issue 13, point 4: ``?tag=`` and ``?status=`` on 100,000 instances, before and after the indexes.

    python -m loadtests.index_bench [--instances 100000] [--repeat 20]

Builds a RegistryState through ``apply`` (as a node does): 100,000
instances of 100 services, each with 2 of 200 tags; 1 % unhealthy (a
heartbeat said so) and 0.1 % draining. Then times ``fsm.query.run`` (the
read handlers' work under the state lock, records included) for each query,
"before": the full scan every list read did until issue 13 (kept here as
``scan``), and "after": the same query through the indexes. Prints a table
(median ms of ``--repeat`` runs, and the answer's size); both must agree.
"""

from __future__ import annotations

import argparse
import statistics
import time

from manifest_node.fsm import commands as C
from manifest_node.fsm.query import Query, run
from manifest_node.fsm.registry import RegistryState


def scan(state: RegistryState, q: Query):
    """The list query before issue 13: every instance (or the service's) checked against the filters."""
    if q.name is not None:
        pool = [((q.name, i), inst) for i, inst in state.services.get(q.name, {}).items()]
    else:
        pool = state.instances.items()
    keys = sorted(k for k, inst in pool if (q.after is None or k > q.after) and q.matches(inst))
    if q.limit is not None:
        keys = keys[:q.limit]
    return [state.instances[k].to_record() for k in keys], None


def build(n: int) -> RegistryState:
    state = RegistryState()
    batch = []
    for i in range(n):
        batch.append(C.register({"name": f"svc-{i % 100}", "id": f"i{i:06d}", "version": f"1.{i % 5}.0",
                                 "tags": [f"t{i % 200}", f"t{(i * 7 + 3) % 200}"], "ttl": 3600,
                                 "metadata": {"zone": f"z{i % 3}"}}))
        if i % 100 == 0:
            batch.append(C.heartbeat(f"svc-{i % 100}", f"i{i:06d}", "unhealthy"))
        if i % 1000 == 1:
            batch.append(C.drain(f"svc-{i % 100}", f"i{i:06d}", {"deadline_ms": None}))
        if len(batch) >= 1000:
            state.apply(C.encode(1_000, 1, batch))
            batch = []
    if batch:
        state.apply(C.encode(1_000, 1, batch))
    return state


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


QUERIES = [
    ("?tag=t7", Query(tags=("t7",))),
    ("?tag=t7&tag=t52", Query(tags=("t7", "t52"))),
    ("?status=unhealthy", Query(statuses=("unhealthy",))),
    ("?status=draining", Query(statuses=("draining",))),
    ("?status=down", Query(statuses=("down",))),
    ("?status=up&limit=100", Query(statuses=("up",), limit=100)),
    ("svc-7?tag=t7", Query(name="svc-7", tags=("t7",))),
    ("?status=up (99 %)", Query(statuses=("up",))),
]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--instances", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args(argv)
    started = time.perf_counter()
    state = build(args.instances)
    print(f"{len(state.instances)} instances built through apply in {time.perf_counter() - started:.1f}s")
    print(f"{'query':<24} {'answer':>7} {'before ms':>10} {'after ms':>9} {'speed-up':>9}")
    for label, q in QUERIES:
        before_records, _ = scan(state, q)
        after_records, _ = run(state, q)
        assert before_records == after_records, label
        before = timed(lambda: scan(state, q), args.repeat)
        after = timed(lambda: run(state, q), args.repeat)
        print(f"{label:<24} {len(after_records):>7} {before:>10.2f} {after:>9.2f} {before / after:>8.1f}x")


if __name__ == "__main__":
    main()
