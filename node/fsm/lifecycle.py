"""Lifecycle of an instance beyond heartbeats: checks, draining, maintenance (pure).

An instance's ``status`` is derived, never set directly (``derive_status``):

    maintenance                 while an operator holds it there (never expires)
    down                        its ttl ran out, or its check concluded down
    draining                    asked to drain; still listed, removed at its deadline
    starting                    registered with a check that has not passed yet
    unhealthy                   it said so, or its check says so
    up                          otherwise

Every command here changes state only through ``RegistryState.settle``, which
keeps the status, the indexes, the revision and the watch event together.
"""

from __future__ import annotations

from . import fields
from .model import DOWN, DRAINING, MAINTENANCE, STARTING, UNHEALTHY, UP, iso_ms
from .results import Code, Result, Written, failed
from .invalid import ValidationError
from .validation import check_id, check_name


def derive_status(inst) -> str:
    if inst.mode == MAINTENANCE:
        return MAINTENANCE
    if inst.expired or inst.check_state == DOWN:
        return DOWN
    if inst.mode == DRAINING:
        return DRAINING
    if inst.check_state == STARTING:
        return STARTING
    if inst.reported == UNHEALTHY or inst.check_state == UNHEALTHY:
        return UNHEALTHY
    return UP


def find(state, name, instance_id, generation=None):
    """The instance, or the Failed result that says why not (unknown, or fenced)."""
    inst = state.instances.get((check_name(name), check_id(instance_id)))
    if inst is None:
        return None, failed(Code.NOT_FOUND, f"no instance {name}/{instance_id}")
    if generation is not None and generation != inst.generation:
        return None, stale(inst, generation)
    return inst, None


def stale(inst, generation: int):
    return failed(Code.STALE_GENERATION, f"{inst.name}/{inst.id} was registered again (generation "
                  f"{inst.generation}); generation {generation} no longer owns it", "generation")


def drain(state, name, instance_id, extras, now: int, events: list) -> Result:
    if not isinstance(extras, dict):
        raise ValidationError(None, "malformed drain command")
    gen = extras.get("generation")
    inst, refused = find(state, name, instance_id, None if gen is None else fields.generation(gen))
    if refused is not None:
        return refused
    if extras.get("cancel"):
        if inst.mode == DRAINING:
            inst.mode = inst.mode_info = inst.drain_deadline = None
            state.settle(inst, events, reason="drain_cancelled", force=True)
        return Written(inst.to_record())
    deadline_ms = extras.get("deadline_ms")
    if deadline_ms is not None and (type(deadline_ms) is not int or not 0 <= deadline_ms <= 86_400_000):
        raise ValidationError("deadline", "malformed drain deadline")
    by = "operator" if extras.get("by") == "operator" else "owner"
    inst.mode = DRAINING
    inst.drain_deadline = None if deadline_ms is None else state.held + deadline_ms
    inst.mode_info = {"since": iso_ms(now), "by": by,
                      "deadline": None if deadline_ms is None else iso_ms(now + deadline_ms)}
    state.note_deadline(inst.drain_deadline)
    state.settle(inst, events, reason="drain", force=True)
    return Written(inst.to_record())


def maintenance(state, name, instance_id, extras, now: int, events: list) -> Result:
    if not isinstance(extras, dict):
        raise ValidationError(None, "malformed maintenance command")
    gen = extras.get("generation")
    inst, refused = find(state, name, instance_id, None if gen is None else fields.generation(gen))
    if refused is not None:
        return refused
    if extras.get("on"):
        inst.mode = MAINTENANCE
        inst.drain_deadline = None
        inst.mode_info = {"reason": fields.reason(extras.get("reason")), "since": iso_ms(now)}
        state.settle(inst, events, reason="maintenance", force=True)
    elif inst.mode == MAINTENANCE:
        # Back from maintenance with a fresh ttl: it was never expected to heartbeat meanwhile.
        inst.mode = inst.mode_info = None
        inst.expired = False
        if inst.ttl is not None:
            inst.expires_at = state.held + int(inst.ttl * 1000)
            state.note_deadline(inst.expires_at)
        state.settle(inst, events, reason="maintenance_ended", force=True)
    return Written(inst.to_record())


def check_result(state, name, instance_id, generation, new_state, term: int, events: list) -> Result:
    if term < state.epoch:
        # Probed by a leader that has since been replaced: the new one probes for itself.
        return failed(Code.STALE_GENERATION, "check result of a deposed leader's term", "term")
    if new_state not in (UP, UNHEALTHY, DOWN):
        raise ValidationError("state", "check state must be up, unhealthy or down")
    inst, refused = find(state, name, instance_id, fields.generation(generation))
    if refused is not None:
        return refused
    if inst.check is None:
        raise ValidationError("check", f"{name}/{instance_id} has no check")
    if inst.check_state != new_state:
        inst.check_state = new_state
        state.settle(inst, events, reason="check")
    return Written(inst.to_record())
