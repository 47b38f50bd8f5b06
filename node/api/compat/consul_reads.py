"""Consul's catalog, health, agent and status reads, rendered from the node's own state.

Reads are local, as ours are: Consul's default mode (through its leader)
and ``?stale`` both read this node; ``?consistent`` is our linearizable
read, and so is a ``?stale&max_stale=`` read on a node that has not heard
from its leader for longer. Blocking queries (``?index=&wait=``) park on the
same per-service wake-ups as ours. An answer is rendered once per change of
what it shows (revisions: heartbeats that change nothing do not count).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import orjson
from aiohttp import web

from ... import errors
from ...fsm import model
from ...fsm.query import Query, run, tags_by_service
from ...fsm.validation import is_name
from .. import blocking
from ..keys import READ_HEADERS, STORE
from . import consul_filter, consul_input, consul_views as views
from .state import COMPAT

_RENDER = {"health": views.health_entry, "catalog": views.catalog_entry, "check": views.check,
           "agent": views.agent_service}
_EXTRA = {"health": frozenset({"passing", "tag"}), "catalog": frozenset({"tag"}), "check": frozenset(),
          "agent": frozenset(), "services": frozenset()}
_SHAPE = {**views.SHAPES, "services": views.SHAPES["catalog"]}
try:
    _VERSION = version("chora-manifest")
except PackageNotFoundError:  # running from a source tree that was never installed
    _VERSION = "0"


def _parsed(request: web.Request, kind: str):
    """The request's ReadQuery and filter tree, parsed once per distinct query string."""
    cache = request.app[COMPAT].queries
    key = (kind, request.rel_url.raw_query_string)
    found = cache.get(key)
    if found is None:
        rq = consul_input.read_query(request.query, _EXTRA[kind], views.DATACENTER)
        tree = consul_filter.parse(rq.filter, _SHAPE[kind], views.MAPS) if rq.filter else None
        found = (rq, tree)
        if rq.index is None:  # blocking reads carry ever-new indexes: not worth keeping
            if len(cache) > 1024:
                cache.clear()
            cache[key] = found
    return found


async def _settle(request: web.Request, rq) -> None:
    store = request.app[STORE]
    if rq.consistent:
        await store.sync(True)
    elif rq.max_stale is not None:
        contact = store.status().last_contact_ms
        if contact is None or contact > rq.max_stale * 1000:
            await store.sync(True)


def headers(request: web.Request, revision: int, rq) -> dict:
    """Ours (X-Manifest-*) and Consul's read headers for an answer reflecting ``revision``."""
    out = request.app[READ_HEADERS](revision)
    contact = out["X-Manifest-Last-Contact"]
    out["X-Consul-Index"] = str(views.index_of(revision))
    out["X-Consul-KnownLeader"] = "true" if out["X-Manifest-Leader"] else "false"
    out["X-Consul-LastContact"] = "0" if contact.startswith("-") else contact
    out["X-Consul-Effective-Consistency"] = "consistent" if rq.consistent else "stale"
    return out


def _dumps(value, rq) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 if rq.pretty else 0)


async def _service_read(request: web.Request, kind: str) -> web.Response:
    store = request.app[STORE]
    name = request.match_info["name"]
    rq, tree = _parsed(request, kind)
    await _settle(request, rq)
    if not is_name(name):
        name = ""  # a name Manifest refuses holds no instance: Consul answers [] for those
    if rq.index is not None:
        await blocking.wait_past(request, rq.index - 1, rq.wait, name or None,
                                 lambda: store.service_revision(name) if name else store.revision())
    bodies = request.app[COMPAT].bodies
    key = (kind, name, rq.view)

    def under_lock(state):
        rev = state.service_rev.get(name)
        seen = (rev, state.revision if rev is None else None)
        hit = bodies.get(key, seen)
        if hit is not None or rev is None:
            return seen, hit, None
        statuses = (model.UP,) if rq.passing else ()
        return seen, None, run(state, Query(name=name, statuses=statuses, tags=rq.tags))[0]

    seen, body, records = store.read(under_lock)
    if body is None:
        entries = [_RENDER[kind](r) for r in records or ()]
        if tree is not None:
            entries = [e for e in entries if consul_filter.matches(tree, e)]
        body = _dumps(entries, rq)
        if records is not None:
            bodies.put(key, seen, body)
    return web.Response(body=body, headers=headers(request, seen[0] if seen[0] is not None else seen[1], rq))


async def health_service(request: web.Request) -> web.Response:
    return await _service_read(request, "health")


async def health_checks(request: web.Request) -> web.Response:
    return await _service_read(request, "check")


async def catalog_service(request: web.Request) -> web.Response:
    return await _service_read(request, "catalog")


async def catalog_services(request: web.Request) -> web.Response:
    store = request.app[STORE]
    rq, tree = _parsed(request, "services")
    await _settle(request, rq)
    if rq.index is not None:
        await blocking.wait_past(request, rq.index - 1, rq.wait, None, store.revision)
    bodies, key = request.app[COMPAT].bodies, ("services", rq.view)

    def under_lock(state):
        hit = bodies.get(key, state.revision)
        if hit is not None:
            return state.revision, hit, None
        if tree is None:
            return state.revision, None, tags_by_service(state)
        return state.revision, None, run(state, Query())[0]

    revision, body, found = store.read(under_lock)
    if body is None:
        if tree is not None:
            services: dict[str, set] = {}
            for record in found:
                if consul_filter.matches(tree, views.catalog_entry(record)):
                    services.setdefault(record["name"], set()).update(record["tags"])
            found = {name: sorted(tags) for name, tags in services.items()}
        body = _dumps(found, rq)
        bodies.put(key, revision, body)
    return web.Response(body=body, headers=headers(request, revision, rq))


def _no_blocking(rq) -> None:
    if rq.index is not None:
        raise errors.Unsupported("blocking queries are offered on catalog and health endpoints only", "index")


async def agent_services(request: web.Request) -> web.Response:
    """Every instance, keyed by ID: each node is the agent of the whole registry."""
    return await _agent_list(request, "agent", lambda r: r["id"])


async def agent_checks(request: web.Request) -> web.Response:
    return await _agent_list(request, "check", views.check_id)


async def _agent_list(request: web.Request, kind: str, key_of) -> web.Response:
    store = request.app[STORE]
    rq, tree = _parsed(request, kind)
    _no_blocking(rq)
    await _settle(request, rq)
    bodies, key = request.app[COMPAT].bodies, ("agent-" + kind, rq.view)

    def under_lock(state):
        hit = bodies.get(key, state.revision)
        return state.revision, hit, None if hit is not None else run(state, Query())[0]

    revision, body, records = store.read(under_lock)
    if body is None:
        out = {}
        for record in records:  # in (name, id) order: with an ID in two services, the first wins
            entry = _RENDER[kind](record)
            if tree is None or consul_filter.matches(tree, entry):
                out.setdefault(key_of(record), entry)
        body = _dumps(out, rq)
        bodies.put(key, revision, body)
    return web.Response(body=body, headers=headers(request, revision, rq))


async def catalog_datacenters(request: web.Request) -> web.Response:
    consul_input.read_query(request.query)
    return web.json_response([views.DATACENTER])


def _leader_raft(members: list[dict]) -> str:
    return next((m["raft"] for m in members if m.get("role") == "leader"), "")


async def status_leader(request: web.Request) -> web.Response:
    """The leader's Raft address, as Consul names its leader by its server RPC address."""
    consul_input.read_query(request.query)
    return web.json_response(_leader_raft(request.app[STORE].members()))


async def status_peers(request: web.Request) -> web.Response:
    consul_input.read_query(request.query)
    return web.json_response(sorted(m["raft"] for m in request.app[STORE].members()))


async def agent_self(request: web.Request) -> web.Response:
    store = request.app[STORE]
    cfg, st = store.cfg, store.status()
    host, _, port = cfg.raft.rpartition(":")
    ours = _VERSION
    config = {"Datacenter": views.DATACENTER, "PrimaryDatacenter": views.DATACENTER, "NodeName": cfg.id,
              "NodeID": views._node_id(cfg.id), "Server": True, "Revision": "", "Version": ours,
              "Product": "manifest", "Domain": getattr(cfg, "dns_domain", "consul") + "."}
    member = {"Name": cfg.id, "Addr": host.strip("[]"), "Port": int(port), "Status": 1,
              "Tags": {"role": "consul", "dc": views.DATACENTER, "build": ours, "raft": cfg.raft,
                       "api": cfg.api_url, "manifest_role": st.role}}
    return web.json_response({"Config": config, "Member": member, "Meta": {}, "Coord": None,
                              "Stats": {"raft": {"state": st.role.capitalize(), "term": str(st.term),
                                                 "commit_index": str(st.commit),
                                                 "applied_index": str(st.applied)}}})
