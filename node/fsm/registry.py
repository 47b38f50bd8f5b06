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

from . import batch, commands, expiry, fields, lifecycle, restore as restoring
from . import model, shared
from . import tombstones as T
from .events import DEREGISTERED, EXPIRED, REGISTERED, STATUS, UPDATED, Event  # noqa: F401 (re-exported)
from .indexes import Indexes
from .results import DONE, Code, Failed, Result, Ticked, Written, failed
from .model import DOWN, MAINTENANCE, STARTING, Instance
from .unpacking import unpack_state
from .tokens import COMMANDS as TOKEN_COMMANDS, TokenState
from .tombstones import Tombstones
from .views import ChangeCounters
from .validation import ValidationError, check_reported_status, validate_registration

# 3 was used by two unreleased branches (tokens; issue 13's instance fields,
# generations, tombstones, protection); 4 holds both. Every older one restores:
# each part missing from it starts empty.
SNAPSHOT_FORMAT = 4
RESTORABLE = (1, 2, 3, SNAPSHOT_FORMAT)
DEFAULT_COALESCE = (100, 1000)  # load events: a change of 0.1, at most one a second per instance


@dataclass(slots=True)
class Outcome:
    """What applying one envelope produced: a result per command, and events."""

    results: list = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    ts_ms: int | None = None  # the envelope's stamp and term, when it decoded
    term: int | None = None
    restored: bool = False  # a RESTORE replaced the whole state: listeners must resync


def pack_snapshot(captured: dict) -> bytes:
    """msgpack of a capture, instances sorted, a thousand at a time.

    One ``packb`` of 100,000 instances would hold the GIL for a few hundred
    milliseconds, starving the node's Raft and HTTP threads; packing in
    chunks lets them run in between. The bytes are those of ``packb``."""
    return b"".join(state_chunks(captured))


def state_chunks(captured: dict, per_chunk: int = 1000):
    """``pack_snapshot``'s bytes in pieces: the other fields, then ``per_chunk`` instances at a time.

    The backup file (backup.py) streams these; a Raft snapshot joins them."""
    packer = msgpack.Packer(use_bin_type=True)
    head = bytearray(packer.pack_map_header(len(captured)))
    for key, value in captured.items():
        if key != "instances":
            head += packer.pack(key) + packer.pack(value)
    wires = sorted(captured["instances"], key=lambda w: (w[0], w[1]))
    yield bytes(head + packer.pack("instances") + packer.pack_array_header(len(wires)))
    for start in range(0, len(wires), per_chunk):
        yield b"".join([packer.pack(w) for w in wires[start:start + per_chunk]])


class RegistryState:
    """The whole replicated state. Not thread-safe: the caller serializes access."""

    def __init__(self, member_rafts: frozenset[str] | None = None) -> None:
        # The Raft addresses a MEMBER command may name: this node's and its
        # peers', from configuration, the same set on every node, so apply
        # stays deterministic. None (offline tools, tests) accepts any.
        self.member_rafts = member_rafts
        self.instances: dict[tuple[str, str], Instance] = {}
        self.services: dict[str, dict[str, Instance]] = {}
        self.service_rev: dict[str, int] = {}  # kept after the last instance leaves
        self.members: dict[str, dict] = {}
        self.tokens = TokenState()  # API tokens and instance owners (tokens.py)
        self.revision = 0
        self.clock = 0  # wall ms of the last envelope
        self.held = 0  # leader-held ms: the expiry clock
        self.epoch = 0  # newest term seen in an envelope
        self._held_base = 0  # held = _held_base + held_ms within ``epoch``
        self._next_deadline = 0  # lower bound (held ms) of the next expiry or removal
        self._grace = model.DEFAULT_DOWN_GRACE_MS
        self.generations = 0  # the last generation handed out (fencing tokens, never reused)
        self.tombstones = Tombstones()
        self.protection: dict[str, dict] = {}  # service -> {since, at, reason, exhausted} (expiry.py)
        self.idx = Indexes()  # derived, rebuilt on restore
        # Node-local, not replicated: bumped whenever anything a reader can see
        # changes, heartbeats included, so rendered lists can be cached exactly.
        self.changes = ChangeCounters()  # node-local, for read caches (views.py)

    # ---- apply -----------------------------------------------------------
    def apply(self, data: bytes) -> Outcome:
        """Apply one log entry. Never raises: bad commands get an error result."""
        out = Outcome()
        try:
            env = commands.decode(data)
        except commands.DecodeError as exc:
            out.results.append(failed(Code.BAD_COMMAND, str(exc)))
            return out
        out.ts_ms, out.term = env.ts_ms, env.term
        self._advance(env)
        for cmd in env.commands:
            if isinstance(cmd, list) and cmd and cmd[0] == commands.RESTORE:
                # Not in _apply_one: it replaces the state, and needs the envelope's held clock.
                result = restoring.apply(self, cmd, env.ts_ms, env.term, env.held_ms)
                out.restored = out.restored or result.ok
                out.results.append(result)
                continue
            try:
                out.results.append(self._apply_one(cmd, env.ts_ms, env.term, out.events))
            except ValidationError as exc:
                out.results.append(failed(exc.code, exc.message, exc.field))
            except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
                out.results.append(failed(Code.BAD_COMMAND, f"malformed command: {exc}"))
        self.tokens.forget(out.events)
        return out

    def _advance(self, env: commands.Envelope) -> None:
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
        opt = cmd[3] if len(cmd) > 3 else None
        if kind == commands.REGISTER:
            return self._register(cmd[1], now, events, cmd[2] if len(cmd) > 2 else None, opt)
        if kind == commands.HEARTBEAT:
            return self._heartbeat(cmd[1], cmd[2], cmd[3], now, events, cmd[4] if len(cmd) > 4 else None)
        if kind == commands.DEREGISTER:
            return self._deregister(cmd[1], cmd[2], events, opt)
        if kind == commands.TICK:
            return expiry.tick(self, term, cmd[1], cmd[2] if len(cmd) > 2 else None, events)
        if kind == commands.MEMBER:
            return self._member(*(str(x) for x in cmd[1:4]))
        if kind == commands.NOOP:
            return DONE
        if kind in TOKEN_COMMANDS:
            return self.tokens.apply(cmd, now, lambda inner: self._apply_one(inner, now, term, events))
        if kind == commands.BATCH:
            return batch.apply(self, cmd[1], cmd[2], cmd[3], now, events)
        if kind == commands.CHECK:
            return lifecycle.check_result(self, cmd[1], cmd[2], cmd[3], cmd[4], term, events)
        if kind == commands.DRAIN:
            return lifecycle.drain(self, cmd[1], cmd[2], cmd[3], now, events)
        if kind == commands.MAINTENANCE:
            return lifecycle.maintenance(self, cmd[1], cmd[2], cmd[3], now, events)
        raise ValueError(f"unknown command type {kind!r}")

    def _member(self, node_id: str, api: str, raft: str) -> Result:
        if self.member_rafts is not None and raft not in self.member_rafts:
            # Members map Raft addresses to the API URLs followers forward
            # writes to; an address outside the configured cluster could
            # only come from a forged command.
            return failed(Code.NOT_A_MEMBER, f"{raft} is not a configured Raft address", "raft")
        # The id is not checked: only a node's own id is configured, and on that
        # node alone, so a check would make apply differ between nodes.
        # Copy-on-write: readers may cache lookups keyed on the dict's identity.
        self.members = {**self.members, node_id: {"api": api, "raft": raft}}
        return DONE

    def change_voters(self, kind: str, raft: str) -> None:
        """A Raft membership change entry was applied (in log order, on every node).

        The voters are replicated state from then on: snapshots carry them, so a
        node that joined later checks MEMBER commands against the same set. A
        removed node's member record goes with it (it no longer leads or forwards)."""
        if self.member_rafts is None:
            return
        if kind == "add":
            self.member_rafts = self.member_rafts | {raft}
        elif kind == "rem":
            self.member_rafts = self.member_rafts - {raft}
            if any(m["raft"] == raft for m in self.members.values()):
                self.members = {k: v for k, v in self.members.items() if v["raft"] != raft}

    # ---- the few ways state changes: every path goes through these ------------
    def _bump(self, inst: Instance) -> None:
        self.revision += 1
        inst.revision = self.revision
        self.service_rev[inst.name] = self.revision
        self.changes.touch(inst.name)

    def bump_service(self, name: str) -> int:
        """A visible change of a service that is no instance's (protection): its revision."""
        self.revision += 1
        self.service_rev[name] = self.revision
        self.changes.touch(name)
        return self.revision

    def note_deadline(self, held_ms: int | None) -> None:
        """Keep the tick's cached bound a lower bound of every deadline."""
        if held_ms is not None and held_ms < self._next_deadline:
            self._next_deadline = held_ms

    def settle(self, inst: Instance, events: list, kind: str = STATUS, reason: str | None = None,
               force: bool = False) -> bool:
        """Derive the status again; on a change (or ``force``) bump, re-index and send an event."""
        old, new = inst.status, lifecycle.derive_status(inst)
        if new != old:
            inst.status = new
            self.idx.move_status(inst, old)
            if new == DOWN:
                inst.down_since = self.held  # held ms, like expires_at
                self.note_deadline(self.held + self._grace)
            elif old == DOWN:
                inst.down_since = None
        elif not force:
            return False
        self._bump(inst)
        events.append(Event(self.revision, kind, inst.to_record(), reason))
        return True

    def remove(self, key, events: list, why: str, reason: str) -> Instance | None:
        """Remove an instance, leaving a tombstone ``why`` and a ``deregistered`` event ``reason``."""
        inst = self.instances.pop(key, None)
        if inst is None:
            return None
        peers = self.services[key[0]]
        del peers[key[1]]
        if not peers:
            del self.services[key[0]]
        self.idx.remove(inst)
        self._bump(inst)
        record = inst.to_record()
        self.tombstones.add(record, why, self.clock, self.held)
        events.append(Event(inst.revision, DEREGISTERED, record, reason))
        return inst

    # ---- commands --------------------------------------------------------------
    def _register(self, raw, now: int, events: list[Event], limits=None, opts=None) -> Result:
        fields_ = validate_registration(raw)
        if "id" not in fields_:
            raise ValidationError("id", "id must be stamped by the proposer", "required")
        key = (fields_["name"], fields_["id"])
        inst = self.instances.get(key)
        if inst is None and limits is not None:
            refused = self._over_limit(key[0], limits)
            if refused is not None:
                return refused
        gen = fields_.get("generation")
        if inst is not None and gen is not None and gen != inst.generation:
            return lifecycle.stale(inst, gen)
        unmet = self.idx.unmet(fields_["dependencies"])
        if unmet and isinstance(opts, dict) and opts.get("strict"):
            return failed(Code.UNMET_DEPENDENCY, "unmet dependencies: " + ", ".join(unmet)
                          + " (no up instance in range)", "dependencies")
        return self.write_registration(fields_, now, events, unmet)

    def write_registration(self, fields_: dict, now: int, events: list, unmet: list) -> Written:
        """Store validated fields (fsm/batch.py uses it too).

        Without ``generation`` (or for a new instance) this is a new
        registrant: a new generation fences the previous one. With the
        current generation it is the same registrant refreshing its record:
        with identical fields nothing a watcher could see changes."""
        key = (fields_["name"], fields_["id"])
        inst = self.instances.get(key)
        created = inst is None
        # Each decoded command brings its own copies of strings a fleet repeats
        # (versions, tags, metadata, interface names, dependencies, often
        # addresses): sys.intern keeps one of each, ~0.5 KB less per instance of
        # the benchmark's record (1,590 -> 1,048 bytes; ~54 MB at 100,000), and
        # shared.py one of each list and map of them.
        if created:
            inst = Instance(name=sys.intern(key[0]), id=key[1], registered_at=now)
            self.instances[key] = inst
            self.services.setdefault(key[0], {})[key[1]] = inst
        else:
            self.idx.remove(inst)
        same_owner = not created and fields_.get("generation") == inst.generation
        if not created and not same_owner:
            self.tombstones.add(inst.to_record(), T.FENCED, self.clock, self.held)
        old_spec, old_status = (None if created else inst.spec()), inst.status
        version, address = fields_["version"], fields_["address"]
        inst.version = None if version is None else sys.intern(version)
        inst.address = None if address is None else sys.intern(address)
        inst.port, inst.ttl, inst.weight = fields_["port"], fields_["ttl"], fields_["weight"]
        inst.interfaces = shared.mapping(fields_["interfaces"])
        inst.metadata = shared.mapping(fields_["metadata"])
        inst.tags = shared.strings(fields_["tags"])
        inst.dependencies = shared.strings(fields_["dependencies"])
        check_changed = created or inst.check != fields_["check"]
        inst.check = fields_["check"]
        # Registering again means the instance restarted (fresh health, a new
        # generation; an operator's maintenance stays, a drain does not),
        # unless it is the same registrant refreshing its record.
        inst.reported = model.UP
        if check_changed or not same_owner:
            inst.check_state = STARTING if inst.check is not None else None
        inst.expired = False
        if not same_owner:
            if inst.mode != MAINTENANCE:
                inst.mode = inst.mode_info = inst.drain_deadline = None
            self.generations += 1
            inst.generation = self.generations
            inst.load = inst.load_pub = None
        inst.status = lifecycle.derive_status(inst)
        inst.down_since = None
        inst.last_heartbeat = now
        inst.expires_at = None if inst.ttl is None else self.held + int(inst.ttl * 1000)
        self.note_deadline(inst.expires_at)
        self.idx.add(inst)
        self.changes.touch(inst.name)
        kind = None
        if created or not same_owner or inst.spec() != old_spec:
            kind = REGISTERED if created else UPDATED
        elif old_status != inst.status:
            kind = STATUS
        if kind is not None:
            self._bump(inst)
        record = inst.to_record()
        if kind is not None:
            events.append(Event(self.revision, kind, record))
        return Written(record, created, tuple(f"unmet dependency {d}: no up instance in range" for d in unmet))

    def _over_limit(self, name: str, limits, adding: int = 1, adding_here: int = 1) -> Failed | None:
        """The error result when ``adding`` more instances (``adding_here`` of ``name``) would pass a cap."""
        if (type(limits) is not list or len(limits) != 2
                or any(type(n) is not int or n < 0 for n in limits)):
            raise ValueError(f"malformed instance caps {limits!r}")
        total, per_service = limits
        if len(self.services.get(name, ())) + adding_here > per_service:
            setting, cap, what = "max_instances_per_service", per_service, f"instances of service {name!r}"
        elif len(self.instances) + adding > total:
            setting, cap, what = "max_instances", total, "instances"
        else:
            return None
        return failed(Code.TOO_MANY_INSTANCES, f"the registry holds its maximum of {cap} {what} "
                        f"({setting}); updates of registered instances are still accepted",
                        limit=setting, max=cap)

    def _heartbeat(self, name, instance_id, status, now: int, events: list[Event], extras=None) -> Result:
        extra = fields.heartbeat_extras(extras)
        inst, refused = lifecycle.find(self, name, instance_id, extra.get("generation"))
        if refused is not None:
            return refused
        if status is not None:
            inst.reported = check_reported_status(status)
        inst.expired = False
        inst.last_heartbeat = now
        if inst.ttl is not None:
            inst.expires_at = max(inst.expires_at or 0, self.held + int(inst.ttl * 1000))
            # A revived instance's deadline can be earlier than the bound computed
            # while it was down (its removal time): keep the bound a lower bound,
            # or this node would expire it later than a node that restored a snapshot.
            self.note_deadline(inst.expires_at)
        self.changes.touch(inst.name)
        changed = self._patch(inst, extra)
        if not self.settle(inst, events, STATUS, force=False) and changed:
            self._bump(inst)
            events.append(Event(self.revision, UPDATED, inst.to_record(), changed))
        return Written(inst.to_record())

    def _patch(self, inst: Instance, extra: dict) -> str | None:
        """Apply a heartbeat's load and metadata; what a watcher must hear of, if anything."""
        why = None
        patch = extra.get("metadata")
        if patch:
            merged = {**inst.metadata, **{k: v for k, v in patch.items() if v is not None}}
            for k, v in patch.items():
                if v is None:
                    merged.pop(k, None)
            if len(merged) > model.MAX_META:
                raise ValidationError("metadata", f"metadata would hold more than {model.MAX_META} entries")
            if merged != inst.metadata:
                inst.metadata = shared.mapping(merged)
                why = "metadata"
        load = extra.get("load")
        if load is not None:
            inst.load = load
            step, interval = extra.get("coalesce") or DEFAULT_COALESCE
            # Coalesced: an event only for a change of at least ``step`` since
            # the last one sent, and at most one per ``interval`` of held time.
            if inst.load_pub is None or (abs(load - inst.load_pub) * 1000 >= step - 1e-6
                                         and self.held - inst.load_pub_at >= interval):
                inst.load_pub, inst.load_pub_at = load, self.held
                why = why or "load"
        return why

    def _deregister(self, name, instance_id, events: list[Event], extras=None) -> Result:
        extras = extras if isinstance(extras, dict) else {}
        gen = extras.get("generation")
        inst, refused = lifecycle.find(self, name, instance_id, None if gen is None else fields.generation(gen))
        if refused is not None:
            return refused
        # The watch event keeps the reason it always had; the tombstone tells
        # the registrant (it knows its generation) from anyone else.
        by_owner = gen is not None and extras.get("by") != "operator"
        self.remove(inst.key, events, T.OWNER if by_owner else T.OPERATOR, "owner")
        return Written(inst.to_record())

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
            "voters": None if self.member_rafts is None else sorted(self.member_rafts),
            "tokens": self.tokens.capture(),
            "generations": self.generations,
            "tombstones": self.tombstones.to_wire(),
            "protection": {k: dict(v) for k, v in self.protection.items()},
            "instances": [i.to_wire() for i in self.instances.values()],
        }

    def restore(self, data: bytes) -> None:
        """Replace all state with a snapshot's."""
        raw, built = unpack_state(data)
        if raw.get("format") not in RESTORABLE:
            raise ValueError(f"unsupported snapshot format {raw.get('format')!r}")
        # Voters: the snapshot's when it has them (written since membership changes
        # exist); an older snapshot keeps this node's configured set.
        voters = raw.get("voters")
        fresh = RegistryState(self.member_rafts if voters is None or self.member_rafts is None
                              else frozenset(voters))
        fresh.revision, fresh.clock, fresh.epoch = raw["revision"], raw["clock"], raw["epoch"]
        # Format 1 kept deadlines in wall ms and had no held clock: held = clock
        # with base 0 is how its format-1 log entries keep applying.
        fresh.held, fresh._held_base = raw.get("held", raw["clock"]), raw.get("held_base", 0)
        fresh.service_rev = dict(raw["service_rev"])
        fresh.members = {k: dict(v) for k, v in raw["members"].items()}
        fresh.tokens.restore(raw.get("tokens"))
        fresh.generations = raw.get("generations", 0)
        fresh.tombstones = Tombstones.from_wire(raw.get("tombstones"))
        fresh.protection = {k: dict(v) for k, v in (raw.get("protection") or {}).items()}
        for inst in built:
            fresh.instances[inst.key] = inst
            fresh.services.setdefault(inst.name, {})[inst.id] = inst
        fresh.idx.add_all(fresh.instances)
        changes = self.changes.after_restore()
        self.__dict__.update(fresh.__dict__)
        self.changes = changes

    def digest_view(self) -> tuple:
        """Everything that defines the state, for equality checks in tests and chaos runs."""
        return (self.revision, self.clock, self.held, self.epoch, self._held_base,
                sorted(self.service_rev.items()),
                sorted((k, sorted(v.items())) for k, v in self.members.items()),
                [i.to_wire() for _, i in sorted(self.instances.items())], self.tokens.digest_view(),
                self.generations, self.tombstones.to_wire(), sorted(self.protection.items()))

