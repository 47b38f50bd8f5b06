"""The GraphQL schema: root fields, each guarded by the permission its REST route needs.

Root fields are nullable: one the caller may not read, or asks with a bad
argument, is null with its error, and the others are answered.

``services``/``service``/``instances``/``instance``/``graph``/``impact``
need ``services.read``, ``cluster`` needs ``cluster.view``, the ``changes``
subscription ``services.watch`` (auth/permissions.py). ``build(...)`` adds
the node's query limits (limits.py); the printed schema is the same for
every node (``sdl()``, committed as docs/reference/graphql.schema.graphql).
"""

import logging
from collections.abc import AsyncIterator
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, MaskErrors, MaxTokensLimiter, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from ...auth.permissions import P
from ...config import NodeConfig
from . import limits, resolvers, subscriptions
from .context import mapped, require
from .services import DependsOn, Graph, Impact, ListLimit, Meta, Read, Service, Status, Tags, Version
from .types import REVISION, ChangeEvent, Cluster, Instance, InstancePage, Revision

log = logging.getLogger("manifest.api.graphql")
_CACHED = 256  # distinct documents whose validation is kept



@strawberry.type
class Query:
    @strawberry.field(description="Instances of every service, filtered and paged as GET /v1/services.")
    async def instances(self, info: Info, name: Annotated[str | None, strawberry.argument(
                            description="Only this service's (GET /v1/services/{name}).")] = None,
                        status: Status = None, tag: Tags = None, version: Version = None, meta: Meta = None,
                        depends_on: DependsOn = None, limit: ListLimit = None, cursor: str | None = None,
                        include_removed: bool = False, consistency: Read = None) -> InstancePage | None:
        require(info, P.READ)
        with mapped():
            query = resolvers.list_query(name, status, tag, version, meta, depends_on, limit, cursor,
                                         include_removed)
            return await resolvers.instances(info.context, query, consistency)

    @strawberry.field(description="One instance (GET /v1/services/{name}/{id}); null when unknown.")
    async def instance(self, info: Info, name: str, id: str, consistency: Read = None) -> Instance | None:
        require(info, P.READ)
        with mapped():
            return await resolvers.instance(info.context, name, id, consistency)

    @strawberry.field(description="Every service with at least one instance, by name.")
    async def services(self, info: Info, consistency: Read = None) -> list[Service] | None:
        require(info, P.READ)
        with mapped():
            graph = await resolvers.graph(info.context, consistency)
        return [Service.of(n) for n in graph["nodes"] if n["registered"]]

    @strawberry.field(description="One service; null when it has no instances.")
    async def service(self, info: Info, name: str, consistency: Read = None) -> Service | None:
        require(info, P.READ)
        with mapped():
            await resolvers.graph(info.context, consistency)
            node = resolvers.service_node(info.context, name)
        return None if node is None else Service.of(node)

    @strawberry.field(description="The dependency graph (GET /v1/graph).")
    async def graph(self, info: Info, consistency: Read = None) -> Graph | None:
        require(info, P.READ)
        with mapped():
            return Graph.of(await resolvers.graph(info.context, consistency))

    @strawberry.field(description="What losing a service, or one of its instances, would impact "
                                  "(GET /v1/graph/impact/{name}).")
    async def impact(self, info: Info, name: str, id: str | None = None, consistency: Read = None) -> Impact | None:
        require(info, P.READ)
        with mapped():
            return Impact.of(await resolvers.impact(info.context, name, id, consistency))

    @strawberry.field(description="Members, roles, leader, term (GET /v1/cluster).")
    def cluster(self, info: Info) -> Cluster | None:
        require(info, P.CLUSTER)
        return Cluster.of(resolvers.cluster(info.context))


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Every change after `since` (default: from now), as GET /v1/watch "
                                         "streams them: in revision order, no gap, no duplicate; a RESET "
                                         "first when `since` is older than this node's history.")
    async def changes(self, info: Info, service: Annotated[str | None, strawberry.argument(
                          description="Only this service's changes.")] = None,
                      since: Annotated[Revision | None, strawberry.argument(
                          description="Resume after this revision (the last event's `revision`).")] = None,
                      ) -> AsyncIterator[ChangeEvent]:
        require(info, P.WATCH)
        ctx = info.context
        with mapped():
            if service is not None:
                resolvers.service_name(service, "service")
            stream = subscriptions.changes(ctx.app, ctx.store, service, since)
            first = await anext(stream, None)  # the stream's refusals (max_watch_streams) raise here
        try:
            while first is not None:
                yield first
                first = await anext(stream, None)
        finally:
            await stream.aclose()


class _Masked(MaskErrors):
    """A resolver's bug reaches the client as "internal error", and the node's log with its traceback."""

    def __init__(self):
        super().__init__(should_mask_error=_unexpected, error_message="internal error; the node's log has "
                                                                      "the details")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        log.error("unhandled error in a GraphQL resolver at %s", error.path, exc_info=error.original_error)
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "internal", "status": 500}
        return masked


def _unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class _Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        # Refused and invalid queries are the client's business, not lines in the node's log;
        # bugs are logged once, by _Masked.
        pass


def build(max_depth: int, max_cost: int, max_aliases: int, max_query_bytes: int) -> strawberry.Schema:
    """The schema with these limits (node/config.py's graphql_* settings)."""
    rule = limits.rule(max_depth, max_cost, max_aliases)
    # Parsing stops past as many tokens as the query may have bytes: a WebSocket's query, which
    # view.py's byte check does not see, is bounded in parse work too.
    # Validations are kept (LRU, per document): clients send the same few queries again and again,
    # and validation is most of a small query's cost. Not strawberry's ParserCache: with it, a
    # syntax error in a WebSocket subscription escapes the protocol handler instead of closing 4400.
    return _Schema(query=Query, subscription=Subscription, config=StrawberryConfig(scalar_map={Revision: REVISION}),
                   extensions=[lambda: MaxTokensLimiter(max_query_bytes), lambda: AddValidationRules([rule]),
                               lambda: ValidationCache(maxsize=_CACHED),
                               _Masked])


def sdl() -> str:
    """The schema as SDL: the same for every node, whatever its limits (docs/reference/graphql.schema.graphql)."""
    cfg = NodeConfig()
    schema = build(cfg.graphql_max_depth, cfg.graphql_max_cost, cfg.graphql_max_aliases, cfg.graphql_max_query_bytes)
    return schema.as_str() + "\n"
