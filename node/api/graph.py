"""``GET /v1/graph`` and ``GET /v1/graph/impact/{name}[?id=ID]``: the dependency graph.

Both read the indexes apply maintains (fsm/graph.py): no scan of the
instances per request. Local reads (``consistency=linearizable`` works as
everywhere), with the registry revision as ``X-Manifest-Index``.
"""

from __future__ import annotations

from aiohttp import web

from .. import errors
from ..fsm import graph as fsm_graph
from ..fsm.validation import is_id, is_name
from . import codec, params
from .keys import READ_HEADERS, STORE


async def _respond(request: web.Request, fn) -> web.Response:
    params.only(request.query, ("consistency", "id"))
    rp = params.read_params(request.query)
    store = request.app[STORE]
    await store.sync(rp.linearizable)
    body = store.read(fn)
    as_msgpack = codec.wants_msgpack(request)
    return web.Response(body=codec.dumps(body, as_msgpack),
                        headers=request.app[READ_HEADERS](body["revision"], as_msgpack))


async def graph(request: web.Request) -> web.Response:
    if "id" in request.query:
        raise errors.InvalidInput("id belongs to /v1/graph/impact/{name}", "id", code="unknown_field")
    return await _respond(request, fsm_graph.graph)


async def impact(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not is_name(name):
        raise errors.InvalidInput("name must be a service name", "name")
    iid = request.query.get("id")
    if iid is not None and (not is_id(iid) or len(request.query.getall("id")) > 1):
        raise errors.InvalidInput("id must be one instance id", "id")
    return await _respond(request, lambda s: fsm_graph.impact(s, name, iid))
