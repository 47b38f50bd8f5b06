"""What applying one command produced: a small typed value per outcome.

``apply`` returns one of these per command. Errors carry a ``Code`` from one
closed enum; ``errors.for_failure`` maps each code to an HTTP error, and a
test checks that the mapping covers every code, so a new code cannot slip
through as a 400 by default.

Between nodes (a follower forwarding writes to the leader) results travel as
plain dicts, ``to_wire``/``from_wire``: the format nodes of the previous
release send and expect, so mixed versions keep working during an upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    NOT_FOUND = "not_found"
    TOO_MANY_INSTANCES = "too_many_instances"
    NOT_A_MEMBER = "not_a_member"  # a MEMBER naming a Raft address outside the cluster
    BAD_COMMAND = "bad_command"  # not decodable, or not a command of this version
    # Tokens (fsm/tokens.py).
    NOT_OWNER = "not_owner"  # the instance is bound to another token
    OUT_OF_SCOPE = "out_of_scope"  # the service name matches none of the token's patterns
    TOKEN_INVALID = "token_invalid"  # revoked or expired between the check and apply
    TOKEN_EXISTS = "token_exists"
    TOO_MANY_TOKENS = "too_many_tokens"
    # Validation (fsm/validation.py); the field names what is wrong.
    INVALID = "invalid"
    REQUIRED = "required"
    READ_ONLY = "read_only"
    UNKNOWN_FIELD = "unknown_field"
    # Conflicts (409): the command is well-formed but the state refuses it.
    UNMET_DEPENDENCY = "unmet_dependency"  # strict registration with a dependency no up instance meets
    STALE_GENERATION = "stale_generation"  # a heartbeat/delete/drain of an older registration (fencing)
    NOT_EMPTY = "registry_not_empty"  # a RESTORE without force into a registry holding instances


@dataclass(frozen=True, slots=True)
class Failed:
    code: Code
    message: str
    field: str | None = None
    limit: str | None = None  # TOO_MANY_*: the setting or cap that refused it
    max: int | None = None  # ... and its value

    ok = False


@dataclass(frozen=True, slots=True)
class Written:
    """A register, heartbeat or deregister that took effect; ``record`` as it is now (or was)."""

    record: dict
    created: bool = False  # register only: a new instance
    warnings: tuple = ()  # register: unmet dependencies, as messages

    ok = True


@dataclass(frozen=True, slots=True)
class Batched:
    """A batch registration: every item's Written, in order (all applied, or the batch Failed)."""

    items: tuple

    ok = True


@dataclass(frozen=True, slots=True)
class Ticked:
    expired: int = 0
    removed: int = 0
    stale: bool = False  # proposed by a leader since replaced: nothing done

    ok = True


@dataclass(frozen=True, slots=True)
class Done:
    """NOOP, MEMBER and token commands: nothing to report beyond success."""

    ok = True


DONE = Done()
Result = Failed | Written | Batched | Ticked | Done


def failed(code: str | Code, message: str, field: str | None = None, **extra) -> Failed:
    """A Failed for ``code``; a code this version does not know is INVALID (a newer peer's)."""
    known = Code._value2member_map_.get(code, Code.INVALID)
    return Failed(known, message, field, **extra)


def to_wire(result: Result) -> dict:
    if isinstance(result, Failed):
        out = {"error": str(result.code), "message": result.message, "field": result.field}
        if result.limit is not None:
            out.update(limit=result.limit, max=result.max)
        return out
    if isinstance(result, Written):
        out = {"ok": True, "created": result.created, "record": result.record}
        if result.warnings:  # absent otherwise: the previous release's shape
            out["warnings"] = list(result.warnings)
        return out
    if isinstance(result, Batched):
        return {"ok": True, "batch": [to_wire(w) for w in result.items]}
    if isinstance(result, Ticked):
        return {"ok": True, "expired": result.expired, "removed": result.removed, "stale": result.stale}
    return {"ok": True}


def from_wire(raw: dict) -> Result:
    if "error" in raw:
        return failed(raw["error"], raw.get("message", ""), raw.get("field"),
                      limit=raw.get("limit"), max=raw.get("max"))
    if "record" in raw:
        return Written(raw["record"], bool(raw.get("created", False)), tuple(raw.get("warnings") or ()))
    if "batch" in raw:
        return Batched(tuple(from_wire(w) for w in raw["batch"]))
    if "expired" in raw:
        return Ticked(raw["expired"], raw["removed"], bool(raw.get("stale", False)))
    return DONE
