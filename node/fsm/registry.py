"""RegistryState: the replicated service map and its deterministic ``apply``.

Every node applies the same envelopes in the same order and so holds the same
state. Time enters only as the envelope's leader stamp, as two clocks:

- ``clock``: registry wall time, the last envelope's ``ts_ms``. Only shown
  (``registered_at``, ``last_heartbeat``); it decides nothing.
- ``held``: *leader-held time*, the expiry clock. Within a term it advances
  by the leader's monotonic ``held_ms``; at the first envelope of a newer
  term it carries on from where it stood. So time in which no leader could
  commit (an election, an outage without a majority) does not count against
  any ttl: heartbeats lost then were lost through no fault of the instance.
  And since no wall clock enters it, a leader whose clock is hours off can
  neither expire nor keep alive anyone. An instance that stopped still goes
  ``down`` after its ttl of committed time, however often leaders change.

Revisions: ``revision`` grows by one for every change a watcher could see (an
instance registered, updated, changing status, removed), so each change has
its own id in the watch stream. A heartbeat that changes nothing advances the
instance's expiry but no revision.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import msgpack

from . import commands as C
from . import model
from .model import DOWN, UP, Instance
from .validation import ValidationError, check_id, check_name, check_reported_status, validate_registration

SNAPSHOT_FORMAT = 2

# Event kinds of the watch stream (CONTRACT.md, Watch).
REGISTERED, UPDATED, STATUS, DEREGISTERED, EXPIRED = (
    "registered", "updated", "status", "deregistered", "expired")


@dataclass(slots=True)
class Event:
    revision: int
    kind: str
    record: dict
    reason: str | None = None


@dataclass(slots=True)
class Outcome:
    """What applying one envelope produced: a result per command, and events."""

    results: list = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    ts_ms: int | None = None  # the envelope's stamp and term, when it decoded
    term: int | None = None


# Each decoded command brings its own copies of strings that a fleet repeats
# across instances (versions, tags, metadata, interface names, dependencies,
# often addresses). Keeping one copy of each saved ~0.5 KB per instance of the
# benchmark's record (1,590 -> 1,048 bytes): ~54 MB at 100,000 instances.
_share = sys.intern


def error(code: str, message: str, field_name: str | None = None) -> dict:
    return {"error": code, "message": message, "field": field_name}


def pack_snapshot(captured: dict) -> bytes:
    """msgpack of a capture, instances sorted, a thousand at a time.

    One ``packb`` of 100,000 instances would hold the GIL for a few hundred
    milliseconds, starving the node's Raft and HTTP threads; packing in
    chunks lets them run in between. The bytes are those of ``packb``."""
    packer = msgpack.Packer(use_bin_type=True)
    out = bytearray(packer.pack_map_header(len(captured)))
    for key, value in captured.items():
        if key != "instances":
            out += packer.pack(key) + packer.pack(value)
    wires = sorted(captured["instances"], key=lambda w: (w[0], w[1]))
    out += packer.pack("instances") + packer.pack_array_header(len(wires))
    for start in range(0, len(wires), 1000):
        out += b"".join([packer.pack(w) for w in wires[start:start + 1000]])
    return bytes(out)


class RegistryState:
    """The whole replicated state. Not thread-safe: the caller serializes access."""

    def __init__(self) -> None:
        self.instances: dict[tuple[str, str], Instance] = {}
        self.services: dict[str, dict[str, Instance]] = {}
        self.service_rev: dict[str, int] = {}  # kept after the last instance leaves
        self.members: dict[str, dict] = {}
        self.revision = 0
        self.clock = 0  # wall ms of the last envelope
        self.held = 0  # leader-held ms: the expiry clock
        self.epoch = 0  # newest term seen in an envelope
        self._held_base = 0  # held = _held_base + held_ms within ``epoch``
        self._next_deadline = 0  # lower bound (held ms) of the next expiry or removal
        self._grace = model.DEFAULT_DOWN_GRACE_MS
        # Node-local, not replicated: bumped whenever anything a reader can see
        # changes, heartbeats included, so rendered lists can be cached exactly.
        self.seq = 0
        self.touched: dict[str, int] = {}
        self._seq_base = 0

    # ---- apply -----------------------------------------------------------
    def apply(self, data: bytes) -> Outcome:
        """Apply one log entry. Never raises: bad commands get an error result."""
        out = Outcome()
        try:
            env = C.decode(data)
        except C.DecodeError as exc:
            out.results.append(error("bad_command", str(exc)))
            return out
        out.ts_ms, out.term = env.ts_ms, env.term
        self._advance(env)
        for cmd in env.commands:
            try:
                out.results.append(self._apply_one(cmd, env.ts_ms, env.term, out.events))
            except ValidationError as exc:
                out.results.append(error(exc.code, exc.message, exc.field))
            except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
                out.results.append(error("bad_command", f"malformed command: {exc}"))
        return out

    def _advance(self, env: C.Envelope) -> None:
        self.clock = env.ts_ms
        if env.term > self.epoch:  # a new leader: carry on where the last committed stamp left off
            self.epoch, self._held_base = env.term, self.held - env.held_ms
        elif env.term == self.epoch:
            self.held = max(self.held, self._held_base + env.held_ms)
        # else: stamped by a deposed leader, whose time no longer counts

    def _apply_one(self, cmd, now: int, term: int, events: list[Event]):
        if not isinstance(cmd, list) or not cmd:
            raise ValueError("command is not a list")
        kind = cmd[0]
        if kind == C.REGISTER:
            return self._register(cmd[1], now, events)
        if kind == C.HEARTBEAT:
            return self._heartbeat(cmd[1], cmd[2], cmd[3], now, events)
        if kind == C.DEREGISTER:
            return self._deregister(cmd[1], cmd[2], events)
        if kind == C.TICK:
            return self._tick(term, cmd[1], events)
        if kind == C.MEMBER:
            node_id, api, raft = (str(x) for x in cmd[1:4])
            # Copy-on-write: readers may cache lookups keyed on the dict's identity.
            self.members = {**self.members, node_id: {"api": api, "raft": raft}}
            return {"ok": True}
        if kind == C.NOOP:
            return {"ok": True}
        raise ValueError(f"unknown command type {kind!r}")

    def _bump(self, inst: Instance) -> None:
        self.revision += 1
        inst.revision = self.revision
        self.service_rev[inst.name] = self.revision
        self._touch(inst.name)

    def _touch(self, name: str) -> None:
        self.seq += 1
        self.touched[name] = self.seq

    def view_key(self, name: str | None) -> int:
        """Changes whenever a reader could see a difference in ``name`` (or anywhere)."""
        return self.seq if name is None else self.touched.get(name, self._seq_base)

    def _register(self, raw, now: int, events: list[Event]) -> dict:
        fields = validate_registration(raw)
        if "id" not in fields:
            raise ValidationError("id", "id must be stamped by the proposer", "required")
        key = (fields["name"], fields["id"])
        ttl_ms = int(fields["ttl"] * 1000)
        inst = self.instances.get(key)
        created = inst is None
        if created:
            inst = Instance(name=_share(key[0]), id=key[1], registered_at=now)
            self.instances[key] = inst
            self.services.setdefault(key[0], {})[key[1]] = inst
        old_spec, old_status = (None if created else inst.spec()), inst.status
        version, address = fields["version"], fields["address"]
        inst.version = None if version is None else _share(version)
        inst.address = None if address is None else _share(address)
        inst.port, inst.ttl = fields["port"], fields["ttl"]
        inst.interfaces = {_share(k): _share(v) for k, v in fields["interfaces"].items()}
        inst.metadata = {_share(k): _share(v) for k, v in fields["metadata"].items()}
        inst.tags = [_share(t) for t in fields["tags"]]
        inst.dependencies = [_share(d) for d in fields["dependencies"]]
        inst.reported = inst.status = UP  # registering again means the instance restarted
        inst.down_since = None
        inst.last_heartbeat = now
        inst.expires_at = self.held + ttl_ms
        self._touch(inst.name)
        self._next_deadline = min(self._next_deadline, inst.expires_at)
        kind = None
        if created or inst.spec() != old_spec:
            kind = REGISTERED if created else UPDATED
        elif old_status != inst.status:
            kind = STATUS
        if kind is not None:
            self._bump(inst)
        record = inst.to_record()
        if kind is not None:
            events.append(Event(self.revision, kind, record))
        return {"ok": True, "created": created, "record": record}

    def _heartbeat(self, name, instance_id, status, now: int, events: list[Event]) -> dict:
        inst = self.instances.get((check_name(name), check_id(instance_id)))
        if inst is None:
            return error("not_found", f"no instance {name}/{instance_id}")
        if status is not None:
            inst.reported = check_reported_status(status)
        old_status = inst.status
        inst.status = inst.reported
        inst.down_since = None
        inst.last_heartbeat = now
        inst.expires_at = max(inst.expires_at, self.held + int(inst.ttl * 1000))
        # A revived instance's deadline can be earlier than the bound computed
        # while it was down (its removal time): keep the bound a lower bound,
        # or this node would expire it later than a node that restored a snapshot.
        self._next_deadline = min(self._next_deadline, inst.expires_at)
        self._touch(inst.name)
        changed = inst.status != old_status
        if changed:
            self._bump(inst)
        record = inst.to_record()
        if changed:
            events.append(Event(self.revision, STATUS, record))
        return {"ok": True, "record": record}

    def _deregister(self, name, instance_id, events: list[Event]) -> dict:
        inst = self._remove((check_name(name), check_id(instance_id)))
        if inst is None:
            return error("not_found", f"no instance {name}/{instance_id}")
        record = inst.to_record()
        events.append(Event(inst.revision, DEREGISTERED, record, "owner"))
        return {"ok": True, "record": record}

    def _remove(self, key) -> Instance | None:
        inst = self.instances.pop(key, None)
        if inst is not None:
            peers = self.services[key[0]]
            del peers[key[1]]
            if not peers:
                del self.services[key[0]]
            self._bump(inst)
        return inst

    def _tick(self, term: int, down_grace_ms, events: list[Event]) -> dict:
        grace = int(down_grace_ms)
        if term < self.epoch:
            # Proposed by a leader that has since been replaced: its view of
            # liveness no longer counts.
            return {"ok": True, "expired": 0, "removed": 0, "stale": True}
        now = self.held
        if grace != self._grace:
            self._grace, self._next_deadline = grace, 0
        if now < self._next_deadline:
            return {"ok": True, "expired": 0, "removed": 0}
        due, next_deadline = [], now + grace
        for inst in self.instances.values():
            deadline = inst.expires_at if inst.status != DOWN else inst.down_since + grace
            if (inst.status != DOWN and now > deadline) or (inst.status == DOWN and now >= deadline):
                due.append(inst)
            elif deadline < next_deadline:
                next_deadline = deadline
        # Sorted, because dict order differs between a node that restored a
        # snapshot and one that did not, and revisions must match everywhere.
        expired = removed = 0
        for inst in sorted(due, key=lambda i: i.key):
            if inst.status != DOWN:
                inst.status, inst.down_since = DOWN, now  # held ms, like expires_at
                self._bump(inst)
                events.append(Event(self.revision, EXPIRED, inst.to_record(), "ttl"))
                expired += 1
            else:
                self._remove(inst.key)
                events.append(Event(inst.revision, DEREGISTERED, inst.to_record(), "grace"))
                removed += 1
        self._next_deadline = next_deadline
        return {"ok": True, "expired": expired, "removed": removed}

    # ---- snapshot ----------------------------------------------------------
    def snapshot(self) -> bytes:
        """Versioned msgpack of the whole state (documented in docs/architecture.md)."""
        return pack_snapshot(self.capture())

    def capture(self) -> dict:
        """The state as plain values, cheaply: packing it can then happen elsewhere.

        Instances are copied field by field (heartbeats mutate them in place);
        their tag lists and metadata dicts are shared, since ``apply`` replaces
        those and never mutates them. ``pack_snapshot`` sorts them, which keeps
        snapshots byte-identical on every node."""
        return {
            "format": SNAPSHOT_FORMAT,
            "revision": self.revision,
            "clock": self.clock,
            "held": self.held,
            "epoch": self.epoch,
            "held_base": self._held_base,
            "service_rev": dict(self.service_rev),
            "members": self.members,  # copy-on-write already
            "instances": [i.to_wire() for i in self.instances.values()],
        }

    def restore(self, data: bytes) -> None:
        """Replace all state with a snapshot's."""
        raw = msgpack.unpackb(data, raw=False)
        if raw.get("format") not in (1, SNAPSHOT_FORMAT):
            raise ValueError(f"unsupported snapshot format {raw.get('format')!r}")
        fresh = RegistryState()
        fresh.revision, fresh.clock, fresh.epoch = raw["revision"], raw["clock"], raw["epoch"]
        # Format 1 kept deadlines in wall ms and had no held clock: held = clock
        # with base 0 is how its format-1 log entries keep applying.
        fresh.held, fresh._held_base = raw.get("held", raw["clock"]), raw.get("held_base", 0)
        fresh.service_rev = dict(raw["service_rev"])
        fresh.members = {k: dict(v) for k, v in raw["members"].items()}
        for wire in raw["instances"]:
            inst = Instance.from_wire(wire)
            fresh.instances[inst.key] = inst
            fresh.services.setdefault(inst.name, {})[inst.id] = inst
        seq = self.seq + 1
        self.__dict__.update(fresh.__dict__)
        self.seq = self._seq_base = seq  # every name looks changed to caches

    def digest_view(self) -> tuple:
        """Everything that defines the state, for equality checks in tests and chaos runs."""
        return (self.revision, self.clock, self.held, self.epoch, self._held_base,
                sorted(self.service_rev.items()),
                sorted((k, sorted(v.items())) for k, v in self.members.items()),
                [i.to_wire() for _, i in sorted(self.instances.items())])
