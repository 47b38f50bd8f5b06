"""Draining and maintenance: ``PUT``/``DELETE /v1/services/{name}/{id}/drain`` and ``/maintenance``.

- ``PUT .../drain`` ``{"deadline": seconds | null, "generation"?}``: the
  instance is ``draining``, still listed but out of ``pick`` and default
  discovery, and removed by the leader's tick once the deadline passes
  (tombstone reason ``drained``). With the registration's ``generation``
  it is the instance draining itself, without it an operator. A ``service``
  token may drain (and undrain) only the instances it registered, as it may
  deregister them; maintenance is an operator's.
- ``DELETE .../drain``: draining ends (the instance is back to its health).
- ``PUT .../maintenance`` ``{"reason": "..."}``: ``maintenance``, excluded
  like draining and never expired while it lasts; ``DELETE .../maintenance``
  ends it, with a fresh ttl.
"""

from __future__ import annotations

from aiohttp import web

from .. import errors
from ..auth.guard import scope
from ..fsm import commands
from ..fsm import fields
from ..fsm.results import Failed
from ..fsm.validation import ValidationError
from . import codec, params
from .handlers import _path_key
from .keys import CONFIG, STORE


async def _body(request: web.Request, allowed: tuple[str, ...]) -> dict:
    cfg = request.app[CONFIG]
    params.only(request.query, ("generation",))
    body = await codec.read_body(request, cfg.max_body, cfg.body_timeout, required=False)
    return codec.object_with(body if body is not None else {}, allowed)


async def _commit(request: web.Request, command: list) -> web.Response:
    result = await request.app[STORE].propose(command)
    if isinstance(result, Failed):
        raise errors.for_failure(result)
    return codec.respond(request, result.record)


def _extras(request: web.Request, body: dict) -> dict:
    gen = params.generation(request.query, body)
    return {} if gen is None else {"generation": gen}


async def drain(request: web.Request) -> web.Response:
    name, iid = _path_key(request)
    body = await _body(request, ("deadline", "generation"))
    extras = _extras(request, body)
    try:
        deadline = fields.drain_deadline(body.get("deadline"))
    except ValidationError as exc:
        raise errors.InvalidInput(exc.message, exc.field) from None
    extras["deadline_ms"] = None if deadline is None else round(deadline * 1000)
    extras["by"] = "owner" if "generation" in extras else "operator"
    # A service token drains only its own instances (apply checks the owner); an operator any.
    return await _commit(request, scope(request, name, commands.drain(name, iid, extras)))


async def undrain(request: web.Request) -> web.Response:
    name, iid = _path_key(request)
    body = await _body(request, ("generation",))
    command = commands.drain(name, iid, {**_extras(request, body), "cancel": True})
    return await _commit(request, scope(request, name, command))


async def maintenance_on(request: web.Request) -> web.Response:
    name, iid = _path_key(request)
    body = await _body(request, ("reason", "generation"))
    try:
        reason = fields.reason(body.get("reason"))
    except ValidationError as exc:
        raise errors.InvalidInput(exc.message, exc.field) from None
    return await _commit(request, commands.maintenance(name, iid, {**_extras(request, body), "on": True,
                                                                   "reason": reason}))


async def maintenance_off(request: web.Request) -> web.Response:
    name, iid = _path_key(request)
    body = await _body(request, ("generation",))
    return await _commit(request, commands.maintenance(name, iid, {**_extras(request, body), "on": False}))
