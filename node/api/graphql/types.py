"""The GraphQL schema's value types, each built from the dict the REST API answers with.

The records come from the same reads as the REST handlers (resolvers.py);
these classes only rename fields to GraphQL's camelCase and turn maps into
lists of pairs. Fields that lead to more reads (a service's instances, its
dependencies) are resolvers in services.py.
"""

import enum
from typing import NewType

import strawberry
from strawberry.scalars import JSON

from ...fsm import model


def _revision(value) -> int:
    # A registry revision outgrows GraphQL's 32-bit Int on a busy, long-lived registry.
    if type(value) is not int or not 0 <= value < 2**63:
        raise ValueError("a revision is a non-negative integer below 2^63")
    return value


Revision = NewType("Revision", int)
# The schema's config maps the type to its scalar (schema.py), as strawberry recommends.
REVISION = strawberry.scalar(name="Revision", serialize=int, parse_value=_revision,
                             description="A registry revision: a non-negative integer below 2^63 (GraphQL's "
                                         "Int is 32-bit).")


@strawberry.enum(description="An instance's status (CONTRACT.md, Instance record).")
class InstanceStatus(enum.Enum):
    UP = model.UP
    UNHEALTHY = model.UNHEALTHY
    DOWN = model.DOWN
    STARTING = model.STARTING
    DRAINING = model.DRAINING
    MAINTENANCE = model.MAINTENANCE


@strawberry.enum(description="How fresh a read must be (the REST `consistency` parameter).")
class Consistency(enum.Enum):
    LOCAL = "local"
    LINEARIZABLE = "linearizable"


@strawberry.enum(description="What a change event reports: the watch stream's event names.")
class ChangeKind(enum.Enum):
    REGISTERED = "registered"
    UPDATED = "updated"
    STATUS = "status"
    DEREGISTERED = "deregistered"
    EXPIRED = "expired"
    RESET = "reset"


@strawberry.input(description="Instances whose metadata holds this key with this value.")
class MetaFilter:
    key: str
    value: str


@strawberry.type(description="One entry of a string map (interfaces, metadata).")
class Entry:
    key: str
    value: str


def _entries(mapping: dict) -> list[Entry]:
    return [Entry(key=k, value=v) for k, v in sorted(mapping.items())]


@strawberry.type(description="One registered instance: the contract's record.")
class Instance:
    name: str
    id: str
    version: str | None
    address: str | None
    port: int | None
    interfaces: list[Entry] = strawberry.field(description="Interface name -> endpoint.")
    tags: list[str]
    metadata: list[Entry]
    dependencies: list[str] = strawberry.field(description="Services this one needs, as declared.")
    ttl: float | None
    status: InstanceStatus
    registered_at: str
    last_heartbeat: str
    revision: Revision
    generation: int
    weight: float
    load: float | None
    check: JSON | None
    drain: JSON | None = strawberry.field(description="Set while draining: {deadline, ...}.")
    maintenance: JSON | None = strawberry.field(description="Set while in maintenance: {reason, ...}.")
    removed: JSON | None = strawberry.field(description="Set on removed instances (includeRemoved): "
                                                        "{reason, at}.")
    record: JSON = strawberry.field(description="The whole record as GET /v1/services/{name}/{id} answers it.")

    @strawberry.field(description="One metadata value, or null.")
    def meta(self, key: str) -> str | None:
        return self.record["metadata"].get(key)

    @classmethod
    def of(cls, r: dict) -> "Instance":
        return cls(name=r["name"], id=r["id"], version=r["version"], address=r["address"], port=r["port"],
                   interfaces=_entries(r["interfaces"]), tags=r["tags"], metadata=_entries(r["metadata"]),
                   dependencies=r["dependencies"], ttl=r["ttl"], status=InstanceStatus(r["status"]),
                   registered_at=r["registered_at"], last_heartbeat=r["last_heartbeat"], revision=r["revision"],
                   generation=r["generation"], weight=r["weight"], load=r["load"], check=r["check"],
                   drain=r.get("drain"), maintenance=r.get("maintenance"), removed=r.get("removed"), record=r)


@strawberry.type(description="A page of instances, as GET /v1/services answers.")
class InstancePage:
    instances: list[Instance]
    revision: Revision
    next_cursor: str | None = strawberry.field(description="Pass as `cursor` for the next page; null on "
                                                            "the last.")


@strawberry.type
class StatusCount:
    status: InstanceStatus
    count: int


@strawberry.type
class VersionCount:
    version: str
    count: int


@strawberry.type(description="A service protected from mass expiry (docs/api.md).")
class Protection:
    service: str
    reason: str
    since: str


@strawberry.type(description="A member of the cluster as this node sees it.")
class Member:
    id: str | None
    api: str | None
    raft: str | None
    role: str
    is_self: bool = strawberry.field(name="self", description="Whether this is the node that answered.")
    diverged: bool

    @classmethod
    def of(cls, m: dict) -> "Member":
        return cls(id=m["id"], api=m["api"], raft=m["raft"], role=m["role"], is_self=m["self"],
                   diverged=m["diverged"])


@strawberry.type(description="The cluster as GET /v1/cluster answers.")
class Cluster:
    id: str
    leader: str | None
    term: int
    commit_index: int
    applied_index: int
    applied_hash: str | None
    revision: Revision
    members: list[Member]
    alarms: list[JSON]
    protected: list[Protection]
    region: str = strawberry.field(description="This cluster's region (docs/federation.md).")
    regions: JSON | None = strawberry.field(description="The other regions as this node sees them, as GET "
                                                        "/v1/cluster's `regions`; null without federation.")

    @classmethod
    def of(cls, c: dict) -> "Cluster":
        return cls(id=c["id"], leader=c["leader"], term=c["term"], commit_index=c["commit_index"],
                   applied_index=c["applied_index"], applied_hash=c["applied_hash"], revision=c["revision"],
                   members=[Member.of(m) for m in c["members"]], alarms=c["alarms"],
                   protected=[Protection(**p) for p in c["protected"]], region=c["region"],
                   regions=c.get("regions"))


@strawberry.type(description="One change, as GET /v1/watch sends it.")
class ChangeEvent:
    revision: Revision = strawberry.field(description="The watch stream's `id:`; resume with since = this.")
    kind: ChangeKind
    instance: Instance | None = strawberry.field(description="The record after the change (null on RESET).")
    reason: str | None = strawberry.field(description="Why an instance went (deregistered, expired).")
    instances: list[Instance] | None = strawberry.field(description="RESET only: every current instance "
                                                                    "(of `service` when given).")
    data: JSON = strawberry.field(description="The watch stream's `data:` object, unchanged.")
