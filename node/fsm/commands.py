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

    [REGISTER, fields]                 fields validated, ``id`` already generated
    [HEARTBEAT, name, id, status|None] status is "up"/"unhealthy" or unchanged
    [DEREGISTER, name, id]
    [TICK, down_grace_ms]              expire and reap; see registry.RegistryState
    [MEMBER, node_id, api_url, raft]   a node announcing its API address
    [NOOP]                             a barrier for linearizable reads

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

NAMES = {REGISTER: "register", HEARTBEAT: "heartbeat", DEREGISTER: "deregister",
         TICK: "tick", MEMBER: "member", NOOP: "noop"}


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


def register(fields: dict) -> list:
    return [REGISTER, fields]


def heartbeat(name: str, instance_id: str, status: str | None = None) -> list:
    return [HEARTBEAT, name, instance_id, status]


def deregister(name: str, instance_id: str) -> list:
    return [DEREGISTER, name, instance_id]


def tick(down_grace_ms: int) -> list:
    return [TICK, int(down_grace_ms)]


def member(node_id: str, api_url: str, raft: str) -> list:
    return [MEMBER, node_id, api_url, raft]


def noop() -> list:
    return [NOOP]


def is_idempotent(command: list) -> bool:
    """Whether proposing the command twice has the effect of proposing it once."""
    if command[0] == REGISTER:
        return bool(command[1].get("id"))
    return command[0] in (HEARTBEAT, DEREGISTER, MEMBER, NOOP, TICK)
