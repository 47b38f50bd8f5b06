"""Typed records for what the registry returns: instances, cluster members, health.

Records are plain dataclasses built with ``from_dict`` from the contract's JSON
and turned back with ``to_dict``.  Fields the client does not know yet are kept
in ``extra`` so that a newer server never loses data through an older client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Instance", "Instances", "Member", "ClusterInfo", "Health", "STATUSES", "Check", "Removed",
           "Graph", "GraphNode", "GraphEdge", "Impact", "Impacted"]

#: The statuses an instance can have; the server owns the field.
STATUSES = ("up", "unhealthy", "down", "starting", "draining", "maintenance")

# Fields a client may set when registering; the rest belong to the server.
_CLIENT_FIELDS = (
    "name", "id", "version", "address", "port", "interfaces",
    "tags", "metadata", "dependencies", "ttl", "weight", "check",
)


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass
class Check:
    """An active health check the leader runs: exactly one of ``http``, ``tcp``, ``grpc``.

    ``http``: a URL (2xx passes); ``tcp``: ``HOST:PORT`` (a connect passes);
    ``grpc``: ``HOST:PORT[/service]`` (the standard gRPC health protocol).
    Unset numbers take the server's defaults.
    """

    http: str | None = None
    tcp: str | None = None
    grpc: str | None = None
    interval: float | None = None
    timeout: float | None = None
    success_before_up: int | None = None
    failures_before_unhealthy: int | None = None
    failures_before_down: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if getattr(self, k) is not None}


@dataclass
class Removed:
    """Why and when a removed instance (a tombstone, ``include_removed=True``) went away."""

    reason: str
    at: datetime | None = None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _format_time(value: datetime) -> str:
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():  # not inf or nan: int() would raise
        return int(value)
    return None


@dataclass
class Instance:
    """One registered instance of a service, as in the contract's instance record.

    ``name`` and ``id`` identify it.  ``status``, ``registered_at``,
    ``last_heartbeat`` and ``revision`` are set by the server and ignored when
    registering.  Unknown fields from a newer server are kept in ``extra``.
    """

    name: str
    id: str | None = None
    version: str | None = None
    address: str | None = None
    port: int | None = None
    interfaces: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    ttl: float | None = None
    status: str | None = None
    registered_at: datetime | None = None
    last_heartbeat: datetime | None = None
    revision: int | None = None
    #: Fencing token of this registration; the handle sends it with every heartbeat.
    generation: int | None = None
    weight: float | None = None
    load: float | None = None
    check: Check | None = None
    #: ``{"since", "by", "deadline"}`` while draining; ``{"reason", "since"}`` in maintenance.
    drain: dict[str, Any] | None = None
    maintenance: dict[str, Any] | None = None
    #: Set on tombstones only (``include_removed=True``).
    removed: Removed | None = None
    #: Unmet dependencies the registration answer warned about.
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Instance:
        """Build an instance from a record as the server sends it."""
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        ttl = data.get("ttl")
        check, removed = data.get("check"), data.get("removed")
        return cls(
            name=str(data.get("name", "")),
            id=data.get("id"),
            version=data.get("version"),
            address=data.get("address"),
            port=_int_or_none(data.get("port")),
            interfaces=dict(data.get("interfaces") or {}),
            tags=list(data.get("tags") or []),
            metadata=dict(data.get("metadata") or {}),
            dependencies=list(data.get("dependencies") or []),
            ttl=ttl if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) else None,
            status=data.get("status"),
            registered_at=_parse_time(data.get("registered_at")),
            last_heartbeat=_parse_time(data.get("last_heartbeat")),
            revision=_int_or_none(data.get("revision")),
            generation=_int_or_none(data.get("generation")),
            weight=_float_or_none(data.get("weight")),
            load=_float_or_none(data.get("load")),
            check=Check.from_dict(check) if isinstance(check, Mapping) else None,
            drain=dict(data["drain"]) if isinstance(data.get("drain"), Mapping) else None,
            maintenance=dict(data["maintenance"]) if isinstance(data.get("maintenance"), Mapping) else None,
            removed=Removed(str(removed.get("reason", "")), _parse_time(removed.get("at")))
            if isinstance(removed, Mapping) else None,
            warnings=[str(w) for w in data.get("warnings") or [] if isinstance(w, str)],
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data, leaving out unset fields."""
        out: dict[str, Any] = dict(self.extra)
        for name in self.__dataclass_fields__:
            if name == "extra":
                continue
            value = getattr(self, name)
            if value is None or (name == "warnings" and not value):
                continue
            if isinstance(value, Check):
                value = value.to_dict()
            elif isinstance(value, Removed):
                value = {"reason": value.reason, "at": _format_time(value.at) if value.at else None}
            out[name] = _format_time(value) if isinstance(value, datetime) else value
        return out

    def registration_body(self) -> dict[str, Any]:
        """Return only the fields a client may send to ``POST /v1/services``."""
        body: dict[str, Any] = {}
        for name in _CLIENT_FIELDS:
            value = getattr(self, name)
            if value is None or value == [] or value == {}:
                continue
            if name == "ttl" and float(value).is_integer():
                value = int(value)  # the contract's TTL is whole seconds when it can be
            if isinstance(value, Check):
                value = value.to_dict()
            body[name] = value
        return body

    @property
    def endpoint(self) -> str | None:
        """A best-effort address: the ``http`` interface, else ``address:port``."""
        if "http" in self.interfaces:
            return self.interfaces["http"]
        if self.address and self.port is not None:
            return f"{self.address}:{self.port}"
        return self.address


class Instances(list[Instance]):
    """A list of :class:`Instance` plus where it came from.

    Attributes:
        revision: the registry revision the list reflects (0 when unknown).
        stale: ``True`` when the list came from the local cache because no
            endpoint could answer, or because the answering node knew no leader.
    """

    def __init__(self, items: Iterable[Instance] = (), *, revision: int = 0, stale: bool = False):
        super().__init__(items)
        self.revision = revision
        self.stale = stale

    def copy(self, *, stale: bool | None = None) -> Instances:
        """Return a shallow copy, optionally with a different ``stale`` flag."""
        return Instances(self, revision=self.revision, stale=self.stale if stale is None else stale)

    def __repr__(self) -> str:
        return f"Instances({list.__repr__(self)}, revision={self.revision}, stale={self.stale})"


@dataclass
class Member:
    """One node of the registry cluster as ``GET /v1/cluster`` describes it."""

    id: str
    api: str | None = None
    raft: str | None = None
    role: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Member:
        """Build a member from the server's JSON."""
        return cls(
            id=str(data.get("id", "")),
            api=data.get("api"),
            raft=data.get("raft"),
            role=data.get("role"),
            extra={k: v for k, v in data.items() if k not in ("id", "api", "raft", "role")},
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the member as JSON-ready data."""
        return {"id": self.id, "api": self.api, "raft": self.raft, "role": self.role, **self.extra}


@dataclass
class ClusterInfo:
    """The cluster as one node sees it: members, leader, term and log indexes."""

    members: list[Member] = field(default_factory=list)
    leader: str | None = None
    term: int | None = None
    commit_index: int | None = None
    applied_index: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterInfo:
        """Build cluster information from ``GET /v1/cluster``'s JSON."""
        known = ("members", "leader", "term", "commit_index", "applied_index")
        members = data.get("members") or []
        return cls(
            members=[Member.from_dict(m) for m in members if isinstance(m, Mapping)],
            leader=data.get("leader") or None,
            term=_int_or_none(data.get("term")),
            commit_index=_int_or_none(data.get("commit_index")),
            applied_index=_int_or_none(data.get("applied_index")),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the cluster information as JSON-ready data."""
        return {
            **self.extra,
            "members": [m.to_dict() for m in self.members],
            "leader": self.leader,
            "term": self.term,
            "commit_index": self.commit_index,
            "applied_index": self.applied_index,
        }


@dataclass
class Health:
    """One node's readiness from ``GET /v1/health``.

    ``ready`` is ``True`` when the node answered 200; a 503 carries the same
    body with ``ready`` ``False``.
    """

    endpoint: str
    ready: bool
    status: str | None = None
    role: str | None = None
    leader: str | None = None
    revision: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, endpoint: str, ready: bool) -> Health:
        """Build a health record from the body one endpoint returned."""
        known = ("status", "role", "leader", "revision")
        return cls(
            endpoint=endpoint,
            ready=ready,
            status=data.get("status"),
            role=data.get("role"),
            leader=data.get("leader") or None,
            revision=_int_or_none(data.get("revision")),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the health record as JSON-ready data."""
        return {
            **self.extra,
            "endpoint": self.endpoint,
            "ready": self.ready,
            "status": self.status,
            "role": self.role,
            "leader": self.leader,
            "revision": self.revision,
        }


@dataclass
class GraphNode:
    """A service in the dependency graph (or one only named by a dependency: ``registered`` False)."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    registered: bool = True
    unmet: int = 0
    protected: bool = False


@dataclass
class GraphEdge:
    """A declared dependency ``source -> target`` (``declared`` as written, e.g. ``db>=2``)."""

    source: str
    target: str
    declared: str
    range: str | None = None
    instances: int = 0
    satisfied: bool = False


@dataclass
class Graph:
    """``GET /v1/graph``: services, declared dependencies, and every cycle."""

    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)
    cycles: list[list[str]] = field(default_factory=list)
    revision: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Graph:
        nodes = [GraphNode(str(n.get("name", "")), dict(n.get("counts") or {}), dict(n.get("versions") or {}),
                           bool(n.get("registered", True)), int(n.get("unmet") or 0), bool(n.get("protected")))
                 for n in data.get("nodes") or [] if isinstance(n, Mapping)]
        edges = [GraphEdge(str(e.get("from", "")), str(e.get("to", "")), str(e.get("declared", "")),
                           e.get("range"), int(e.get("instances") or 0), bool(e.get("satisfied")))
                 for e in data.get("edges") or [] if isinstance(e, Mapping)]
        return cls(nodes, edges, [list(c) for c in data.get("cycles") or []],
                   _int_or_none(data.get("revision")) or 0)


@dataclass
class Impacted:
    name: str
    depth: int
    via: list[str] = field(default_factory=list)
    has_other_provider: bool = False


@dataclass
class Impact:
    """``GET /v1/graph/impact/{name}``: who breaks if ``service`` (or its instance ``id``) goes."""

    service: str
    id: str | None = None
    impacted: list[Impacted] = field(default_factory=list)
    cycles: list[list[str]] = field(default_factory=list)
    revision: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Impact:
        items = [Impacted(str(i.get("name", "")), int(i.get("depth") or 0), list(i.get("via") or []),
                          bool(i.get("has_other_provider"))) for i in data.get("impacted") or []
                 if isinstance(i, Mapping)]
        return cls(str(data.get("service", "")), data.get("id"), items,
                   [list(c) for c in data.get("cycles") or []], _int_or_none(data.get("revision")) or 0)
