"""Settle unknown write outcomes with what the watch streams saw, so long histories stay searchable.

A write whose outcome is unknown may take effect at any later moment or
never; a few dozen of them per key make the linearizability search
exponential, and a violation then goes unproved (the budget runs out). The
watch streams record every change with its revision, and the watch checker
verifies they are gapless and agree, so when together they cover every
revision up to the final one:

- an unknown ``put`` whose unique value appears in an event took effect
  before the first watcher received that event: its end becomes that time;
- an unknown ``put`` whose value appears nowhere never took effect: dropped;
- unknown ``del``s of a key are dropped when the key's ``deregistered``
  (owner) events are exactly the acknowledged deletions that found it
  present: none of the unknown ones removed anything, and a deletion of
  nothing changes nothing.

Without full coverage only the first rule is used (it needs no coverage).
"""

from __future__ import annotations

from collections import Counter

from .history import Op, RunData


def watch_facts(data: RunData) -> tuple[dict, Counter, bool]:
    """(value -> earliest receive time, key -> owner deregistrations, every revision covered)."""
    first_seen: dict = {}
    removals: Counter = Counter()
    revs: set = set()
    for w in data.watchers.values():
        for it in w["items"]:
            if "rev" not in it:
                continue
            if it["rev"] not in revs:
                revs.add(it["rev"])
                if it["kind"] == "deregistered" and it.get("reason") == "owner":
                    removals[it["key"]] += 1
            value = it["state"][1]
            if it["kind"] in ("registered", "updated") and value is not None:
                first_seen[value] = min(first_seen.get(value, it["t"]), it["t"])
    final = (data.final.get("state") or {}).get("revision")
    complete = final is not None and revs >= set(range(1, final + 1))
    return first_seen, removals, complete


def resolve(data: RunData, key: str, ops: list[Op], facts=None) -> tuple[list[Op], dict]:
    """The key's ops with unknown writes settled where the streams allow; counts of what changed."""
    first_seen, removals, complete = facts or watch_facts(data)
    acked_removals = sum(1 for o in ops if o.kind == "del" and o.outcome == "ok" and o.flag)
    drop_dels = complete and removals[key] == acked_removals
    out, stats = [], Counter()
    for op in ops:
        if op.outcome == "unknown" and op.kind == "put":
            if op.value in first_seen:
                if first_seen[op.value] < op.start:
                    stats["put seen before invoked"] += 1  # a violation: the caller reports it
                op = Op(**{**op.__dict__, "outcome": "ok", "end": max(op.start, first_seen[op.value])})
                op.flag = None  # created or updated: the stream does not say which
                stats["put bounded"] += 1
            elif complete:
                stats["put dropped"] += 1
                continue
        elif op.outcome == "unknown" and op.kind == "del" and drop_dels:
            stats["del dropped"] += 1
            continue
        out.append(op)
    return out, dict(stats)
