"""The leader's tick, applied: expiry, removal, drain deadlines, protection, tombstones (pure).

Mass-expiry protection (Eureka's self-preservation, per service): an
instance is *at risk* when it would expire within the protection window and
has already gone half its ttl without a heartbeat (a client beating every
ttl/3 never is). When an instance of a service is due to expire and more
than ``fraction`` and more than ``min`` of the service's live instances are
at risk, what the registry sees is more likely a partition between the
instances and the registry than that many deaths at once: the service is
*protected* and none of its instances expire. Protection ends when the
at-risk count falls back (heartbeats returned) or after ``max`` of held
time; after the maximum, expiry resumes and the service cannot be protected
again until its at-risk count has fallen back once. Decided here, in apply,
from replicated state and the settings carried in the TICK command: every
node decides alike.
"""

from __future__ import annotations

from . import tombstones as T
from .events import Event
from .model import DOWN, DRAINING, MAINTENANCE, iso_ms
from .results import Ticked

PROTECTION = "protection"  # the watch event kind of a service entering or leaving protection
DEFAULT_PROTECT = (500, 3, 30_000, 600_000)  # fraction in 1/1000, min instances, window ms, max ms


def _ints(raw, n: int, default: tuple) -> tuple:
    if raw is None:
        return default
    if type(raw) is not list or len(raw) != n or any(type(x) is not int or x < 0 for x in raw):
        raise ValueError(f"malformed tick option {raw!r}")
    return tuple(raw)


def tick(state, term: int, down_grace_ms, opts, events: list) -> Ticked:
    grace = int(down_grace_ms)
    if term < state.epoch:
        # Proposed by a leader that has since been replaced: its view of liveness no longer counts.
        return Ticked(stale=True)
    opts = opts or {}
    if not isinstance(opts, dict):
        raise ValueError("malformed tick options")
    protect = _ints(opts.get("protect"), 4, DEFAULT_PROTECT)
    tomb_ttl, tomb_max = _ints(opts.get("tomb"), 2, (T.DEFAULT_TTL_MS, T.DEFAULT_MAX))
    now = state.held
    state.tombstones.prune(now, tomb_ttl, tomb_max)
    if grace != state._grace:
        state._grace, state._next_deadline = grace, 0
    if now < state._next_deadline and not state.protection:
        return Ticked()
    expiring: dict[str, list] = {}
    removing: dict[tuple, str] = {}
    next_deadline = now + grace
    for inst in state.instances.values():
        if inst.mode == MAINTENANCE:
            continue
        if inst.status == DOWN:
            deadline = inst.down_since + grace
            if now >= deadline:
                removing[inst.key] = T.EXPIRED if inst.expired else T.CHECK_FAILED
            elif deadline < next_deadline:
                next_deadline = deadline
        elif inst.expires_at is not None:
            if now > inst.expires_at:
                expiring.setdefault(inst.name, []).append(inst)
            elif inst.expires_at < next_deadline:
                next_deadline = inst.expires_at
        if inst.mode == DRAINING and inst.drain_deadline is not None:
            if now >= inst.drain_deadline:
                removing[inst.key] = T.DRAINED
            elif inst.drain_deadline < next_deadline:
                next_deadline = inst.drain_deadline
    for name in sorted(set(expiring) | set(state.protection)):
        if _protected(state, name, now, name in expiring, protect, events):
            expiring.pop(name, None)
    due = [(inst.key, inst, None) for group in expiring.values() for inst in group
           if inst.key not in removing]
    due += [(key, state.instances[key], why) for key, why in removing.items()]
    # Sorted, because dict order differs between a node that restored a
    # snapshot and one that did not, and revisions must match everywhere.
    expired = removed = 0
    for _, inst, why in sorted(due, key=lambda d: d[0]):
        if why is None:
            inst.expired = True
            state.settle(inst, events, kind="expired", reason="ttl")
            expired += 1
        else:
            state.remove(inst.key, events, why, "drained" if why == T.DRAINED else "grace")
            removed += 1
    state._next_deadline = next_deadline
    return Ticked(expired, removed)


def _at_risk(state, name: str, now: int, window: int) -> tuple[int, int]:
    live = risk = 0
    for inst in state.services.get(name, {}).values():
        if inst.expired or inst.mode == MAINTENANCE or inst.expires_at is None or inst.status == DOWN:
            continue
        live += 1
        if inst.expires_at - now <= min(window, int(inst.ttl * 500)):
            risk += 1
    return live, risk


def _protected(state, name: str, now: int, due: bool, params: tuple, events: list) -> bool:
    """Whether ``name`` is protected at this tick; starts and ends protection (with an event)."""
    fraction, least, window, longest = params
    live, risk = _at_risk(state, name, now, window)
    holds = risk > least and risk * 1000 > fraction * live
    entry = state.protection.get(name)
    if entry is None:
        if not (holds and due):
            return False
        entry = {"since": now, "at": state.clock, "exhausted": False,
                 "reason": f"{risk} of {live} up instances would expire within {window / 1000:g}s"}
        state.protection[name] = entry
        _event(state, name, True, entry["reason"], entry, events)
        return True
    if not holds:
        del state.protection[name]
        if not entry["exhausted"]:
            _event(state, name, False, "heartbeats returned", entry, events)
        return False
    if entry["exhausted"]:
        return False
    if now - entry["since"] >= longest:
        entry["exhausted"] = True
        _event(state, name, False, f"protected for the maximum of {longest / 1000:g}s; expiry resumes",
               entry, events)
        return False
    return True


def _event(state, name: str, on: bool, reason: str, entry: dict, events: list) -> None:
    revision = state.bump_service(name)
    events.append(Event(revision, PROTECTION, {"name": name, "protected": on, "reason": reason,
                                               "since": iso_ms(entry["at"])}))


def protection_view(state, name: str | None = None) -> list[dict]:
    """Services protected now: ``[{service, reason, since}]`` (exhausted ones are not)."""
    names = [name] if name is not None else sorted(state.protection)
    out = []
    for n in names:
        entry = state.protection.get(n)
        if entry is not None and not entry["exhausted"]:
            out.append({"service": n, "reason": entry["reason"], "since": iso_ms(entry["at"])})
    return out
