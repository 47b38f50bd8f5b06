"""Node-to-node endpoints: followers forward writes and ask for read indexes here.

Bodies are msgpack; when a cluster secret is set each body carries an HMAC
of it, so only members can propose through this door.
"""

from __future__ import annotations

import msgpack
from aiohttp import web

from .. import errors
from ..consensus.forwarder import AUTH_HEADER, verify
from ..fsm import commands as C
from .keys import CONFIG, STORE

_MAX_INTERNAL_BODY = 16 * 1024 * 1024


async def _body(request: web.Request) -> dict:
    raw = await request.content.read(_MAX_INTERNAL_BODY + 1)
    if len(raw) > _MAX_INTERNAL_BODY:
        raise errors.PayloadTooLarge("internal body too large")
    if not verify(request.app[CONFIG].cluster_secret, raw, request.headers.get(AUTH_HEADER, "")):
        raise errors.Unauthorized("missing or bad cluster signature", AUTH_HEADER)
    try:
        body = msgpack.unpackb(raw, raw=False) if raw else {}
    except Exception:
        raise errors.InvalidInput("body is not msgpack", "body") from None
    if not isinstance(body, dict):
        raise errors.InvalidInput("body must be a map", "body")
    return body


def _reply(body) -> web.Response:
    return web.Response(body=msgpack.packb(body, use_bin_type=True), content_type="application/msgpack")


async def propose(request: web.Request) -> web.Response:
    body = await _body(request)
    commands = body.get("commands")
    if not isinstance(commands, list) or not all(isinstance(c, list) and c for c in commands):
        raise errors.InvalidInput("commands must be a list of commands", "commands")
    if any(c[0] not in C.NAMES or c[0] == C.TICK for c in commands):
        # Ticks carry the leader's own clock and are never forwarded.
        raise errors.InvalidInput("unknown or forbidden command type", "commands")
    index, results = await request.app[STORE].leader_propose_many(commands)
    return _reply({"index": index, "results": results})


async def read_index(request: web.Request) -> web.Response:
    await _body(request)
    return _reply({"index": await request.app[STORE].leader_read_index()})
