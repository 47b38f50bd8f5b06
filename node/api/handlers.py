"""Request handlers for the contract's endpoints. Each parses, calls the store, renders."""

from __future__ import annotations

import asyncio
import uuid

from aiohttp import web

from .. import errors
from ..auth.guard import TARGET, scope, scoped_caller
from ..checks import targets
from ..fsm import commands
from ..fsm.expiry import protection_view
from ..fsm.query import get as get_record
from ..fsm.results import Code, Failed, Written
from ..fsm import fields as extra_fields
from ..fsm.validation import ValidationError, check_id, check_name, check_reported_status, validate_registration
from . import blocking, codec, federated, params, pick
from .list_read import read_list
from .keys import CONFIG, METRICS, READ_HEADERS, RENDERED, STORE
from .render_cache import ListRead, ListState, Rendered

# A list body kept whole for repeated reads, at most: a larger one would be a
# second copy of the cached instances, and joining them again costs little
# next to sending them.
_KEEP_BODY = 64 << 10


def _validation(exc: ValidationError) -> errors.InvalidInput:
    return errors.InvalidInput(exc.message, exc.field, code=exc.code)


def _path_name(request: web.Request) -> str:
    try:
        return check_name(request.match_info["name"])
    except ValidationError as exc:
        raise _validation(exc) from None


def _path_key(request: web.Request) -> tuple[str, str]:
    try:
        return _path_name(request), check_id(request.match_info["id"])
    except ValidationError as exc:
        raise _validation(exc) from None


async def commit(request: web.Request, command: list) -> Written:
    """Commit a command and return what it wrote, or raise what it was refused with."""
    result = await request.app[STORE].propose(command)
    if isinstance(result, Failed):
        if result.code is Code.TOO_MANY_INSTANCES:
            request.app[METRICS].refused(result.limit)
        raise errors.for_failure(result)
    return result


# ---- writes ------------------------------------------------------------------
def check_target(request: web.Request, fields: dict, where: str = "") -> None:
    """403 ``check_target`` when the registration's check may not be probed (checks/targets.py)."""
    cfg = request.app[CONFIG]
    refused = targets.refusal(fields["check"], fields["address"], scoped_caller(request), cfg.check_targets,
                              cfg.loopback_checks)
    if refused is not None:
        raise errors.Forbidden(where + refused[1], where + refused[0], code="check_target")


def with_warnings(result: Written) -> dict:
    """The record a registration answers with: ``warnings`` when a dependency is unmet."""
    if not result.warnings:
        return result.record
    return {**result.record, "warnings": list(result.warnings)}


async def register(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    params.only(request.query, ("strict",))
    strict = params.flag(request.query, "strict", cfg.strict_dependencies)
    body = await codec.read_body(request, cfg.max_body, cfg.body_timeout)
    try:
        fields = validate_registration(body)
    except ValidationError as exc:
        raise _validation(exc) from None
    # The receiving node stamps identity; apply() must never draw randomness.
    fields.setdefault("id", f"{fields['name']}-{uuid.uuid4().hex[:12]}")
    request[TARGET] = (fields["name"], fields["id"])
    # The caps travel in the command: apply decides, alike on every node (commands.py).
    command = commands.register(fields, (cfg.max_instances, cfg.max_instances_per_service), strict)
    command = scope(request, fields["name"], command)
    check_target(request, fields)
    result = await commit(request, command)
    record = result.record
    return codec.respond(request, with_warnings(result), 201 if result.created else 200,
                         {"X-Manifest-Index": str(record["revision"])})


def heartbeat_extras(body: dict | None, gen: int | None, coalesce: list[int]) -> dict:
    """The HEARTBEAT command's extras from a heartbeat body (400 naming a bad field)."""
    extras: dict = {}
    if gen is not None:
        extras["generation"] = gen
    try:
        if body and body.get("load") is not None:
            extras["load"] = extra_fields.load(body["load"])
            extras["coalesce"] = coalesce
        if body and body.get("metadata") is not None:
            extras["metadata"] = extra_fields.metadata_patch(body["metadata"])
    except ValidationError as exc:
        raise _validation(exc) from None
    return extras


async def heartbeat(request: web.Request) -> web.Response:
    name, iid = _path_key(request)
    cfg = request.app[CONFIG]
    params.only(request.query, ("generation",))
    body = await codec.read_body(request, cfg.max_body, cfg.body_timeout, required=False)
    status = None
    if body is not None:
        codec.object_with(body, ("status", "generation", "load", "metadata"))
        if "status" in body:
            try:
                status = check_reported_status(body["status"])
            except ValidationError as exc:
                raise _validation(exc) from None
    extras = heartbeat_extras(body, params.generation(request.query, body), cfg.load_coalescing())
    result = await commit_heartbeat(request, name, commands.heartbeat(name, iid, status, extras))
    return codec.respond(request, result.record)


async def commit_heartbeat(request: web.Request, name: str, command: list) -> Written:
    """``commit`` for one client heartbeat (ours, Consul's check pass, Eureka's renew), counted in
    ``manifest_heartbeats_total`` and, when refused, ``manifest_heartbeat_failures_total{code}``."""
    metrics = request.app[METRICS]
    metrics.heartbeats.inc()
    try:
        return await commit(request, scope(request, name, command))
    except errors.ManifestError as exc:
        metrics.heartbeat_failed(exc.code)
        raise
    except Exception:
        metrics.heartbeat_failed("internal")
        raise


async def deregister(request: web.Request) -> web.Response:
    name, iid = _path_key(request)
    cfg = request.app[CONFIG]
    params.only(request.query, ("generation",))
    # Read whole before anything is deleted: a request that did not arrive
    # in full must not delete anything.
    body = await codec.read_body(request, cfg.max_body, cfg.body_timeout, required=False)
    if body is not None:
        codec.object_with(body, ("generation",))
    gen = params.generation(request.query, body)
    command = commands.deregister(name, iid, None if gen is None else {"generation": gen})
    result = await commit(request, scope(request, name, command))
    return codec.respond(request, result.record)


# ---- reads -------------------------------------------------------------------
def _list_read(request: web.Request, by_name: bool) -> tuple[str | None, ListRead]:
    """The service name and parsed query string, parsed and validated once per distinct pair."""
    cache = request.app[RENDERED]
    name = request.match_info["name"] if by_name else None
    key = (name, request.rel_url.raw_query_string)
    read = cache.read(key)
    if read is None:
        if by_name:
            name = _path_name(request)
        q = request.query
        read = ListRead(params.read_params(q), params.list_query(q, name=name))
        if read.params.index is None:  # blocking reads carry ever-new indexes: not worth keeping
            cache.add_read(key, read)
    return name, read


async def list_services(request: web.Request) -> web.Response:
    if "pick" in request.query:  # list_query takes it for /v1/services/{name}; here it would be ignored
        raise errors.InvalidInput("pick chooses among one service's instances: GET /v1/services/{name}?pick=",
                                  "pick", code="unknown_field")
    store = request.app[STORE]
    _, read = _list_read(request, by_name=False)
    rp = read.params
    if rp.linearizable:
        await store.sync(True)
    if rp.index is not None:
        await blocking.wait_past(request, rp.index, rp.wait, None, store.revision)
    return _render_list(request, store, read, None)


async def get_service(request: web.Request) -> web.Response:
    if "pick" in request.query:
        return await pick.handle(request)
    store = request.app[STORE]
    name, read = _list_read(request, by_name=True)
    rp = read.params
    if rp.linearizable:
        await store.sync(True)
    if rp.index is not None:
        await blocking.wait_past(request, rp.index, rp.wait, name, lambda: store.service_revision(name))
    return _render_list(request, store, read, name)


def _list_state(state, name: str | None) -> ListState:
    revision = state.revision
    return ListState(state.changes.key(name), revision,
                     revision if name is None else state.service_rev.get(name))


def _render_list(request, store, read: ListRead, name: str | None) -> web.Response:
    as_msgpack = codec.wants_msgpack(request)
    seen = store.read(lambda s: _list_state(s, name))
    body = read.last_body(as_msgpack, seen)
    if body is None and seen.index is not None:
        seen, body = _render_body(request.app[RENDERED], store, read.query, name, as_msgpack)
        if len(body) <= _KEEP_BODY:
            read.keep(as_msgpack, seen, body)
    if seen.index is None:
        raise errors.NotFound(f"no service {name!r} was ever registered")
    return web.Response(body=body, headers=request.app[READ_HEADERS](seen.index, as_msgpack))


def _render_body(cache, store, query, name: str | None, as_msgpack: bool) -> tuple[ListState, bytes]:
    def select(state):
        """The list's state, and its cached rendering if there is one (then no records are built)."""
        seen = _list_state(state, name)
        key = (query, seen.view, as_msgpack)
        hit = cache.get(key)
        if hit is not None:
            return (seen, key, hit, None), True
        return (seen, key, None, protection_view(state, name) if name is not None else None), False

    listed = read_list(store, query, select)  # the lock held a chunk of records at a time (list_read.py)
    seen, key, hit, shield = listed.head
    if hit is None:
        # Serialize outside the state lock; the records are fresh dicts.
        more = listed.more
        hit = Rendered(codec.dumps_array(listed.records, as_msgpack),
                       params.encode_cursor(more) if more is not None else None, shield[0] if shield else None)
        cache.put(key, hit)
    return seen, codec.list_body(hit.instances, seen.revision, hit.cursor, as_msgpack, hit.protection)


async def get_instance(request: web.Request) -> web.Response:
    store = request.app[STORE]
    name, iid = _path_key(request)
    rp = params.read_params(request.query)
    if rp.index is not None:
        raise errors.Unsupported("blocking reads are offered on service lists only", "index")
    await store.sync(rp.linearizable)
    record, revision = store.read(lambda s: (get_record(s, name, iid), s.revision))
    if record is None:
        raise errors.NotFound(f"no instance {name}/{iid}")
    return _read_response(request, record, revision)


def _read_response(request: web.Request, body: dict, index: int) -> web.Response:
    as_msgpack = codec.wants_msgpack(request)
    return web.Response(body=codec.dumps(body, as_msgpack), headers=request.app[READ_HEADERS](index, as_msgpack))


# ---- node and cluster ----------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    st = request.app[STORE].status()
    body = {"status": "ok" if st.ready else "unavailable", "role": st.role, "leader": st.leader_api,
            "revision": st.revision, "term": st.term, "commit_index": st.commit,
            "applied_index": st.applied, "applied_hash": st.applied_hash, "alarms": list(st.alarms),
            "storage": list(st.storage), "last_contact_ms": st.last_contact_ms}
    # Public by contract (no token): the dashboard served by another member reads it cross-origin.
    headers = {"Access-Control-Allow-Origin": "*"}
    if not st.ready:
        headers["Retry-After"] = "1"
    return codec.respond(request, body, 200 if st.ready else 503, headers)


_LIVE = b'{"status":"live"}'


async def live(request: web.Request) -> web.Response:
    """Liveness: this process serves HTTP. Asks nothing of Raft, so it answers without a leader."""
    return web.Response(body=_LIVE, content_type="application/json")


def cluster_view(app: web.Application) -> dict:
    """``GET /v1/cluster``'s body; the GraphQL ``cluster`` field reads the same."""
    store = app[STORE]
    st = store.status()
    body = {"id": store.cfg.id, "leader": st.leader_api, "term": st.term, "commit_index": st.commit,
            "applied_index": st.applied, "applied_hash": st.applied_hash, "revision": st.revision,
            "members": store.members(), "alarms": list(st.alarms),
            "protected": store.read(protection_view), "region": store.cfg.region}
    regions = federated.regions_view(app)
    if regions is not None:
        body["regions"] = regions
    return body


async def cluster(request: web.Request) -> web.Response:
    body = cluster_view(request.app)
    return _read_response(request, body, body["revision"])


async def metrics(request: web.Request) -> web.Response:
    data = await asyncio.get_running_loop().run_in_executor(None, request.app[METRICS].render)
    return web.Response(body=data, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

