"""Consul's agent endpoints for services and checks, as writes to the same registry.

A Consul agent is one machine's view; here every node speaks for the whole
registry, so a service registered through one node is the agent's service on
all of them. A TTL check passing is a heartbeat; warn and fail are
heartbeats reporting ``unhealthy`` (an instance never declares itself
``down``: that is the registry's verdict when heartbeats stop). Service
maintenance is ours (``maintenance``: out of discovery, never expired).
Everything else Consul's agent can do answers a 4xx naming the field
(docs/compat.md).
"""

from __future__ import annotations

from aiohttp import web

from ... import errors
from ...fsm import commands, model
from ...fsm import fields as fsm_fields
from ...fsm.validation import ValidationError, is_id
from ..handlers import check_target
from ..keys import CONFIG
from . import access, bodies, consul_input
from .state import COMPAT

_CHECK_PREFIX = "service:"


def _query(request: web.Request, allowed: set[str]) -> None:
    for key in request.query:
        if key not in allowed:
            raise errors.InvalidInput(f"unknown query parameter {key!r}", key, code="unknown_field")


async def _empty_body(request: web.Request) -> None:
    # Read whole, even though nothing is taken from it: a request that did not
    # arrive in full must not change anything.
    body = await bodies.read_json(request, required=False)
    if body not in (None, {}):
        raise errors.InvalidInput("this endpoint takes no body", "body")


def owner(request: web.Request, iid: str, what: str = "service ID") -> str:
    """The service holding instance ``iid``: 404 when none, 409 when several do."""
    names = request.app[COMPAT].ids.names(iid) if is_id(iid) else ()
    if not names:
        raise errors.NotFound(f"Unknown {what} {iid!r}")
    if len(names) > 1:
        raise errors.Conflict(f"instance ID {iid!r} exists in services {', '.join(names)}; Consul names "
                              "instances by ID alone: deregister one through /v1/services/{name}/{id}", "ID")
    return names[0]


def _ok() -> web.Response:
    return web.Response(status=200)


async def register(request: web.Request) -> web.Response:
    _query(request, {"replace-existing-checks", "token"})
    cfg = request.app[CONFIG]
    fields = consul_input.registration(await bodies.read_json(request))
    access.allow_service(request, fields["name"])
    if fields.get("check") is not None:  # the same SSRF rule as our own registrations (checks/targets.py)
        check_target(request, {"address": None, **fields})
    others = [n for n in request.app[COMPAT].ids.names(fields["id"]) if n != fields["name"]]
    if others:
        raise errors.Conflict(f"ID {fields['id']!r} is registered as service {others[0]!r}: Consul names "
                              "instances by ID alone; deregister that one first", "ID")
    await access.write(request, fields["name"],
                       commands.register(fields, (cfg.max_instances, cfg.max_instances_per_service)))
    return _ok()


async def deregister(request: web.Request) -> web.Response:
    _query(request, {"token"})
    await _empty_body(request)
    iid = request.match_info["id"]
    name = owner(request, iid)
    access.allow_service(request, name)
    await access.write(request, name, commands.deregister(name, iid))
    return _ok()


def _check_target(request: web.Request) -> tuple[str, str]:
    check = request.match_info["check_id"]
    iid = check[len(_CHECK_PREFIX):] if check.startswith(_CHECK_PREFIX) else ""
    if not iid:
        raise errors.NotFound(f"Unknown check ID {check!r}: a Manifest instance's one check is service:<ID>")
    name = owner(request, iid, "check ID")
    access.allow_service(request, name)
    return name, iid


async def _beat(request: web.Request, status: str) -> web.Response:
    name, iid = _check_target(request)
    await access.heartbeat(request, name, commands.heartbeat(name, iid, status))
    return _ok()


async def check_pass(request: web.Request) -> web.Response:
    _query(request, {"note", "token"})
    await _empty_body(request)
    return await _beat(request, model.UP)


async def check_warn(request: web.Request) -> web.Response:
    _query(request, {"note", "token"})
    await _empty_body(request)
    return await _beat(request, model.UNHEALTHY)


async def check_fail(request: web.Request) -> web.Response:
    _query(request, {"note", "token"})
    await _empty_body(request)
    return await _beat(request, model.UNHEALTHY)


async def check_update(request: web.Request) -> web.Response:
    _query(request, {"token"})
    status = consul_input.check_update(await bodies.read_json(request))
    return await _beat(request, status)


async def maintenance(request: web.Request) -> web.Response:
    _query(request, {"enable", "reason", "token"})
    await _empty_body(request)
    raw = request.query.get("enable")
    if raw is None:
        raise errors.InvalidInput("missing value for enable", "enable", code="required")
    if raw.lower() not in ("true", "false", "1", "0"):
        raise errors.InvalidInput("enable must be true or false", "enable")
    try:
        reason = fsm_fields.reason(request.query.get("reason"))
    except ValidationError as exc:
        raise errors.InvalidInput(exc.message, "reason") from None
    iid = request.match_info["id"]
    name = owner(request, iid)
    # Our maintenance (issue 13): out of discovery, never expired while it lasts, a fresh ttl after.
    on = raw.lower() in ("true", "1")
    extras = {"on": True, "reason": reason} if on else {"on": False}
    await access.write(request, name, commands.maintenance(name, iid, extras))
    return _ok()
