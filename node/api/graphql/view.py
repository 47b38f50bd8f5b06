"""``POST /v1/graphql`` and ``GET /v1/graphql``: GraphQL over HTTP, and the WebSocket upgrade.

Over HTTP (the GraphQL-over-HTTP spec): a POST body ``{"query",
"variables"?, "operationName"?, "extensions"?}`` as JSON (read like every
body here: within ``max_body``, content coding undone), or the same as GET
parameters; queries only (subscriptions need the WebSocket). A request that
is not a GraphQL request at all (not JSON, not an object, ``query`` not a
string) is a 400 in our error shape naming the field. A GraphQL request
error (syntax, validation, a limit) is a 400 ``{"errors": [...]}`` without
``data``, each error's ``extensions`` holding our ``code``, ``field`` and
``limit``; an executed query is a 200, field errors included. The answer is
``application/graphql-response+json`` when the client accepts it, else
``application/json``, and carries the read headers of every read.

A WebSocket upgrade goes to strawberry's protocol handlers (sockets.py).
"""

from __future__ import annotations

import orjson
from aiohttp import web
from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from ... import errors
from ...auth.guard import PRINCIPAL
from ...auth.tokens import ANONYMOUS
from .. import codec
from ..keys import AUTH, CONFIG, READ_HEADERS, STORE
from .context import Context
from .keys import ENDPOINT

GRAPHQL_RESPONSE = "application/graphql-response+json"
_FIELDS = ("query", "variables", "operationName", "extensions")
_QUERIES = frozenset({OperationType.QUERY})


def _request_error(message: str, code: str, field: str | None = None, limit: str | None = None) -> GraphQLError:
    ext: dict = {"code": code, "status": 400}
    if field is not None:
        ext["field"] = field
    if limit is not None:
        ext["limit"] = limit
    return GraphQLError(message, extensions=ext)


def _from_body(body) -> dict:
    body = codec.object_with(body, _FIELDS)
    query = body.get("query")
    if not isinstance(query, str):
        raise errors.InvalidInput("query must be a string holding a GraphQL document", "query",
                                  code="required" if query is None else "invalid")
    for key in ("variables", "extensions"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise errors.InvalidInput(f"{key} must be an object", key)
    name = body.get("operationName")
    if name is not None and not isinstance(name, str):
        raise errors.InvalidInput("operationName must be a string", "operationName")
    return body


def _from_query_string(request: web.Request) -> dict:
    q = request.query
    for key in q:
        if key not in _FIELDS:
            raise errors.InvalidInput(f"unknown query parameter {key!r}", key, code="unknown_field")
        if len(q.getall(key)) > 1:
            raise errors.InvalidInput(f"{key} may be given once", key)
    body: dict = {"query": q.get("query"), "operationName": q.get("operationName")}
    for key in ("variables", "extensions"):
        if key in q:
            try:
                body[key] = orjson.loads(q[key])
            except orjson.JSONDecodeError:
                raise errors.InvalidInput(f"{key} must be a JSON object", key, code="malformed") from None
    return _from_body(body)


def context_for(request: web.Request) -> Context:
    """Who asks: the guard's principal, anyone when auth is off, None while a socket must still say."""
    principal = request.get(PRINCIPAL)
    if principal is None and not request.app[AUTH].on:
        principal = ANONYMOUS
    return Context(request.app, request, principal)


async def serve(request: web.Request) -> web.StreamResponse:
    endpoint = request.app[ENDPOINT]
    ctx = context_for(request)
    if request.headers.get("Upgrade", "").lower() == "websocket":
        if not endpoint.sockets.is_websocket_request(request):
            raise errors.InvalidInput("not a WebSocket upgrade this node can accept: GET with Connection: "
                                      "Upgrade, Sec-WebSocket-Key and -Version 13", "Upgrade")
        return await endpoint.sockets.serve(request, ctx)
    if ctx.principal is None:  # the guard lets only socket upgrades through without a token
        raise errors.Unauthorized("this request needs Authorization: Bearer <token>", "Authorization")
    cfg = request.app[CONFIG]
    if request.method in ("GET", "HEAD"):
        body = _from_query_string(request)
    else:
        body = _from_body(await codec.read_body(request, cfg.max_body, cfg.body_timeout))
    index = request.app[STORE].revision()
    errs, data = await _execute(endpoint.schema, cfg, body, ctx)
    accept = request.headers.get("Accept", "")
    ctype = GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in accept else codec.JSON
    out: dict = {} if data is _REFUSED else {"data": data}
    if errs:
        out["errors"] = [e.formatted for e in errs]
    headers = request.app[READ_HEADERS](index)
    headers["Content-Type"] = ctype
    return web.Response(body=orjson.dumps(out), status=400 if data is _REFUSED else 200, headers=headers)


_REFUSED = object()  # a request error: nothing was executed, the answer has no "data"


async def _execute(schema, cfg, body: dict, ctx: Context) -> tuple[list[GraphQLError], object]:
    query = body["query"]
    size = len(query.encode("utf-8", "surrogatepass"))
    if size > cfg.graphql_max_query_bytes:
        return [_request_error(f"the query is {size} bytes; at most {cfg.graphql_max_query_bytes} are allowed "
                               "(graphql_max_query_bytes)", "max_query_bytes", "query",
                               "graphql_max_query_bytes")], _REFUSED
    try:
        result = await schema.execute(query, variable_values=body.get("variables"), context_value=ctx,
                                      operation_name=body.get("operationName"),
                                      allowed_operation_types=_QUERIES,
                                      operation_extensions=body.get("extensions"))
    except MissingQueryError:
        return [_request_error("query is empty", "required", "query")], _REFUSED
    except CannotGetOperationTypeError as exc:
        return [_request_error(exc.as_http_error_reason(), "invalid", "operationName")], _REFUSED
    except InvalidOperationTypeError:
        return [_request_error("subscriptions need a WebSocket (graphql-transport-ws or graphql-ws) on "
                               "GET /v1/graphql; over HTTP only queries run", "unsupported", "query")], _REFUSED
    errs = list(result.errors or ())
    for e in errs:
        if e.extensions is None or "code" not in e.extensions:
            # graphql-core's own syntax and validation errors (and bad variables): the client's mistake.
            e.extensions = {**(e.extensions or {}), "code": "invalid", "status": 400}
    if result.data is None and errs and all(e.path is None for e in errs):
        if any(e.extensions.get("code") == "internal" for e in errs):
            raise errors.InternalError("internal error; the node's log has the details")
        return errs, _REFUSED
    return errs, result.data
