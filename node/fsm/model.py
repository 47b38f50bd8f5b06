"""Value types of the registry: the instance record, statuses and limits."""

from __future__ import annotations

import datetime as _dt
import functools
import sys
from dataclasses import dataclass, field

from . import shared

_intern = sys.intern

UP = "up"
UNHEALTHY = "unhealthy"
DOWN = "down"
STARTING = "starting"  # registered with a check that has not passed yet
DRAINING = "draining"
MAINTENANCE = "maintenance"
STATUSES = (UP, UNHEALTHY, DOWN, STARTING, DRAINING, MAINTENANCE)
REPORTABLE = (UP, UNHEALTHY)  # what an instance may say about itself
CHECK_STATES = (STARTING, UP, UNHEALTHY, DOWN)  # what a leader's probe may conclude

# Limits keep one record small enough that a batch of them fits comfortably
# in one Raft entry and a hostile client cannot bloat every node's memory.
MAX_TAGS = 64
MAX_TAG_LEN = 128
MAX_META = 64
MAX_META_KEY = 128
MAX_META_VALUE = 1024
MAX_INTERFACES = 32
MAX_INTERFACE_LEN = 512
MAX_DEPENDENCIES = 64
MAX_ADDRESS_LEN = 255
MIN_TTL = 1.0
MAX_TTL = 86_400.0
DEFAULT_TTL = 30.0
DEFAULT_DOWN_GRACE_MS = 60_000
MAX_WEIGHT = 1000.0
DEFAULT_WEIGHT = 1.0


@dataclass(slots=True)
class Instance:
    """One registered instance. Times are integer milliseconds: ``registered_at`` and
    ``last_heartbeat`` of registry wall time, ``expires_at`` and ``down_since`` of
    leader-held time (the expiry clock, see registry.py)."""

    name: str
    id: str
    version: str | None = None
    address: str | None = None
    port: int | None = None
    # Shared between instances (shared.py): replaced whole, never changed in place.
    interfaces: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    dependencies: tuple[str, ...] = ()
    ttl: float | None = DEFAULT_TTL  # None: kept alive by its check alone
    reported: str = UP  # what the instance last said about itself
    status: str = UP  # derived by lifecycle.derive_status from the fields below
    registered_at: int = 0
    last_heartbeat: int = 0
    expires_at: int | None = 0  # held time after which it turns DOWN; None without a ttl
    down_since: int | None = None
    revision: int = 0
    # Added with snapshot format 3 (issue 13); older records restore with these defaults.
    generation: int = 0  # fencing token: a new one per registration of the key
    weight: float = DEFAULT_WEIGHT
    load: float | None = None  # the latest reported; ``load_pub`` is the one last sent to watchers
    load_pub: float | None = None
    load_pub_at: int = 0  # held ms of that event
    check: dict | None = None  # normalized spec (validation.check_spec)
    check_state: str | None = None  # CHECK_STATES, as the leader's probes last concluded
    expired: bool = False  # its ttl ran out (DOWN until a heartbeat or registration)
    mode: str | None = None  # DRAINING | MAINTENANCE | None
    mode_info: dict | None = None  # shown as "drain"/"maintenance" in the record
    drain_deadline: int | None = None  # held ms at which a draining instance is removed

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.id)

    def spec(self) -> tuple:
        """The client-owned fields: two registrations with equal specs change nothing."""
        return (self.version, self.address, self.port, self.interfaces, self.tags,
                self.metadata, self.dependencies, self.ttl, self.weight, self.check)

    def to_record(self) -> dict:
        """The contract's JSON shape."""
        out = {
            "name": self.name,
            "id": self.id,
            "version": self.version,
            "address": self.address,
            "port": self.port,
            "interfaces": dict(self.interfaces),
            "tags": list(self.tags),
            "metadata": dict(self.metadata),
            "dependencies": list(self.dependencies),
            "ttl": self.ttl,
            "status": self.status,
            "registered_at": iso_ms(self.registered_at),
            "last_heartbeat": iso_ms(self.last_heartbeat),
            "revision": self.revision,
            "generation": self.generation,
            "weight": self.weight,
            "load": self.load,
            "check": None if self.check is None else dict(self.check),
        }
        if self.mode is not None:
            out["drain" if self.mode == DRAINING else "maintenance"] = dict(self.mode_info or {})
        return out

    def to_wire(self) -> list:
        """Compact positional form used in snapshots (see docs/architecture.md)."""
        return [self.name, self.id, self.version, self.address, self.port, self.interfaces,
                self.tags, self.metadata, self.dependencies, self.ttl, self.reported,
                self.status, self.registered_at, self.last_heartbeat, self.expires_at,
                self.down_since, self.revision,
                self.generation, self.weight, self.load, self.load_pub, self.load_pub_at, self.check,
                self.check_state, self.expired, self.mode, self.mode_info, self.drain_deadline]

    @classmethod
    def from_wire(cls, w: list) -> "Instance":
        # Interned as a registration interns them (registry.py): msgpack gives every record its
        # own copy of the strings a fleet repeats, statuses included.
        inst = cls(_intern(w[0]), w[1], _opt(w[2]), _opt(w[3]), w[4], shared.mapping(w[5]), shared.strings(w[6]),
                   shared.mapping(w[7]), shared.strings(w[8]), None if w[9] is None else float(w[9]),
                   _intern(w[10]), _intern(w[11]), w[12], w[13], w[14], w[15], w[16])
        if len(w) > 17:
            (inst.generation, inst.weight, inst.load, inst.load_pub, inst.load_pub_at, inst.check,
             inst.check_state, inst.expired, inst.mode, inst.mode_info, inst.drain_deadline) = w[17:28]
            inst.weight = float(inst.weight)
            inst.check_state, inst.mode = _opt(inst.check_state), _opt(inst.mode)
        else:  # format 1/2: only the ttl could have turned it down
            inst.expired = inst.status == DOWN
        return inst


def _opt(value: str | None) -> str | None:
    return None if value is None else _intern(value)


@functools.lru_cache(maxsize=16384)  # a batch of heartbeats shares one stamp; registrations keep theirs
def iso_ms(ms: int) -> str:
    """Format leader milliseconds as RFC 3339 UTC with millisecond precision."""
    return _iso_second(ms // 1000) + f"{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    # Records are rendered far more often than the second changes.
    t = _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.")
