"""The registry operations as I/O-free generators, driven by ``Registry`` and ``AsyncRegistry``.

Each function yields :class:`~._client.Call` objects and returns the parsed
result; see ``_client.py`` for the protocol.  Keeping pagination, 404
handling and the stale-if-error cache here means both clients behave the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._client import Call, ClientCore, Kind, Op, json_object, segment
from ._errors import ConnectionFailed, ManifestError, Unavailable
from ._models import ClusterInfo, Health, Instance, Instances

# A guard against a server that keeps handing out cursors.
_MAX_PAGES = 1000


def _instance_path(name: str, id: str) -> str:
    return f"/v1/services/{segment(name)}/{segment(id)}"


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def filters(
    core: ClientCore,
    *,
    status: str | Iterable[str] | None = None,
    tags: str | Iterable[str] | None = None,
    version: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    depends_on: str | None = None,
    include_removed: bool = False,
    region: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """The contract's list filters as query parameters (``region``: another region's, or ``*``)."""
    query = [("status", s) for s in _as_list(status)]
    if include_removed:
        query.append(("include", "removed"))
    query += [("tag", t) for t in _as_list(tags)]
    if version:
        query.append(("version", version))
    query += [(f"meta.{k}", str(v)) for k, v in (metadata or {}).items()]
    if depends_on:
        query.append(("depends_on", depends_on))
    if core.consistency:
        query.append(("consistency", core.consistency))
    if region:
        query.append(("region", region))
    return tuple(query)


def _revision(response: Any, data: Mapping[str, Any] | None = None) -> int:
    value = (data or {}).get("revision")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(response.headers.get("x-manifest-index", "0"))
    except ValueError:
        return 0


def _pages(call: Call) -> Op[tuple[Instances, Any]]:
    """Follow ``next_cursor`` and concatenate; a 404 (if accepted) is an empty list."""
    items = Instances()
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        response = yield (call if cursor is None else call.with_query(("cursor", cursor)))
        if response.status == 404:
            return Instances(revision=_revision(response)), response
        data = json_object(response)
        raw = data.get("instances") or []
        items.extend(Instance.from_dict(r) for r in raw if isinstance(r, Mapping))
        items.revision = max(items.revision, _revision(response, data))
        cursor = data.get("next_cursor") or None
        if not cursor:
            break
    return items, response


def new_instance(name: str, id: str | None, **fields: Any) -> Instance:
    """An :class:`Instance` for ``register()``, with a generated id when none is given.

    The id is chosen here, before the first attempt, so that every retry of
    the registration names the same instance (and so may be sent again).
    """
    return Instance(name=name, id=id or f"{name}-{uuid.uuid4().hex[:12]}", **fields)


def register(core: ClientCore, instance: Instance, strict: bool | None = None,
             **call_opts: Any) -> Op[Instance]:
    """POST one instance; idempotent (and so retriable) only when it has an id.

    ``strict`` True: refused (``Conflict``, code ``unmet_dependency``) when a
    dependency has no up instance in range; None: the cluster's default."""
    kind = Kind.IDEMPOTENT if instance.id else Kind.UNSAFE
    query = () if strict is None else (("strict", "true" if strict else "false"),)
    response = yield Call(
        "POST", "/v1/services", query, body=instance.registration_body(), kind=kind, **call_opts
    )
    return Instance.from_dict(json_object(response))


def heartbeat(
    core: ClientCore, name: str, id: str, status: str = "up", *, generation: int | None = None,
    load: float | None = None, metadata: Mapping[str, str | None] | None = None, **call_opts: Any
) -> Op[Instance | None]:
    """PUT a heartbeat; returns the updated record when the server sends one.

    ``generation``: the registration's, so a replaced (fenced) registrant is
    told ``Conflict`` (``stale_generation``) instead of keeping the new one
    alive. ``load`` in 0..1; ``metadata`` a patch (None removes a key)."""
    if status not in ("up", "unhealthy"):
        raise ValueError("heartbeat status must be 'up' or 'unhealthy'")
    body: dict[str, Any] = {"status": status}
    if generation is not None:
        body["generation"] = generation
    if load is not None:
        body["load"] = load
    if metadata:
        body["metadata"] = dict(metadata)
    response = yield Call(
        "PUT", _instance_path(name, id) + "/heartbeat", body=body,
        kind=Kind.IDEMPOTENT, **call_opts,
    )
    try:
        data = response.json()
    except ValueError:
        return None
    return Instance.from_dict(data) if isinstance(data, dict) and "name" in data else None


HEARTBEAT_BATCH = 250  # well inside the server's 500 items and 64 KiB, even with long ids


def heartbeat_many(core: ClientCore, items: Sequence[tuple[str, str] | tuple[str, str, str]],
                   **call_opts: Any) -> Op[list[dict]]:
    """POST /v1/heartbeats: one request for many instances, ``(name, id[, status])`` each.

    Returns one result per item, in order: ``{"name", "id", "ok": True, "status", "revision"}``
    or ``{"name", "id", "ok": False, "error": "not_found"}`` (that one must register again)."""
    body = []
    for item in items:
        name, id, *rest = item
        entry = {"name": name, "id": id}
        if rest:
            if rest[0] not in ("up", "unhealthy"):
                raise ValueError("heartbeat status must be 'up' or 'unhealthy'")
            entry["status"] = rest[0]
        body.append(entry)
    results: list[dict] = []
    for start in range(0, len(body), HEARTBEAT_BATCH):  # the server takes at most 500 per request
        response = yield Call("POST", "/v1/heartbeats", body={"heartbeats": body[start:start + HEARTBEAT_BATCH]},
                              kind=Kind.IDEMPOTENT, **call_opts)
        results += json_object(response)["results"]
    return results


def deregister(core: ClientCore, name: str, id: str, generation: int | None = None,
               **call_opts: Any) -> Op[None]:
    """DELETE one instance; with ``generation`` only if that registration still owns it."""
    query = () if generation is None else (("generation", str(generation)),)
    yield Call("DELETE", _instance_path(name, id), query, kind=Kind.IDEMPOTENT, **call_opts)


def get(core: ClientCore, name: str, id: str) -> Op[Instance]:
    """One instance by name and id."""
    query = (("consistency", core.consistency),) if core.consistency else ()
    response = yield Call("GET", _instance_path(name, id), query)
    return Instance.from_dict(json_object(response))


def list_instances(core: ClientCore, *, service: str | None = None, **filter_args: Any) -> Op[Instances]:
    """All instances, or one service's (``NotFound`` if it was never registered)."""
    path = f"/v1/services/{segment(service)}" if service else "/v1/services"
    items, _ = yield from _pages(Call("GET", path, filters(core, **filter_args)))
    return items


def discover(
    core: ClientCore,
    name: str,
    *,
    tags: str | Iterable[str] | None = None,
    version: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    status: str | Iterable[str] | None = "up",
    region: str | None = None,
    failover: bool | str = False,
) -> Op[Instances]:
    """Instances of ``name`` matching the filters; empty when the service is unknown.

    ``region``: another region's instances (``*``: every region's, each with ``extra["region"]``);
    ``failover``: True (the node's policy) or ``"nearest"``: another region's when this one has none."""
    query = filters(core, status=status, tags=tags, version=version, metadata=metadata, region=region)
    if failover:
        query += (("failover", "true" if failover is True else str(failover)),)
    call = Call("GET", f"/v1/services/{segment(name)}", query, accept=frozenset({404}))
    try:
        items, last = yield from _pages(call)
    except (ConnectionFailed, Unavailable):
        stale = core.cache.fallback(call.target) if core.cache else None
        if stale is None:
            raise
        return stale
    if core.cache is None:
        return items
    leader_known = bool(last.headers.get("x-manifest-leader", "").strip())
    return core.cache.store(call.target, items, leader_known=leader_known)


def cluster(core: ClientCore) -> Op[ClusterInfo]:
    """The cluster as the answering node sees it; also refreshes the endpoint pool."""
    response = yield Call("GET", "/v1/cluster")
    info = ClusterInfo.from_dict(json_object(response))
    core.pool.update_members((m.api for m in info.members if m.api), info.leader)
    return info


def refresh_members(core: ClientCore, trigger: Call | None = None) -> Op[None]:
    """Best-effort member discovery: one round, errors swallowed.

    When a request triggers it, it gets no longer a timeout than that request
    (and at most 2 s), so that it can never make a heartbeat late.
    """
    timeout = min(2.0, (trigger.timeout if trigger else None) or core.timeout)
    try:
        response = yield Call("GET", "/v1/cluster", rounds=1, timeout=timeout)
        info = ClusterInfo.from_dict(json_object(response))
    except ManifestError:
        return None
    core.pool.update_members((m.api for m in info.members if m.api), info.leader)
    return None


def health(core: ClientCore, endpoint: str | None = None) -> Op[Health]:
    """One node's readiness: ``endpoint``'s, or the first node that answers."""
    response = yield Call("GET", "/v1/health", endpoint=endpoint, accept=frozenset({503}))
    try:
        data = response.json()
    except ValueError:
        data = None
    return Health.from_dict(
        data if isinstance(data, dict) else {}, endpoint=response.endpoint, ready=response.status == 200
    )


def health_all(core: ClientCore) -> Op[list[Health]]:
    """Readiness of every known node; an unreachable one is reported, not raised."""
    yield from refresh_members(core)
    report: list[Health] = []
    for url in core.pool.endpoints:
        try:
            report.append((yield from health(core, url)))
        except ConnectionFailed as exc:
            report.append(Health(url, ready=False, status="unreachable", extra={"error": exc.message}))
    return report


def metrics(core: ClientCore, endpoint: str | None = None) -> Op[str]:
    """The Prometheus text of ``endpoint`` (or of the first node that answers)."""
    response = yield Call("GET", "/metrics", endpoint=endpoint)
    return response.body.decode("utf-8", "replace")
