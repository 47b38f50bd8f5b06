"""The versioned command envelope that travels through the Raft log.

An envelope is one log entry: ``[FORMAT, ts_ms, term, [command, ...], held_ms]``,
msgpack-encoded. The proposing leader stamps it; nothing inside ``apply``
reads a clock:

- ``ts_ms``: registry wall time, shown as ``registered_at``/``last_heartbeat``;
- ``term``: the proposer's Raft term;
- ``held_ms``: milliseconds since that leader's term began, on its monotonic
  clock. Expiry runs on these alone (see registry.RegistryState), so no
  node's wall clock, however wrong, can expire an instance.

Format 1 (``[1, ts_ms, term, commands]``) still decodes, with ``held_ms =
ts_ms``: old logs replay as they did. Coalescing many commands into one
envelope is how heartbeats and writes are group-committed.

Commands are positional lists whose first item is the type:

    [REGISTER, fields(, caps(, opts))] fields validated, ``id`` already generated;
                                       caps = [max_instances, max_per_service]
                                       from the receiving node, checked in apply
                                       when the command would add an instance
                                       (absent in older logs: no cap);
                                       opts = {"strict": bool} (unmet dependencies refuse)
    [HEARTBEAT, name, id, status|None(, extras)]
                                       status is "up"/"unhealthy" or unchanged;
                                       extras = {generation, load, metadata patch,
                                       coalesce: [load step in 1/1000, ms between load events]}
    [DEREGISTER, name, id(, extras)]   extras = {generation, by: "owner"|"operator"}
    [TICK, down_grace_ms(, opts)]      expire and reap; opts = {"protect": [fraction in 1/1000,
                                       min instances, window ms, max ms], "tomb": [ttl ms, max]}
    [MEMBER, node_id, api_url, raft]   a node announcing its API address
    [NOOP]                             a barrier for linearizable reads
    [TOKEN_PUT, id, fields]            a new API token (fields: tokens.py); salted
                                       hash only, made by the receiving node
    [TOKEN_ROTATE, id, salt, hash]     a token's new secret, same id and role
    [TOKEN_REVOKE, id]
    [SCOPED, principal, patterns, any_owner, command]
                                       a service token's REGISTER, HEARTBEAT or
                                       DEREGISTER: apply checks the name against
                                       the patterns and the instance's owner
    [BATCH, [fields, ...], caps, opts] registrations, all applied or none (fsm/batch.py)
    [CHECK, name, id, generation, state]  a leader's probe concluded a new check state
    [DRAIN, name, id, extras]          extras = {generation, deadline_ms|None, cancel, by}
    [MAINTENANCE, name, id, extras]    extras = {on, reason, generation}
    [RESTORE, state, sha256, opts]     replace the whole state with a backup's (fsm/restore.py):
                                       state = zlib of pack_snapshot bytes, sha256 of
                                       those bytes; opts = {"force": bool}

Issue 13's types start at 20, leaving the numbers below to other rooms' commands.

Type numbers are never reused: old logs must replay with new code.
"""

from __future__ import annotations

from typing import NamedTuple

import msgpack

FORMAT = 2

REGISTER = 1
HEARTBEAT = 2
DEREGISTER = 3
TICK = 4
MEMBER = 5
NOOP = 6
TOKEN_PUT = 7
TOKEN_ROTATE = 8
TOKEN_REVOKE = 9
SCOPED = 10
BATCH = 20
CHECK = 21
DRAIN = 22
MAINTENANCE = 23
RESTORE = 24

NAMES = {REGISTER: "register", HEARTBEAT: "heartbeat", DEREGISTER: "deregister",
         TICK: "tick", MEMBER: "member", NOOP: "noop", TOKEN_PUT: "token_put",
         TOKEN_ROTATE: "token_rotate", TOKEN_REVOKE: "token_revoke", SCOPED: "scoped",
         BATCH: "batch", CHECK: "check", DRAIN: "drain", MAINTENANCE: "maintenance",
         RESTORE: "restore"}


class DecodeError(ValueError):
    """The bytes are not an envelope this version understands."""


class Envelope(NamedTuple):  # a tuple: decoded once per entry on every node, so cheap to build
    ts_ms: int
    term: int
    commands: tuple
    held_ms: int


def encode(ts_ms: int, term: int, commands, held_ms: int | None = None) -> bytes:
    """``held_ms`` defaults to ``ts_ms``: a wall clock that only moves forwards (tests)."""
    held = ts_ms if held_ms is None else held_ms
    return msgpack.packb([FORMAT, int(ts_ms), int(term), list(commands), int(held)], use_bin_type=True)


def decode(data: bytes) -> Envelope:
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise DecodeError(f"not msgpack: {exc}") from None
    if not isinstance(raw, list) or (raw[:1], len(raw)) not in (([FORMAT], 5), ([1], 4)):
        raise DecodeError("unknown envelope format")
    ts_ms, term, commands = raw[1:4]
    held_ms = raw[4] if raw[0] == FORMAT else ts_ms
    if type(ts_ms) is not int or type(term) is not int or type(held_ms) is not int \
            or not isinstance(commands, list):
        raise DecodeError("malformed envelope header")
    return Envelope(ts_ms, term, tuple(commands), held_ms)


def register(fields: dict, limits: tuple[int, int] | None = None, strict: bool = False) -> list:
    """``limits``: (max instances in all, max instances of this service), or None for none."""
    if limits is None and not strict:
        return [REGISTER, fields]
    caps = None if limits is None else [int(limits[0]), int(limits[1])]
    return [REGISTER, fields, caps] + ([{"strict": True}] if strict else [])


def heartbeat(name: str, instance_id: str, status: str | None = None, extras: dict | None = None) -> list:
    # Without extras the command is the one older nodes wrote: they still replay it.
    return [HEARTBEAT, name, instance_id, status] + ([extras] if extras else [])


def deregister(name: str, instance_id: str, extras: dict | None = None) -> list:
    return [DEREGISTER, name, instance_id] + ([extras] if extras else [])


def tick(down_grace_ms: int, opts: dict | None = None) -> list:
    return [TICK, int(down_grace_ms)] + ([opts] if opts else [])


def batch(items: list, limits: tuple[int, int] | None = None, strict: bool = False) -> list:
    caps = None if limits is None else [int(limits[0]), int(limits[1])]
    return [BATCH, list(items), caps, {"strict": bool(strict)}]


def check(name: str, instance_id: str, generation: int, state: str) -> list:
    return [CHECK, name, instance_id, int(generation), state]


def drain(name: str, instance_id: str, extras: dict) -> list:
    return [DRAIN, name, instance_id, extras]


def maintenance(name: str, instance_id: str, extras: dict) -> list:
    return [MAINTENANCE, name, instance_id, extras]


def restore(compressed_state: bytes, digest: bytes, force: bool) -> list:
    return [RESTORE, bytes(compressed_state), bytes(digest), {"force": bool(force)}]


def member(node_id: str, api_url: str, raft: str) -> list:
    return [MEMBER, node_id, api_url, raft]


def noop() -> list:
    return [NOOP]


def token_put(token_id: str, fields: dict) -> list:
    return [TOKEN_PUT, token_id, fields]


def token_rotate(token_id: str, salt: bytes, digest: bytes) -> list:
    return [TOKEN_ROTATE, token_id, salt, digest]


def token_revoke(token_id: str) -> list:
    return [TOKEN_REVOKE, token_id]


def scoped(principal: str, patterns, any_owner: bool, command: list) -> list:
    """``command`` as made by ``principal``, a token limited to services matching ``patterns``."""
    return [SCOPED, principal, list(patterns), bool(any_owner), command]
