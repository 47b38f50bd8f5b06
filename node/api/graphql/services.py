"""Services and the dependency graph as GraphQL types: fields that lead on to more reads.

A ``Service`` is a node of ``GET /v1/graph`` (fsm/graph.py): its counts, and
from it its instances (with the same filters as ``GET /v1/services``), the
services it depends on, those that depend on it, and the impact of losing
it. These links make the schema a graph a query can walk; the depth and
cost limits (limits.py) bound how far one query may walk it.
"""

from typing import Annotated

import strawberry
from strawberry.types import Info

from . import resolvers
from .context import mapped
from .types import Consistency, InstancePage, InstanceStatus, MetaFilter, Revision, StatusCount, VersionCount

ListLimit = Annotated[int | None, strawberry.argument(description="At most this many (1..10000); the next "
                                                                  "page with `cursor`.")]
Status = Annotated[list[InstanceStatus] | None, strawberry.argument(description="Any of these (REST `status`).")]
Tags = Annotated[list[str] | None, strawberry.argument(description="All of these (REST `tag`).")]
Version = Annotated[str | None, strawberry.argument(description="A range like `>=1.2,<2` (REST `version`).")]
Meta = Annotated[list[MetaFilter] | None, strawberry.argument(description="All of these (REST `meta.KEY`).")]
DependsOn = Annotated[str | None, strawberry.argument(description="Declares a dependency on this service.")]
Read = Annotated[Consistency | None, strawberry.argument(description="LOCAL (default) or LINEARIZABLE.")]


@strawberry.type(description="A service: every instance registered under one name, and its place in the "
                             "dependency graph.")
class Service:
    name: str
    registered: bool = strawberry.field(description="False for a dependency nobody registered.")
    unmet: int = strawberry.field(description="Its declared dependencies no up instance satisfies.")
    protected: bool = strawberry.field(description="Protected from mass expiry right now.")
    counts: list[StatusCount]
    versions: list[VersionCount]

    @classmethod
    def of(cls, node: dict) -> "Service":
        return cls(name=node["name"], registered=node["registered"], unmet=node["unmet"],
                   protected=node["protected"],
                   counts=[StatusCount(status=InstanceStatus(s), count=n) for s, n in node["counts"].items()],
                   versions=[VersionCount(version=v, count=n) for v, n in node["versions"].items()])

    @strawberry.field(description="Its instances, filtered as GET /v1/services/{name} filters them.")
    async def instances(self, info: Info, status: Status = None, tag: Tags = None, version: Version = None,
                        meta: Meta = None, depends_on: DependsOn = None, limit: ListLimit = None,
                        cursor: str | None = None, include_removed: bool = False,
                        consistency: Read = None) -> InstancePage:
        with mapped():
            query = resolvers.list_query(self.name, status, tag, version, meta, depends_on, limit, cursor,
                                         include_removed)
            return await resolvers.instances(info.context, query, consistency)

    @strawberry.field(description="What it declares it depends on: one edge per declaration.")
    def dependencies(self, info: Info) -> list["DependencyEdge"]:
        return [DependencyEdge.of(e) for e in info.context.graph()["edges"] if e["from"] == self.name]

    @strawberry.field(description="The services with a declared dependency on it.")
    def dependents(self, info: Info) -> list["Service"]:
        ctx = info.context
        names = sorted({e["from"] for e in ctx.graph()["edges"] if e["to"] == self.name})
        return [Service.of(ctx.node(n)) for n in names if ctx.node(n) is not None]

    @strawberry.field(description="Every service that would lose this one (or its instance `id`), "
                                  "as GET /v1/graph/impact/{name} answers.")
    async def impact(self, info: Info, id: str | None = None) -> "Impact":
        with mapped():
            return Impact.of(await resolvers.impact(info.context, self.name, id, None))


@strawberry.type(description="One declared dependency: `from` needs `to` (in `range`).")
class DependencyEdge:
    from_: str = strawberry.field(name="from")
    to: str
    declared: str = strawberry.field(description="As the instances declared it, e.g. `db>=2`.")
    range: str | None
    instances: int = strawberry.field(description="Instances of `from` declaring it.")
    satisfied: bool = strawberry.field(description="Some up instance of `to` is in `range`.")

    @classmethod
    def of(cls, e: dict) -> "DependencyEdge":
        return cls(from_=e["from"], to=e["to"], declared=e["declared"], range=e["range"],
                   instances=e["instances"], satisfied=e["satisfied"])

    @strawberry.field(description="The service that declares it.")
    def source(self, info: Info) -> Service | None:
        node = info.context.node(self.from_)
        return None if node is None else Service.of(node)

    @strawberry.field(description="The service it names (registered or not).")
    def target(self, info: Info) -> Service | None:
        node = info.context.node(self.to)
        return None if node is None else Service.of(node)


@strawberry.type(description="The dependency graph, as GET /v1/graph answers.")
class Graph:
    nodes: list[Service]
    edges: list[DependencyEdge]
    cycles: list[list[str]]
    revision: Revision

    @classmethod
    def of(cls, g: dict) -> "Graph":
        return cls(nodes=[Service.of(n) for n in g["nodes"]], edges=[DependencyEdge.of(e) for e in g["edges"]],
                   cycles=g["cycles"], revision=g["revision"])


@strawberry.type(description="A service that depends, directly or not, on the one asked about.")
class ImpactedService:
    name: str
    depth: int = strawberry.field(description="1: depends on it directly.")
    via: list[str] = strawberry.field(description="The impacted services it depends on.")
    has_other_provider: bool

    @strawberry.field
    def service(self, info: Info) -> Service | None:
        node = info.context.node(self.name)
        return None if node is None else Service.of(node)


@strawberry.type(description="What losing a service or one instance would impact.")
class Impact:
    service: str
    id: str | None
    impacted: list[ImpactedService]
    cycles: list[list[str]]
    revision: Revision

    @classmethod
    def of(cls, i: dict) -> "Impact":
        return cls(service=i["service"], id=i["id"], cycles=i["cycles"], revision=i["revision"],
                   impacted=[ImpactedService(name=x["name"], depth=x["depth"], via=x["via"],
                                             has_other_provider=x["has_other_provider"]) for x in i["impacted"]])
