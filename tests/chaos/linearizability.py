"""Linearizability of one register's history: Wing-Gong search with Lowe's memoization.

The algorithm is the one Porcupine and Knossos use (Wing & Gong 1993, with
the cache of (linearized set, model state) from Lowe, "Testing for
linearizability", 2017): walk the calls in time order, tentatively linearize
a call whose model step succeeds, backtrack when a return is reached whose
call could not be placed, and never revisit a (set, state) pair.

The model is a register holding one instance's metadata value ``v`` or
``ABSENT``:

- ``put(v)``  a registration; ``flag`` = created (201) / updated (200)
- ``del``     a deregistration; ``flag`` = existed (200) / was absent (404)
- ``get``     a read; ``value`` is what it returned (``ABSENT`` for 404)

A call whose outcome is unknown (timeout, 503 unknown_outcome) has
``end=None``: it may take effect at any moment after its start, or never.
Unknown reads constrain nothing and are dropped. An unknown put whose unique
value some read returned must have happened before that read returned, so its
end becomes the earliest such return (this keeps the search small).

When the full search exceeds its budget the check falls back to values only
(no created/existed flags; unknown puts nobody read dropped, which is exact
for a value register) and says so in the verdict.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

ABSENT = None


@dataclass(frozen=True)
class Call:
    kind: str  # "put" | "del" | "get"
    value: str | None = None  # put: value written; get: value read (ABSENT for 404)
    flag: bool | None = None  # put: created; del: existed; None = not known
    start: float = 0.0
    end: float | None = None  # None: unknown outcome
    ref: object = None  # the caller's id for reports


@dataclass
class Verdict:
    ok: bool | None  # None: inconclusive (budget exceeded)
    message: str = ""
    witness: list = field(default_factory=list)  # calls around the failure
    explored: int = 0


def step(state, call: Call, flags: bool = True):
    """(allowed, new state) for applying ``call`` to the register ``state``."""
    if call.kind == "get":
        return state == call.value, state
    if call.kind == "put":
        if flags and call.flag is not None and call.flag != (state is ABSENT):
            return False, state
        return True, call.value
    if call.kind == "del":
        if flags and call.flag is not None and call.flag != (state is not ABSENT):
            return False, state
        return True, ABSENT
    raise ValueError(f"unknown call kind {call.kind!r}")


def prepare(calls: list[Call], drop_unread_unknown_puts: bool = False) -> list[Call]:
    """Drop what cannot constrain anything; bound unknown puts that were observed."""
    first_seen: dict = {}
    for c in calls:
        if c.kind == "get" and c.end is not None and c.value is not ABSENT:
            first_seen[c.value] = min(first_seen.get(c.value, math.inf), c.end)
    out = []
    for c in calls:
        if c.kind == "get" and c.end is None:
            continue
        if c.kind == "put" and c.end is None:
            if c.value in first_seen:
                c = replace(c, end=max(c.start, first_seen[c.value]))
            elif drop_unread_unknown_puts:
                continue
        out.append(c)
    return out


class _Entry:
    __slots__ = ("call", "idx", "is_call", "match", "prev", "next")

    def __init__(self, call, idx, is_call):
        self.call, self.idx, self.is_call = call, idx, is_call
        self.match = self.prev = self.next = None


def _build(calls: list[Call]) -> _Entry:
    events = []
    for i, c in enumerate(calls):
        events.append((c.start, 0, i, True))
        events.append((math.inf if c.end is None else c.end, 1, i, False))
    events.sort()  # at equal times calls come first: touching intervals overlap
    head = _Entry(None, -1, False)
    prev, calls_at = head, {}
    for _, _, i, is_call in events:
        e = _Entry(calls[i], i, is_call)
        if is_call:
            calls_at[i] = e
        else:
            calls_at[i].match = e
        prev.next, e.prev = e, prev
        prev = e
    return head


def _lift(e: _Entry) -> None:
    e.prev.next, e.next.prev = e.next, e.prev
    m = e.match
    m.prev.next = m.next
    if m.next is not None:
        m.next.prev = m.prev


def _unlift(e: _Entry) -> None:
    m = e.match
    m.prev.next = m
    if m.next is not None:
        m.next.prev = m
    e.prev.next = e
    e.next.prev = e


def search(calls: list[Call], init=ABSENT, flags: bool = True, budget_s: float = 30.0) -> Verdict:
    """Wing-Gong/Lowe on prepared calls."""
    head = _build(calls)
    entry, state, linearized = head.next, init, 0
    stack: list = []
    cache: set = set()
    deadline, explored = time.monotonic() + budget_s, 0
    deepest, stuck = -1, None
    while head.next is not None:
        explored += 1
        if explored & 0xFFF == 0 and time.monotonic() > deadline:
            return Verdict(None, f"search budget of {budget_s}s exceeded", explored=explored)
        if entry.is_call:
            allowed, new_state = step(state, entry.call, flags)
            if allowed:
                key = (linearized | (1 << entry.idx), new_state)
                if key not in cache:
                    cache.add(key)
                    stack.append((entry, state))
                    state, linearized = new_state, key[0]
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if len(stack) > deepest:
                deepest, stuck = len(stack), (entry.call, state, [e.call for e, _ in stack[-5:]])
            if not stack:
                break
            entry, state = stack.pop()
            linearized &= ~(1 << entry.idx)
            _unlift(entry)
            entry = entry.next
    if head.next is None:
        return Verdict(True, "linearizable", explored=explored)
    call, at_state, before = stuck
    message = (f"not linearizable: after {deepest} calls in the longest valid order (last: "
               f"{', '.join(_fmt(c) for c in before) or 'none'}) the register held {at_state!r}, "
               f"and {_fmt(call)} cannot be placed before its return")
    near = [c for c in calls if c.start <= (call.end or math.inf) and (c.end or math.inf) >= call.start]
    return Verdict(False, message, witness=[call, *near[:20]], explored=explored)


def check(calls: list[Call], init=ABSENT, budget_s: float = 30.0) -> Verdict:
    """Full model first; on a budget overrun, the exact values-only check."""
    full = search(prepare(calls), init, flags=True, budget_s=budget_s)
    if full.ok is not None:
        return full
    values = search(prepare(calls, drop_unread_unknown_puts=True), init, flags=False, budget_s=budget_s)
    if values.ok is True:
        values.message = "linearizable (values only: created/existed flags not checked, budget exceeded)"
    return values


def _fmt(c: Call) -> str:
    span = f"[{c.start:.3f}, {'?' if c.end is None else f'{c.end:.3f}'}]"
    if c.kind == "get":
        what = f"get -> {c.value!r}"
    elif c.kind == "put":
        what = f"put {c.value!r}" + ("" if c.flag is None else (" (created)" if c.flag else " (updated)"))
    else:
        what = "del" + ("" if c.flag is None else (" (existed)" if c.flag else " (404)"))
    return f"{what} {span}" + (f" #{c.ref}" if c.ref is not None else "")
