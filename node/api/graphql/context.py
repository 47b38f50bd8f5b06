"""What every resolver is handed: the app, who asks, and the checks and error mapping they share.

Each root field checks its own permission (``require``): a query may mix
fields a role may and may not read, and answers the ones it may. Errors of
the node's hierarchy (node/errors.py) become GraphQL errors that keep our
error shape in ``extensions``: ``code``, ``status`` and ``field``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from aiohttp import web
from graphql import GraphQLError

from ... import errors
from ...auth.permissions import P, allows
from ...auth.tokens import Principal
from ...fsm import graph as fsm_graph
from ..keys import STORE

# REST's parameter names, as the GraphQL arguments that carry them are named.
ARGUMENTS = {"depends_on": "dependsOn", "include": "includeRemoved"}


@dataclass
class Context:
    app: web.Application
    request: web.Request
    principal: Principal | None  # None on a WebSocket until its connection_init carried a token
    connection_params: dict | None = None  # graphql-transport-ws connection_init payload (strawberry sets it)
    _graph: tuple[int, dict, dict] | None = field(default=None, repr=False)

    @property
    def store(self):
        return self.app[STORE]

    def graph(self) -> dict:
        """The dependency graph (fsm/graph.py) at this node's revision, computed once per revision:
        a query that walks services and their dependencies reads it once, not once per service."""
        return self._graph_now()[1]

    def node(self, name: str) -> dict | None:
        """The graph's node of service ``name`` (also a dependency nobody registered), or None."""
        return self._graph_now()[2].get(name)

    def _graph_now(self) -> tuple[int, dict, dict]:
        store = self.store
        if self._graph is None or self._graph[0] != store.revision():
            built = store.read(fsm_graph.graph)
            self._graph = (built["revision"], built, {n["name"]: n for n in built["nodes"]})
        return self._graph


def as_graphql(exc: errors.ManifestError) -> GraphQLError:
    """``exc`` as a GraphQL error carrying our error shape in ``extensions``."""
    ext = {"code": exc.code, "status": exc.status}
    if exc.field is not None:
        ext["field"] = ARGUMENTS.get(exc.field, "meta" if exc.field.startswith("meta.") else exc.field)
    limit = getattr(exc, "limit", None)
    if limit is not None:
        ext["limit"] = limit
    return GraphQLError(exc.message, extensions=ext)


@contextlib.contextmanager
def mapped():
    """Raise the node's errors inside the block as GraphQL errors with our extensions."""
    try:
        yield
    except errors.ManifestError as exc:
        raise as_graphql(exc) from None


def require(info, permission: P) -> Principal:
    """The caller, when their role has ``permission``; else a 401/403 GraphQL error."""
    principal = info.context.principal
    if principal is None:
        raise as_graphql(errors.Unauthorized("this operation needs a token: send it in connection_init "
                                             "({\"Authorization\": \"Bearer <token>\"})", "Authorization"))
    if not allows(principal.role, permission):
        raise as_graphql(errors.Forbidden(f"a {principal.role} token may not do this ({permission})"))
    return principal
