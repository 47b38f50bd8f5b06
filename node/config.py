"""Node configuration: one frozen dataclass, filled from flags, env and TOML.

Precedence: command-line flag > ``MANIFEST_<FLAG>`` env var > ``--config`` TOML
file > default. ``validate()`` names the offending field.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from dataclasses import dataclass, field


class ConfigError(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def split_hostport(value: str, field_name: str) -> tuple[str, int]:
    host, sep, port = str(value).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(field_name, f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class NodeConfig:
    id: str = "n1"
    api: str = "127.0.0.1:8500"
    raft: str = "127.0.0.1:8501"
    peer: tuple[str, ...] = ()
    data_dir: str = ".manifest/data"
    cluster_secret: str | None = field(default=None, repr=False)
    advertise_api: str | None = None  # URL other nodes and clients should use
    fsync: bool = False
    log_format: str = "text"
    log_level: str = "info"
    tick_interval: float = 1.0  # leader's expiry clock period, seconds
    down_grace: float = 60.0  # seconds a down instance is kept before removal
    max_body: int = 64 * 1024
    propose_timeout: float = 2.0  # a write that did not commit by then answers 503
    max_inflight: int = 2  # batches in flight to Raft; more queue up and coalesce
    batch_max: int = 1000  # commands per log entry
    compaction_entries: int = 5000
    compaction_interval: float = 300.0
    election_timeout_min: float = 0.3
    election_timeout_max: float = 0.6
    append_entries_period: float = 0.05
    leader_fallback: float = 2.0
    clock_offset: float = 0.0  # test-only: seconds added to this node's wall clock (chaos runs)
    watch_history: int = 10_000  # events each node keeps for watchers to resume from
    watch_keepalive: float = 15.0  # seconds between keep-alive comments on idle streams

    @property
    def api_url(self) -> str:
        if self.advertise_api:
            return self.advertise_api.rstrip("/")
        host, port = split_hostport(self.api, "api")
        if host in ("0.0.0.0", "::"):
            host = split_hostport(self.raft, "raft")[0]
        return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"

    def validate(self) -> "NodeConfig":
        if not self.id or len(self.id) > 64 or not all(c.isalnum() or c in "._-" for c in self.id):
            raise ConfigError("id", "1..64 characters of letters, digits, '.', '_', '-'")
        split_hostport(self.api, "api")
        raft_host, _ = split_hostport(self.raft, "raft")
        for p in self.peer:
            host, _ = split_hostport(p, "peer")
            if not is_loopback(host) and not self.cluster_secret:
                raise ConfigError("cluster_secret", "required when peers are not on loopback")
        if self.raft in self.peer:
            raise ConfigError("peer", "lists this node's own --raft address")
        if not is_loopback(raft_host) and not self.cluster_secret:
            # Without a secret pysyncobj unpickles whatever reaches the Raft port.
            raise ConfigError("cluster_secret", "required when --raft is not a loopback address "
                              "(set --cluster-secret or MANIFEST_CLUSTER_SECRET)")
        if self.log_format not in ("text", "json"):
            raise ConfigError("log_format", "text or json")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise ConfigError("log_level", "debug, info, warning or error")
        for name in ("tick_interval", "propose_timeout", "election_timeout_min",
                     "election_timeout_max", "append_entries_period", "leader_fallback",
                     "compaction_interval"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, "must be positive")
        if self.down_grace < 0:
            raise ConfigError("down_grace", "must not be negative")
        if self.election_timeout_min <= 3 * self.append_entries_period:
            raise ConfigError("election_timeout_min", "must exceed 3 x append_entries_period")
        if self.election_timeout_max < self.election_timeout_min:
            raise ConfigError("election_timeout_max", "must be >= election_timeout_min")
        if self.leader_fallback <= self.election_timeout_max:
            raise ConfigError("leader_fallback", "must exceed election_timeout_max")
        if not self.watch_keepalive > 0:
            raise ConfigError("watch_keepalive", "must be positive")
        for name in ("max_body", "max_inflight", "batch_max", "compaction_entries", "watch_history"):
            if not getattr(self, name) >= 1:
                raise ConfigError(name, "must be >= 1")
        return self


FIELDS = {f.name: f for f in dataclasses.fields(NodeConfig)}


def _coerce(name: str, value):
    kind = FIELDS[name].type
    try:
        if kind == "bool":
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind.startswith("tuple"):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(str(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(name, f"cannot parse {value!r}") from None
    return None if value is None else str(value)


def load(flags: dict, env: dict | None = None, config_file: str | None = None) -> NodeConfig:
    """Merge defaults < TOML file < env < flags (None/empty flags mean "not given")."""
    env = os.environ if env is None else env
    values: dict = {}
    if config_file:
        try:
            with open(config_file, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError("config", str(exc)) from None
        for key, value in data.items():
            name = key.replace("-", "_")
            if name not in FIELDS:
                raise ConfigError(key, "unknown key in config file")
            values[name] = _coerce(name, value)
    for name in FIELDS:
        raw = env.get("MANIFEST_" + name.upper())
        if raw not in (None, ""):
            values[name] = _coerce(name, raw)
    for name, value in flags.items():
        if name in FIELDS and value not in (None, (), ""):
            values[name] = _coerce(name, value)
    return NodeConfig(**values).validate()
