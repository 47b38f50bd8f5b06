"""Value types of the registry: the instance record, statuses and limits."""

from __future__ import annotations

import datetime as _dt
import functools
from dataclasses import dataclass, field

UP = "up"
UNHEALTHY = "unhealthy"
DOWN = "down"
STATUSES = (UP, UNHEALTHY, DOWN)
REPORTABLE = (UP, UNHEALTHY)  # what an instance may say about itself

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
    interfaces: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    ttl: float = DEFAULT_TTL
    reported: str = UP  # what the instance last said about itself
    status: str = UP  # reported, or DOWN once its ttl ran out
    registered_at: int = 0
    last_heartbeat: int = 0
    expires_at: int = 0  # held time after which it turns DOWN
    down_since: int | None = None
    revision: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.id)

    def spec(self) -> tuple:
        """The client-owned fields: two registrations with equal specs change nothing."""
        return (self.version, self.address, self.port, self.interfaces, self.tags,
                self.metadata, self.dependencies, self.ttl)

    def to_record(self) -> dict:
        """The contract's JSON shape."""
        return {
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
        }

    def to_wire(self) -> list:
        """Compact positional form used in snapshots (see docs/architecture.md)."""
        return [self.name, self.id, self.version, self.address, self.port, self.interfaces,
                self.tags, self.metadata, self.dependencies, self.ttl, self.reported,
                self.status, self.registered_at, self.last_heartbeat, self.expires_at,
                self.down_since, self.revision]

    @classmethod
    def from_wire(cls, w: list) -> "Instance":
        return cls(w[0], w[1], w[2], w[3], w[4], dict(w[5]), list(w[6]), dict(w[7]),
                   list(w[8]), float(w[9]), w[10], w[11], w[12], w[13], w[14], w[15], w[16])


@functools.lru_cache(maxsize=16384)  # a batch of heartbeats shares one stamp; registrations keep theirs
def iso_ms(ms: int) -> str:
    """Format leader milliseconds as RFC 3339 UTC with millisecond precision."""
    return _iso_second(ms // 1000) + f"{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    # Records are rendered far more often than the second changes.
    t = _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.")
