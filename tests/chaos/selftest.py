"""Proof that the checkers can fail, on the data of a real run.

1. Local reads checked as if they were linearizable: the nemesis made sure
   some were stale (``faults.stale_probe``), so the linearizability checker
   must reject them.
2. Mutations, one per checker, of a copy of the run's data: a final read
   turned stale, an early linearizable read turned stale, a watch event
   dropped, a live instance sampled ``down``, a cut-off leader's probe
   answered ok, convergence never reached. Each must be reported by its
   checker.

``selftest(data)`` returns what went undetected (empty is good).
"""

from __future__ import annotations

import copy

from .checks import convergence, deposed_leader, linearizability, lost_writes
from .checks_lifecycle import lifecycle, sample_flap
from .checks_watch import expiry, watch
from .faults import STALE_KEY
from .history import RunData
from .workload import SERVICE


def selftest(data: RunData) -> list[str]:
    missed = []
    # The stale probe's key is enough (and cheap to search); without it, every key.
    probed = [o for o in data.ops if o.key == f"{SERVICE}/{STALE_KEY}"]
    local = RunData(ops=probed) if any(o.kind == "lget" for o in probed) else data
    if linearizability(local, include_local=True).ok:
        missed.append("local reads checked as linearizable were accepted (expected stale reads)")
    for name, mutate, checker in MUTATIONS:
        mutated = copy.deepcopy(data)
        if not mutate(mutated):
            missed.append(f"{name}: nothing to mutate in this run")
        elif checker(mutated).ok:
            missed.append(f"{name}: not detected")
    return missed


def _stale_final_read(d: RunData) -> bool:
    """Make a final read return the value of an acknowledged put that a later acknowledged put replaced."""
    for final in (o for o in d.ops if o.proc == "final" and o.kind == "get"):
        puts = sorted((o for o in d.ops if o.key == final.key and o.kind == "put" and o.outcome == "ok"),
                      key=lambda o: o.end)
        for old in puts:
            if any(p.start > old.end for p in puts) and old.value != final.value:
                final.value = old.value
                return True
    return False


def _stale_linearizable_read(d: RunData) -> bool:
    """The earliest read that saw an acknowledged put P2 made to return the value P2 replaced.

    Early, so the refutation is cheap: the search must exhaust every order of
    what came before, and before the first unknown outcome that is little.
    """
    ops = sorted(d.ops, key=lambda o: o.start)
    puts: dict = {}
    for r in ops:
        if r.kind == "put" and r.outcome == "ok":
            puts.setdefault(r.key, []).append(r)
        if r.kind != "get" or r.outcome != "ok" or r.proc == "final":
            continue
        earlier = [p for p in puts.get(r.key, []) if p.end < r.start]
        seen = next((p for p in earlier if p.value == r.value), None)
        older = [p for p in earlier if seen is not None and p.end < seen.start]
        if older:
            r.value = older[-1].value
            return True
    return False


def _drop_watch_event(d: RunData) -> bool:
    for w in d.watchers.values():
        events = [i for i, it in enumerate(w["items"]) if "rev" in it]
        if len(events) > 2:
            del w["items"][events[len(events) // 2]]
            return True
    return False


def _live_instance_down(d: RunData) -> bool:
    keepers = [i for i, m in d.meta.get("hb", {}).items() if m.get("stop_at") is None]
    if not keepers or not d.samples:
        return False
    d.samples[len(d.samples) // 2]["statuses"][keepers[0]] = "down"
    return True


def _deposed_leader_answers(d: RunData) -> bool:
    for p in d.probes:
        for op in d.ops:
            if op.proc == "prober" and op.node == p["node"] and op.start >= p["t_cut"]:
                op.outcome, op.end = "ok", min(p["t_heal"], op.start + 0.01)
                return True
    return False


def _never_converged(d: RunData) -> bool:
    d.final["convergence"] = {"took": None, "limit": 5.0, "last_diff": {"n1": 10, "n2": 9}}
    return True


MUTATIONS = [
    ("stale final read", _stale_final_read, lambda d: lost_writes(d)),
    ("stale linearizable read", _stale_linearizable_read, lambda d: linearizability(d)),
    ("dropped watch event", _drop_watch_event, watch),
    ("live instance reported down", _live_instance_down, expiry),
    ("cut-off leader answered", _deposed_leader_answers, deposed_leader),
    ("no convergence", _never_converged, convergence),
    ("checked instance flapped", sample_flap, lifecycle),
]
