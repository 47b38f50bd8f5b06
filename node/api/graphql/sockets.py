"""GraphQL over WebSocket on ``GET /v1/graphql``: strawberry's graphql-transport-ws and graphql-ws handlers.

The token comes with the upgrade request (``Authorization: Bearer``, checked
by the route's guard like any request) or, for browsers, which cannot set
headers on a WebSocket, in the ``connection_init`` payload as
``{"Authorization": "Bearer <token>"}``. A socket whose init carries no
valid token is closed with 4401 (graphql-transport-ws) and nothing runs on
it; one whose role may not read, with 4403. Every operation then checks
its own permission (schema.py). Shutdown closes every socket with 1001, as
it ends the watch streams.

A socket still waiting for its token holds a descriptor and costs its
client nothing, so it is bounded twice, whichever protocol it speaks: one
without a principal ``body_timeout`` seconds after the upgrade is closed
with 4408 (strawberry's own timer does this for graphql-transport-ws only,
and only until connection_init comes), and at most ``MAX_WAITING`` of them
are open at once: the next upgrade without credentials gets 429
(``limit`` ``graphql_waiting_sockets``, counted in manifest_limit_refusals).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp import WSCloseCode, web
from strawberry.aiohttp.views import GraphQLView
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from ... import errors
from ...auth.permissions import P, allows
from ...auth.tokens import credentials
from ..keys import AUTH, METRICS
from .context import Context
from .protocols import LegacyWS, TransportWS

_CLOSE_WAIT = 2.0  # seconds a close waits for the client's close frame (shutdown closes every socket)
# The request's WebSocketResponse: on_ws_connect closes it with our code, shutdown closes them all.
_SOCKET = web.RequestKey("graphql_socket", web.WebSocketResponse)
# Sockets upgraded without a token that have not sent a valid one yet, per node. A browser's socket
# spends a round trip here; 256 is many pages opening at once, and far below a process's descriptors.
MAX_WAITING = 256
WAITING_LIMIT = "graphql_waiting_sockets"  # the limit's name in 429 answers and manifest_limit_refusals
INIT_TIMEOUT = 4408  # graphql-transport-ws's code for "no connection_init in time"; graphql-ws has none


class Sockets(GraphQLView):
    graphql_transport_ws_handler_class = TransportWS
    graphql_ws_handler_class = LegacyWS

    def __init__(self, schema, cfg):
        super().__init__(schema, graphql_ide=None, allow_queries_via_get=False,
                         keep_alive=True, keep_alive_interval=cfg.watch_keepalive,
                         subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
                         connection_init_wait_timeout=timedelta(seconds=cfg.body_timeout),
                         max_subscriptions_per_connection=cfg.graphql_max_subscriptions)
        self.max_message = cfg.max_body
        self.max_query_bytes = cfg.graphql_max_query_bytes
        self.init_wait = cfg.body_timeout
        self.open: set[web.WebSocketResponse] = set()
        # id() of the requests upgraded (or upgrading) without a principal yet (a Request is not hashable)
        self.waiting: set[int] = set()
        self._closing: set[asyncio.Task] = set()

    async def serve(self, request: web.Request, context: Context) -> web.StreamResponse:
        timer = None
        if context.principal is None:
            if len(self.waiting) >= MAX_WAITING:
                request.app[METRICS].refused(WAITING_LIMIT)
                raise errors.TooManyRequests(
                    f"this node has {MAX_WAITING} WebSockets waiting for their token ({WAITING_LIMIT}); send "
                    "Authorization with the upgrade, or try again later", WAITING_LIMIT)
            self.waiting.add(id(request))
            timer = asyncio.get_running_loop().call_later(self.init_wait, self._expire, request)
        try:
            return await self.run(request, context=context)
        finally:
            if timer is not None:
                timer.cancel()
            self.waiting.discard(id(request))
            ws = request.get(_SOCKET)
            if ws is not None:
                self.open.discard(ws)

    def _expire(self, request: web.Request) -> None:
        ws = request.get(_SOCKET)
        if id(request) in self.waiting and ws is not None and not ws.closed:
            why = f"no valid token within {self.init_wait:g} s of the upgrade (body_timeout)"
            task = asyncio.ensure_future(ws.close(code=INIT_TIMEOUT, message=why.encode()))
            self._closing.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._closing.discard)

    async def create_websocket_response(self, request: web.Request, subprotocol: str | None):
        # A message is a body: bounded by max_body, as every body is.
        ws = web.WebSocketResponse(protocols=[subprotocol] if subprotocol else [], max_msg_size=self.max_message,
                                   timeout=_CLOSE_WAIT)
        await ws.prepare(request)
        request[_SOCKET] = ws
        self.open.add(ws)
        return ws

    async def reject_websocket(self, request: web.Request):
        # strawberry refuses a handshake from another origin (a page there would act with the
        # user's cookies); in our error shape, like every refusal.
        raise errors.Forbidden("a WebSocket from another origin is refused", "Origin")

    async def on_ws_connect(self, context: Context):
        if context.principal is not None:
            return None  # the upgrade request's own token, already checked by the guard
        auth = context.app[AUTH]
        request = context.request
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        headers = {k.title(): v for k, v in params.items() if isinstance(k, str) and isinstance(v, str)}
        token = credentials(headers)
        principal = None if token is None else auth.verifier.verify(token)
        if principal is None:
            why = ("connection_init needs {\"Authorization\": \"Bearer <token>\"}" if token is None
                   else "the token is not valid (unknown, revoked or expired)")
            auth.record(request, None, 401, errors.Unauthorized.code)
            await request[_SOCKET].close(code=4401, message=why.encode())
            raise ConnectionRejectionError({"code": "unauthorized", "message": why})
        if not allows(principal.role, P.READ):
            auth.record(request, principal, 403, errors.Forbidden.code)
            await request[_SOCKET].close(code=4403, message=b"this token's role may not read")
            raise ConnectionRejectionError({"code": "forbidden"})
        auth.usage[principal] = auth.usage.get(principal, 0) + 1
        context.principal = principal
        self.waiting.discard(id(request))
        return None

    async def close_all(self) -> None:
        # All at once: each close waits up to _CLOSE_WAIT for the client's answer.
        await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"the node is shutting down")
                               for ws in list(self.open)), return_exceptions=True)
