"""The reads behind the root fields, through the store Protocol and the REST API's own parsers.

Arguments go through node/api/params.py as the REST query string would
(``list_query``, ``read_params``), so a GraphQL filter accepts and refuses
exactly what ``GET /v1/services`` does, and the records come from the same
fsm/query.py, fsm/graph.py and handlers.cluster_view reads. Consistency as
in REST: local by default, ``LINEARIZABLE`` waits for the read index first.
"""

from __future__ import annotations

from multidict import MultiDict

from ... import errors
from ...fsm import graph as fsm_graph
from ...fsm.query import Query, get as get_record
from ...fsm.validation import is_id, is_name
from .. import params
from ..list_read import read_list
from ..handlers import cluster_view
from .context import Context
from .types import Consistency, Instance, InstancePage


def service_name(name: str, field: str = "name") -> str:
    if not is_name(name):
        raise errors.InvalidInput(f"{field} must be a service name", field)
    return name


def read_params(consistency: Consistency | None) -> params.ReadParams:
    q = MultiDict() if consistency is None else MultiDict(consistency=consistency.value)
    return params.read_params(q)


def list_query(name: str | None = None, status=None, tag=None, version: str | None = None, meta=None,
               depends_on: str | None = None, limit: int | None = None, cursor: str | None = None,
               include_removed: bool = False) -> Query:
    """The arguments as GET /v1/services?... would carry them, parsed by the same function."""
    q: MultiDict[str] = MultiDict()
    for s in status or ():
        q.add("status", s.value)
    for t in tag or ():
        q.add("tag", t)
    if version is not None:
        q.add("version", version)
    for m in meta or ():
        q.add("meta." + m.key, m.value)
    if depends_on is not None:
        q.add("depends_on", depends_on)
    if limit is not None:
        # GraphQL's Int may be negative: the REST parser's message names the range either way.
        q.add("limit", str(limit) if limit >= 0 else "-")
    if cursor is not None:
        q.add("cursor", cursor)
    if include_removed:
        q.add("include", "removed")
    return params.list_query(q, name=None if name is None else service_name(name))


async def instances(ctx: Context, query: Query, consistency: Consistency | None) -> InstancePage:
    store = ctx.store
    await store.sync(read_params(consistency).linearizable)
    listed = read_list(store, query)
    return InstancePage(instances=[Instance.of(r) for r in listed.records], revision=listed.revision,
                        next_cursor=None if listed.more is None else params.encode_cursor(listed.more))


async def instance(ctx: Context, name: str, iid: str, consistency: Consistency | None) -> Instance | None:
    service_name(name)
    if not is_id(iid):
        raise errors.InvalidInput("id must be an instance id", "id")
    store = ctx.store
    await store.sync(read_params(consistency).linearizable)
    record = store.read(lambda s: get_record(s, name, iid))
    return None if record is None else Instance.of(record)


async def graph(ctx: Context, consistency: Consistency | None) -> dict:
    await ctx.store.sync(read_params(consistency).linearizable)
    return ctx.graph()


async def impact(ctx: Context, name: str, iid: str | None, consistency: Consistency | None) -> dict:
    service_name(name)
    if iid is not None and not is_id(iid):
        raise errors.InvalidInput("id must be one instance id", "id")
    store = ctx.store
    await store.sync(read_params(consistency).linearizable)
    return store.read(lambda s: fsm_graph.impact(s, name, iid))


def cluster(ctx: Context) -> dict:
    return cluster_view(ctx.app)


def service_node(ctx: Context, name: str) -> dict | None:
    """The graph's node for ``name`` when the service has instances, else None."""
    node = ctx.node(service_name(name))
    return node if node is not None and node["registered"] else None
