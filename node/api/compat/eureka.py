"""Eureka's REST API under ``/eureka/``, as writes to and views of the same registry.

Register is a REGISTER command (ttl from the lease's durationInSecs), renew a
HEARTBEAT, cancel a DEREGISTER; status overrides are heartbeats reporting
``up`` or ``unhealthy``. Reads answer XML unless the client asks for JSON,
as Eureka's server does. Differences from Eureka: docs/compat.md.
"""

from __future__ import annotations

import time

import orjson
from aiohttp import web

from ... import errors
from ...fsm import commands, model
from ...fsm.query import Query, counts_by_status, get, run
from ...fsm.validation import ValidationError, check_name, is_id, is_name, validate_registration
from ..keys import CONFIG, READ_HEADERS, STORE
from . import access, bodies, eureka_codec as codec
from .state import COMPAT

_XML, _JSON = "application/xml", "application/json"
_RENEWAL_VIEW = 30.0  # seconds a rendered lastRenewalTimestamp may lag, as Eureka's response cache does


def _wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "json" in accept and ("xml" not in accept or accept.index("json") < accept.index("xml"))


def _respond(request: web.Request, root: str, doc, revision: int) -> web.Response:
    as_json = _wants_json(request)
    body = orjson.dumps({root: doc}) if as_json else codec.to_xml(root, doc)
    return _body(request, body, as_json, revision)


def _body(request: web.Request, body: bytes, as_json: bool, revision: int) -> web.Response:
    headers = request.app[READ_HEADERS](revision)
    headers["Content-Type"] = _JSON if as_json else _XML
    return web.Response(body=body, headers=headers)


def _app(request: web.Request) -> str:
    app = request.match_info["app"]
    try:
        return check_name(app.lower(), "app")
    except ValidationError as exc:
        raise errors.InvalidInput(f"app {app!r}: Manifest service names match {exc.message.split('match ')[-1]}",
                                  "app") from None


def _key(request: web.Request) -> tuple[str, str]:
    name, iid = _app(request), request.match_info["id"]
    if not is_id(iid):
        raise errors.NotFound(f"no instance {iid!r} of {name.upper()}")
    return name, iid


def _query(request: web.Request, allowed: set[str]) -> None:
    for key in request.query:
        if key not in allowed:
            raise errors.InvalidInput(f"unknown query parameter {key!r}", key, code="unknown_field")


# ---- writes ----------------------------------------------------------------------
async def register(request: web.Request) -> web.Response:
    cfg, store = request.app[CONFIG], request.app[STORE]
    name = _app(request)
    raw = await bodies.read_raw(request)
    if not raw.strip():
        raise errors.InvalidInput("a request body is required", "body", code="required")
    fields, word = codec.registration(name, codec.parse_instance(raw, request.content_type))
    try:
        fields = validate_registration(fields)
    except ValidationError as exc:
        raise errors.InvalidInput(f"instance: {exc.message}", f"instance.{exc.field}", code=exc.code) from None
    access.allow_service(request, name)
    status = codec.TO_MANIFEST[word]
    existing = store.read(lambda s: get(s, name, fields["id"]))
    same = existing is not None and all(existing[k] == fields[k] for k in fields)
    if not same:
        # A registration sets the instance up; one that arrives saying otherwise (STARTING,
        # OUT_OF_SERVICE) is then reported so: two commits, so it reads as up in between.
        await access.write(request, name, commands.register(
            fields, (cfg.max_instances, cfg.max_instances_per_service)))
    if same or status != model.UP:
        await access.write(request, name, commands.heartbeat(name, fields["id"], status))
    return web.Response(status=204)


async def renew(request: web.Request) -> web.Response:
    _query(request, {"status", "lastDirtyTimestamp", "overriddenstatus"})
    name, iid = _key(request)
    access.allow_service(request, name)
    override = request.query.get("overriddenstatus", "").upper()
    status = None  # a renewal keeps the instance's status, overrides included, as Eureka's does
    if override not in ("", "UNKNOWN"):
        status = codec.TO_MANIFEST[codec.status_word(override, "overriddenstatus")]
    if "status" in request.query:
        codec.status_word(request.query["status"], "status")
    await access.heartbeat(request, name, commands.heartbeat(name, iid, status))
    return web.Response(status=200)


async def cancel(request: web.Request) -> web.Response:
    name, iid = _key(request)
    access.allow_service(request, name)
    await access.write(request, name, commands.deregister(name, iid))
    return web.Response(status=200)


async def set_status(request: web.Request) -> web.Response:
    _query(request, {"value", "lastDirtyTimestamp"})
    name, iid = _key(request)
    if "value" not in request.query:
        raise errors.InvalidInput("value is required (UP, OUT_OF_SERVICE, ...)", "value", code="required")
    status = codec.TO_MANIFEST[codec.status_word(request.query["value"], "value")]
    access.allow_service(request, name)
    await access.write(request, name, commands.heartbeat(name, iid, status))
    return web.Response(status=200)


async def clear_status(request: web.Request) -> web.Response:
    """Remove an override: the instance is what it says, and an instance still renewing is up
    unless ``value`` says what it says instead."""
    _query(request, {"value", "lastDirtyTimestamp"})
    name, iid = _key(request)
    word = codec.status_word(request.query.get("value", "UP"), "value")
    access.allow_service(request, name)
    await access.write(request, name, commands.heartbeat(name, iid, codec.TO_MANIFEST[word]))
    return web.Response(status=200)


# ---- reads -----------------------------------------------------------------------
def _view(revision: int) -> tuple:
    return (revision, int(time.monotonic() // _RENEWAL_VIEW))


def _apps_doc(records: list[dict], revision: int, counts: dict) -> dict:
    apps: dict[str, list] = {}
    for record in records:
        apps.setdefault(record["name"], []).append(codec.instance(record))
    return {"versions__delta": str(revision), "apps__hashcode": codec.hash_code(counts),
            "application": [{"name": name.upper(), "instance": insts} for name, insts in apps.items()]}


async def applications(request: web.Request) -> web.Response:
    _query(request, {"regions"})  # one region: asking for remote ones adds nothing, as in Eureka
    store, as_json = request.app[STORE], _wants_json(request)
    cache, key = request.app[COMPAT].bodies, ("eureka-apps", as_json)

    def under_lock(state):
        view = _view(state.revision)
        hit = cache.get(key, view)
        if hit is not None:
            return state.revision, view, hit, None
        return state.revision, view, None, (run(state, Query())[0], counts_by_status(state))

    revision, view, body, found = store.read(under_lock)
    if body is None:
        doc = _apps_doc(found[0], revision, found[1])
        body = orjson.dumps({"applications": doc}) if as_json else codec.to_xml("applications", doc)
        cache.put(key, view, body)
    return _body(request, body, as_json, revision)


async def delta(request: web.Request) -> web.Response:
    _query(request, {"regions"})
    store = request.app[STORE]
    events = request.app[COMPAT].recent.latest()
    revision, counts = store.read(lambda s: (s.revision, counts_by_status(s)))
    apps: dict[str, list] = {}
    for ev in events:
        action = {"registered": "ADDED", "deregistered": "DELETED"}.get(ev.kind, "MODIFIED")
        apps.setdefault(ev.record["name"], []).append(codec.instance(ev.record, action))
    doc = {"versions__delta": str(revision), "apps__hashcode": codec.hash_code(counts),
           "application": [{"name": name.upper(), "instance": insts} for name, insts in apps.items()]}
    return _respond(request, "applications", doc, revision)


async def application(request: web.Request) -> web.Response:
    _query(request, set())
    store, name, as_json = request.app[STORE], _app(request), _wants_json(request)
    cache, key = request.app[COMPAT].bodies, ("eureka-app", name, as_json)

    def under_lock(state):
        rev = state.service_rev.get(name)
        if rev is None:
            return None, None, None, None
        view = _view(rev)
        hit = cache.get(key, view)
        return rev, view, hit, None if hit is not None else run(state, Query(name=name))[0]

    rev, view, body, records = store.read(under_lock)
    if rev is None:
        raise errors.NotFound(f"no application {name.upper()} was ever registered")
    if body is None:
        doc = {"name": name.upper(), "instance": [codec.instance(r) for r in records]}
        body = orjson.dumps({"application": doc}) if as_json else codec.to_xml("application", doc)
        cache.put(key, view, body)
    return _body(request, body, as_json, rev)


async def app_instance(request: web.Request) -> web.Response:
    _query(request, set())
    name, iid = _key(request)
    record, revision = request.app[STORE].read(lambda s: (get(s, name, iid), s.revision))
    if record is None:
        raise errors.NotFound(f"no instance {iid!r} of {name.upper()}")
    return _respond(request, "instance", codec.instance(record), revision)


async def instance_by_id(request: web.Request) -> web.Response:
    _query(request, set())
    iid = request.match_info["id"]
    names = request.app[COMPAT].ids.names(iid) if is_id(iid) else ()
    if len(names) != 1 or not is_name(names[0]):
        raise errors.NotFound(f"no instance {iid!r}" if not names else
                              f"instance id {iid!r} is in {', '.join(names)}: ask /eureka/apps/{{APP}}/{iid}")
    record, revision = request.app[STORE].read(lambda s: (get(s, names[0], iid), s.revision))
    if record is None:
        raise errors.NotFound(f"no instance {iid!r}")
    return _respond(request, "instance", codec.instance(record), revision)
