"""Request handlers for the contract's endpoints. Each parses, calls the store, renders."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

from aiohttp import web

from .. import errors
from ..fsm import commands as C
from ..fsm import query as Q
from ..fsm.validation import ValidationError, check_id, check_name, check_reported_status, validate_registration
from . import codec, params
from .keys import CHANGES, CONFIG, METRICS, READ_HEADERS, RENDERED, STORE
from .render_cache import ListRead

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


def _ok(result: dict) -> dict:
    """Unwrap an FSM result or raise the matching error."""
    if "error" in result:
        raise errors.from_result(result)
    return result


async def _write(request: web.Request, command: list) -> dict:
    store = request.app[STORE]
    return _ok(await store.propose(command))


# ---- writes ------------------------------------------------------------------
async def register(request: web.Request) -> web.Response:
    body = await codec.read_body(request, request.app[CONFIG].max_body)
    try:
        fields = validate_registration(body)
    except ValidationError as exc:
        raise _validation(exc) from None
    # The receiving node stamps identity; apply() must never draw randomness.
    fields.setdefault("id", f"{fields['name']}-{uuid.uuid4().hex[:12]}")
    result = await _write(request, C.register(fields))
    record = result["record"]
    return codec.respond(request, record, 201 if result["created"] else 200,
                         {"X-Manifest-Index": str(record["revision"])})


async def heartbeat(request: web.Request) -> web.Response:
    name, iid = _path_key(request)
    body = await codec.read_body(request, request.app[CONFIG].max_body, required=False)
    status = None
    if body is not None:
        codec.object_with(body, ("status",))
        if "status" in body:
            try:
                status = check_reported_status(body["status"])
            except ValidationError as exc:
                raise _validation(exc) from None
    request.app[METRICS].heartbeats.inc()
    result = await _write(request, C.heartbeat(name, iid, status))
    return codec.respond(request, result["record"])


async def deregister(request: web.Request) -> web.Response:
    name, iid = _path_key(request)
    result = await _write(request, C.deregister(name, iid))
    return codec.respond(request, result["record"])


# ---- reads -------------------------------------------------------------------
async def _blocking(request: web.Request, rp: params.ReadParams, service: str | None, current) -> None:
    """Hold a blocking read until ``current()`` exceeds rp.index or the wait ends."""
    if rp.index is None or current() > rp.index:
        return
    wait = rp.wait if rp.wait is not None else 300.0
    # Jitter spreads the wake-ups of many clients that started together.
    deadline = time.monotonic() + wait + random.uniform(0, wait / 16)
    hub = request.app[CHANGES]
    while current() <= rp.index and not hub.closed:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await hub.wait(service, remaining)


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
    store = request.app[STORE]
    _, read = _list_read(request, by_name=False)
    rp = read.params
    if rp.linearizable:
        await store.sync(True)
    if rp.index is not None:
        await _blocking(request, rp, None, lambda: store.fsm.revision)
    return _render_list(request, store, read, None)


async def get_service(request: web.Request) -> web.Response:
    store = request.app[STORE]
    name, read = _list_read(request, by_name=True)
    rp = read.params
    if rp.linearizable:
        await store.sync(True)
    if rp.index is not None:
        await _blocking(request, rp, name, lambda: store.fsm.service_rev.get(name, 0))
    return _render_list(request, store, read, name)


def _list_state(state, name: str | None) -> tuple[int, int, int | None]:
    """(view key, revision, index) of a list; index None: the service was never registered."""
    revision = state.revision
    return state.view_key(name), revision, revision if name is None else state.service_rev.get(name)


def _render_list(request, store, read: ListRead, name: str | None) -> web.Response:
    as_msgpack = codec.wants_msgpack(request)
    seen = store.read(lambda s: _list_state(s, name))
    last = read.last[as_msgpack]
    if last is not None and last[0] == seen:
        body = last[1]
    elif seen[2] is not None:
        seen, body = _render_body(request.app[RENDERED], store, read.query, name, as_msgpack)
        if len(body) <= _KEEP_BODY:
            read.last[as_msgpack] = (seen, body)
    index = seen[2]
    if index is None:
        raise errors.NotFound(f"no service {name!r} was ever registered")
    return web.Response(body=body, headers=request.app[READ_HEADERS](index, as_msgpack))


def _render_body(cache, store, query, name: str | None, as_msgpack: bool) -> tuple[tuple, bytes]:
    def run(state):
        seen = _list_state(state, name)
        key = (query, seen[0], as_msgpack)
        hit = cache.get(key)
        if hit is None:
            records, more = Q.run(state, query)
            return seen, key, None, records, more
        return seen, key, hit, None, None

    seen, key, hit, records, more = store.read(run)
    if hit is None:
        # Serialize outside the state lock; the records are fresh dicts.
        cursor = params.encode_cursor(more) if more is not None else None
        hit = (codec.dumps(records, as_msgpack), cursor)
        cache.put(key, hit)
    instances, cursor = hit
    return seen, codec.list_body(instances, seen[1], cursor, as_msgpack)


async def get_instance(request: web.Request) -> web.Response:
    store = request.app[STORE]
    name, iid = _path_key(request)
    rp = params.read_params(request.query)
    if rp.index is not None:
        raise errors.Unsupported("blocking reads are offered on service lists only", "index")
    await store.sync(rp.linearizable)
    record, revision = store.read(lambda s: (Q.get(s, name, iid), s.revision))
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
            "applied_index": st.applied}
    headers = {} if st.ready else {"Retry-After": "1"}
    return codec.respond(request, body, 200 if st.ready else 503, headers)


async def cluster(request: web.Request) -> web.Response:
    store = request.app[STORE]
    st = store.status()
    body = {"id": store.cfg.id, "leader": st.leader_api, "term": st.term, "commit_index": st.commit,
            "applied_index": st.applied, "revision": st.revision, "members": store.members()}
    return _read_response(request, body, st.revision)


async def metrics(request: web.Request) -> web.Response:
    data = await asyncio.get_running_loop().run_in_executor(None, request.app[METRICS].render)
    return web.Response(body=data, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

