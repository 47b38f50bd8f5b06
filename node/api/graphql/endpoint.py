"""The GraphQL endpoint of one app: the schema with the node's limits, and the WebSocket handler."""

from __future__ import annotations

import functools

from aiohttp import web

from ...config import NodeConfig
from . import schema, sockets
from .keys import ENDPOINT


class Endpoint:
    """The schema with this node's limits, and the WebSocket handler that serves it."""

    def __init__(self, cfg: NodeConfig):
        self.schema = _schema(cfg.graphql_max_depth, cfg.graphql_max_cost, cfg.graphql_max_aliases,
                              cfg.graphql_max_query_bytes)
        self.sockets = sockets.Sockets(self.schema, cfg)


@functools.lru_cache(maxsize=8)
def _schema(depth: int, cost: int, aliases: int, query_bytes: int):
    return schema.build(depth, cost, aliases, query_bytes)


def setup(app: web.Application, cfg: NodeConfig) -> None:
    app[ENDPOINT] = endpoint = Endpoint(cfg)

    async def close_sockets(app: web.Application) -> None:
        await endpoint.sockets.close_all()

    app.on_shutdown.append(close_sockets)
