"""Checkers of issue 13's workload: health checks that never flap, drains that are never lost.

Checks: the ``chk`` instances have an HTTP check (against a target that
always passes) and no ttl, so only the leader's probes keep them. Once a
node has shown one ``up``, that node may not show it ``unhealthy``, ``down``
or ``starting`` again, restarts included: leader changes, partitions and
paused nodes must not make it flap (results are proposed by the leader alone,
on a change, and a new leader starts from the replicated state). Samples are
local reads, which CONTRACT.md lets lag: a node that was down or cut off
while the instance came up may still show it ``starting`` until it catches
up, so one node's sample is compared only with that node's earlier ones.

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
    up_seen: dict[tuple[str, str], float] = {}  # (node, instance) -> when that node first showed it up
    for s in data.samples:
        for inst, status in (s.get("checked") or {}).items():
            key = (s["node"], inst)
            if status == "up":
                up_seen.setdefault(key, s["t"])
            elif key in up_seen:
                res.violations.append(f"{s['node']} reported checked {inst} {status} at {s['t']:.2f}s "
                                      f"(it showed it up since {up_seen[key]:.2f}s)")
    ever_up = {inst for _, inst in up_seen}
    expected = {i for i in (data.meta.get("checked") or [])}
    for inst in sorted(expected - ever_up):
        res.violations.append(f"checked {inst} was never reported up")
    res.notes.append(f"checked instances up: {sorted(ever_up)}")
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
    """Self-test mutation: a checked instance sampled unhealthy by a node that showed it up before."""
    ups = [s for s in d.samples if "up" in (s.get("checked") or {}).values()]
    if not ups:
        return False
    first = ups[0]
    later = [s for s in d.samples if s["node"] == first["node"] and s["t"] > first["t"]]
    if not later:
        return False
    inst = next(i for i, st in first["checked"].items() if st == "up")
    later[-1].setdefault("checked", {})[inst] = "unhealthy"
    return True


__all__ = ["lifecycle", "sample_flap", "DRAIN_SERVICE"]
