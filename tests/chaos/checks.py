"""Checkers over a recorded run: each returns a ``Result`` with violations and notes.

- ``linearizability``: every key's writes and linearizable reads (optionally
  the local reads too: the self-test's way of proving the checker can fail).
- ``lost_writes``: the value read back after healing comes from a write that
  no acknowledged write superseded.
- ``unexpected``: statuses outside the contract (5xx other than 503, 400 ...).
- ``deposed_leader``: a leader cut off from the majority answered no write or
  linearizable read, stopped calling itself leader within ``limit`` (+ slack;
  the runner's defaults: 1 s + 0.5 s), and refused each request within
  ``refuse_limit`` (1.5 s).
- ``convergence``: after healing all nodes showed the same revision and state
  within the limit, and the same applied history: equal ``applied_hash`` (a
  hash over every entry applied, in order) at one applied index.
- ``divergence``: no node raised a divergence alarm during the run (a peer's
  history differed from its own, or an applied entry was replaced).
Watch and expiry checks live in ``checks_watch.py``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from .history import Op, RunData
from .linearizability import Call, check
from .resolve import resolve, watch_facts
from .workload import SERVICE


PROCESS_FAULTS = ("pause", "pause-leader", "kill", "kill-leader", "clock")


@dataclass
class Result:
    name: str
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def key_ops(data: RunData) -> dict[str, list[Op]]:
    out = defaultdict(list)
    for op in data.ops:
        if op.key.startswith(SERVICE + "/") and op.kind in ("put", "del", "get", "lget"):
            out[op.key].append(op)
    return out


def to_call(op: Op, as_kind: str | None = None) -> Call:
    return Call(as_kind or op.kind, op.value, op.flag, op.start,
                op.end if op.outcome == "ok" else None, ref=op.id)


def linearizability(data: RunData, include_local: bool = False, budget_s: float = 30.0,
                    use_watch: bool = True) -> Result:
    """Per key; unknown writes settled by the watch streams first (``resolve.py``) unless ``use_watch`` is off."""
    res = Result("linearizability" + (" (local reads as linearizable)" if include_local else ""))
    facts = watch_facts(data) if use_watch and data.watchers else None
    for key, ops in sorted(key_ops(data).items()):
        if facts is not None:
            ops, stats = resolve(data, key, ops, facts)
            if stats.get("put seen before invoked"):
                res.violations.append(f"{key}: {stats['put seen before invoked']} write(s) appeared in a watch "
                                      f"stream before they were sent")
            if stats:
                res.notes.append(f"{key}: unknown outcomes settled by the watch streams: {stats}")
        calls = []
        for op in ops:
            if op.outcome == "fail" or (op.kind == "lget" and not include_local):
                continue
            calls.append(to_call(op, "get" if op.kind == "lget" else None))
        verdict = check(calls, budget_s=budget_s)
        if verdict.ok is False:
            ids = ", ".join(f"#{c.ref}" for c in verdict.witness[:8])
            res.violations.append(f"{key}: {verdict.message} (ops {ids})")
        elif verdict.ok is None:
            res.notes.append(f"{key}: inconclusive, {verdict.message}")
        elif "values only" in verdict.message:
            res.notes.append(f"{key}: {verdict.message}")
        res.notes.append(f"{key}: {len(calls)} calls, {verdict.explored} search steps")
    return res


def lost_writes(data: RunData) -> Result:
    res = Result("lost writes")
    for key, ops in sorted(key_ops(data).items()):
        finals = [o for o in ops if o.proc == "final" and o.kind == "get" and o.outcome == "ok"]
        if not finals:
            res.violations.append(f"{key}: no successful linearizable read after healing")
            continue
        final = finals[-1]
        writes = [o for o in ops if o.kind in ("put", "del") and o.outcome in ("ok", "unknown")
                  and o.start < final.start]
        acked = [o for o in writes if o.outcome == "ok"]
        live = [w for w in writes if not any(a.start > w.end for a in acked if w.outcome == "ok")]
        effects = {w.value if w.kind == "put" else None for w in live}
        if not acked:  # unknown writes may all have come to nothing: the initial absence remains
            effects.add(None)
        if final.value not in effects:
            last = sorted((w for w in live if w.outcome == "ok"), key=lambda w: w.end)[-3:]
            res.violations.append(
                f"{key}: read back {final.value!r} after healing, but the writes that could be last are "
                + ", ".join(f"#{w.id} {w.kind} {w.value!r} ({w.outcome})" for w in last or live[-3:]))
    return res


def unexpected(data: RunData) -> Result:
    res = Result("unexpected responses")
    for op in data.ops:
        if op.extra.get("unexpected"):
            res.violations.append(f"#{op.id} {op.kind} {op.key} on {op.node} answered {op.status} {op.code}")
    return res


def deposed_leader(data: RunData, limit: float = 1.0, slack: float = 0.5,
                   refuse_limit: float = 1.5) -> Result:
    """``refuse_limit``: seconds within which each request to the cut-off node must be refused."""
    res = Result("deposed leader")
    for p in data.probes:
        node, t_cut, t_heal = p["node"], p["t_cut"], p["t_heal"]
        probed = [op for op in data.ops if op.proc == "prober" and op.node == node and t_cut <= op.start <= t_heal]
        # A node also paused or killed meanwhile cannot answer at all: its timing says nothing.
        frozen = any(f.get("detail", {}).get("node") == node and f["start"] <= t_heal
                     and f.get("end", t_heal) >= t_cut for f in data.faults if f["kind"] in PROCESS_FAULTS)
        if frozen:
            res.notes.append(f"{node} cut off at {t_cut:.2f}s was also paused or killed: timing not judged")
        for op in probed:
            if op.outcome == "ok" and op.end <= t_heal:  # answered while still cut off
                res.violations.append(f"{node} cut off at {t_cut:.2f}s still answered #{op.id} {op.kind} "
                                      f"{op.value!r} ok at {op.end:.2f}s")
            elif op.outcome != "ok" and not frozen:
                # Only the time spent while cut off counts: once healed, the node is an ordinary
                # member again, and a request still waiting then is answered like any other
                # (seed 4242: a read sent while the node was a candidate, 1.0 s before the heal,
                # ended not_ready 1 s after it while the node caught up).
                waited = min(op.end, t_heal) - op.start
                if waited > refuse_limit:
                    res.violations.append(f"{node} cut off at {t_cut:.2f}s took {waited:.2f}s to refuse "
                                          f"#{op.id} {op.kind} (limit {refuse_limit}s)")
        stepped = next((t for t, role, _ in p["health"] if t >= t_cut and role != "leader"), None)
        if frozen:
            continue
        if stepped is None:
            if t_heal - t_cut > limit + slack:
                res.violations.append(f"{node} cut off at {t_cut:.2f}s still called itself leader "
                                      f"until healed at {t_heal:.2f}s")
        else:
            took = stepped - t_cut
            res.notes.append(f"{node}: stopped leading {took:.2f}s after being cut off")
            if took > limit + slack:
                res.violations.append(f"{node} took {took:.2f}s to stop leading (limit {limit}s + {slack}s)")
    return res


def convergence(data: RunData) -> Result:
    res = Result("convergence")
    conv = data.final.get("convergence")
    if not conv:
        res.violations.append("no convergence observation recorded")
        return res
    took, limit = conv.get("took"), conv["limit"]
    if took is None:
        res.violations.append(f"nodes did not agree within {limit}s of healing: {conv.get('last_diff')}")
    else:
        res.notes.append(f"all nodes identical {took:.2f}s after healing (revision {conv.get('revision')})")
        if took > limit:
            res.violations.append(f"nodes agreed only {took:.2f}s after healing (limit {limit}s)")
    hashes = (data.final.get("hashes") or {}).get("nodes")
    if hashes is None:
        res.notes.append("no applied-hash observation recorded (a run from before it existed)")
        return res
    indices = {v["applied_index"] for v in hashes.values()}
    digests = {v["applied_hash"] for v in hashes.values()}
    if len(indices) != 1:
        res.violations.append(f"nodes never reported one applied index: {hashes}")
    elif None in digests:
        res.violations.append(f"a node does not know its applied history's hash: {hashes}")
    elif len(digests) != 1:
        res.violations.append(f"applied histories differ at index {indices.pop()}: "
                              + ", ".join(f"{k} {v['applied_hash']}" for k, v in sorted(hashes.items())))
    else:
        res.notes.append(f"identical applied histories up to index {indices.pop()}")
    return res


def divergence(data: RunData) -> Result:
    res = Result("divergence alarms")
    final = data.final.get("hashes")
    if final is None:
        res.notes.append("no alarm observation recorded (a run from before it existed)")
        return res
    for line in final.get("alarm_lines", []):
        res.violations.append(line)
    for node, seen in sorted(final.get("nodes", {}).items()):
        for alarm in seen.get("alarms") or []:
            res.violations.append(f"{node} still alarmed at the end: {alarm}")
    return res
