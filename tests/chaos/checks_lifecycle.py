"""Checkers of issue 13's workload: health checks that never flap, drains that are never lost.

Checks: the ``chk`` instances have an HTTP check (against a target that
always passes) and no ttl, so only the leader's probes keep them. Once a
node has shown one ``up``, no node may show it ``unhealthy``, ``down`` or
``starting`` again: leader changes, partitions and paused nodes must not
make it flap (results are proposed by the leader alone, on a change, and a
new leader starts from the replicated state).

Drains: an acknowledged drain is never undone (the instance is draining or
gone in the final list), and one acknowledged well before the end (its 1 s
deadline of leader-held time long passed, outages included) is gone.
"""

from __future__ import annotations

from .checks import Result
from .history import RunData
from .workload import DRAIN_SERVICE

SETTLE = 30.0  # seconds between a drain's acknowledgement and the final list that make removal certain


def lifecycle(data: RunData) -> Result:
    res = Result("checks and drains")
    up_seen: dict[str, float] = {}
    for s in data.samples:
        for inst, status in (s.get("checked") or {}).items():
            if status == "up":
                up_seen.setdefault(inst, s["t"])
            elif inst in up_seen:
                res.violations.append(f"{s['node']} reported checked {inst} {status} at {s['t']:.2f}s "
                                      f"(up since {up_seen[inst]:.2f}s)")
    expected = {i for i in (data.meta.get("checked") or [])}
    for inst in sorted(expected - set(up_seen)):
        res.violations.append(f"checked {inst} was never reported up")
    res.notes.append(f"checked instances up: {sorted(up_seen)}")
    final = data.final.get("state")
    if final is None:
        return res
    drained = [o for o in data.ops if o.kind == "drain" and o.outcome == "ok"]
    gone = 0
    for op in drained:
        now = final["instances"].get(op.key)
        if now is not None and now[0] != "draining":
            res.violations.append(f"#{op.id} drain of {op.key} acknowledged at {op.end:.2f}s, yet {now[0]} "
                                  "in the final list")
        if now is None:
            gone += 1
        elif op.end < final.get("t", 0) - SETTLE:
            res.violations.append(f"#{op.id} drain of {op.key} acknowledged at {op.end:.2f}s, still listed at "
                                  f"{final.get('t', 0):.2f}s (deadline 1 s)")
    res.notes.append(f"{len(drained)} drains acknowledged, {gone} removed by the end")
    return res


def sample_flap(d: RunData) -> bool:
    """Self-test mutation: a checked instance sampled unhealthy after it was up."""
    ups = [s for s in d.samples if "up" in (s.get("checked") or {}).values()]
    if not ups:
        return False
    s = d.samples[-1]
    inst = next(i for i, st in ups[0]["checked"].items() if st == "up")
    s.setdefault("checked", {})[inst] = "unhealthy"
    return True


__all__ = ["lifecycle", "sample_flap", "DRAIN_SERVICE"]
