"""Prometheus HTTP service discovery: ``GET /v1/sd/prometheus``.

One target group per instance with an address (``address:port``, or the
address alone, which Prometheus completes with its scheme's port), labelled
``__meta_manifest_*``: name, id, version, status, tags (``,a,b,`` as Consul SD
writes them), address, port, and one label per metadata key and per
interface, the key sanitised to a label name. ``service``, ``tag`` and
``status`` filter, each repeatable (tags must all match; statuses and
services any). Without a status filter every instance is listed and a
relabel rule decides, as Prometheus's own SD mechanisms do.
"""

from __future__ import annotations

import re

import orjson
from aiohttp import web

from ... import errors
from ...fsm import model
from ...fsm.query import Query, run
from ...fsm.validation import is_name, is_text
from ..keys import READ_HEADERS, STORE
from .state import COMPAT

PREFIX = "__meta_manifest_"
_NOT_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_KEYS = {"service", "tag", "status"}


def label_name(key: str) -> str:
    """``key`` as the tail of a Prometheus label name: every other character becomes ``_``."""
    return _NOT_LABEL.sub("_", key)


def _labels(record: dict) -> dict[str, str]:
    labels = {PREFIX + "name": record["name"], PREFIX + "id": record["id"],
              PREFIX + "version": record["version"] or "", PREFIX + "status": record["status"],
              PREFIX + "tags": "," + ",".join(record["tags"]) + "," if record["tags"] else "",
              PREFIX + "address": record["address"] or "",
              PREFIX + "port": "" if record["port"] is None else str(record["port"])}
    # Sorted, so that when two keys sanitise alike ("a.b", "a-b") the same one wins on every node.
    for group, values in (("metadata_", record["metadata"]), ("interface_", record["interfaces"])):
        for key in sorted(values):
            labels.setdefault(PREFIX + group + label_name(key), values[key])
    return labels


def _target(record: dict) -> str | None:
    address, port = record["address"], record["port"]
    if not address:
        return None
    host = f"[{address}]" if ":" in address and not address.startswith("[") else address
    return host if port is None else f"{host}:{port}"


def groups(records: list[dict]) -> list[dict]:
    out = []
    for record in records:
        target = _target(record)
        if target is not None:
            out.append({"targets": [target], "labels": _labels(record)})
    return out


def _filters(request: web.Request) -> tuple[tuple, tuple, tuple]:
    q = request.query
    for key in q:
        if key not in _KEYS:
            raise errors.InvalidInput(f"unknown query parameter {key!r}", key, code="unknown_field")
    services = tuple(sorted(set(q.getall("service", []))))
    if not all(is_name(s) for s in services):
        raise errors.InvalidInput("service must be a service name", "service")
    tags = tuple(sorted(set(q.getall("tag", []))))
    if not all(t and is_text(t) for t in tags):
        raise errors.InvalidInput("tag must be a non-empty string without control characters", "tag")
    statuses = tuple(sorted(set(q.getall("status", []))))
    if not all(s in model.STATUSES for s in statuses):
        raise errors.InvalidInput(f"status must be one of {', '.join(model.STATUSES)}", "status")
    return services, tags, statuses


async def targets(request: web.Request) -> web.Response:
    store = request.app[STORE]
    services, tags, statuses = _filters(request)
    bodies, key = request.app[COMPAT].bodies, ("prometheus", services, tags, statuses)

    def under_lock(state):
        # Labels show nothing a heartbeat changes without a revision: the revision keys the cache.
        hit = bodies.get(key, state.revision)
        if hit is not None:
            return state.revision, hit, None
        names = services or (None,)
        return state.revision, None, [r for name in names
                                      for r in run(state, Query(name=name, statuses=statuses, tags=tags))[0]]

    revision, body, records = store.read(under_lock)
    if body is None:
        body = orjson.dumps(groups(records))
        bodies.put(key, revision, body)
    return web.Response(body=body, headers=request.app[READ_HEADERS](revision))
