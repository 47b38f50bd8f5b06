"""Operations of issue 13 as I/O-free generators: batches, lifecycle, picking, the graph.

Driven by ``Registry`` and ``AsyncRegistry`` exactly like ``_ops.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._client import Call, ClientCore, Kind, Op, json_object, segment
from ._models import Graph, Impact, Instance
from ._ops import filters, new_instance

BATCH = 500  # the server's maximum per request (POST /v1/services/batch)


def _path(name: str, id: str, tail: str = "") -> str:
    return f"/v1/services/{segment(name)}/{segment(id)}{tail}"


def _gen(generation: int | None) -> tuple[tuple[str, str], ...]:
    return () if generation is None else (("generation", str(generation)),)


def register_many(core: ClientCore, instances: Sequence[Instance | Mapping[str, Any]],
                  strict: bool | None = None, **call_opts: Any) -> Op[list[Instance]]:
    """POST /v1/services/batch: up to 500 instances as one committed command, all or none.

    Ids are chosen here when missing, so the request can be sent again
    safely. More than 500 raises ``ValueError``: several batches would no
    longer be all or nothing."""
    items = []
    for raw in instances:
        inst = raw if isinstance(raw, Instance) else Instance.from_dict(raw)
        if not inst.id:
            inst = new_instance(inst.name, None, **{k: getattr(inst, k) for k in (
                "version", "address", "port", "interfaces", "tags", "metadata", "dependencies", "ttl",
                "weight", "check")})
        items.append(inst.registration_body())
    if not 1 <= len(items) <= BATCH:
        raise ValueError(f"register_many takes 1..{BATCH} instances (one all-or-nothing batch)")
    query = () if strict is None else (("strict", "true" if strict else "false"),)
    response = yield Call("POST", "/v1/services/batch", query, body={"instances": items},
                          kind=Kind.IDEMPOTENT, **call_opts)
    return [Instance.from_dict(r) for r in json_object(response).get("instances", []) if isinstance(r, Mapping)]


def drain(core: ClientCore, name: str, id: str, deadline: float | None = None,
          generation: int | None = None) -> Op[Instance]:
    """Mark an instance draining; removed once ``deadline`` seconds pass (never, if None)."""
    response = yield Call("PUT", _path(name, id, "/drain"), _gen(generation), body={"deadline": deadline},
                          kind=Kind.IDEMPOTENT)
    return Instance.from_dict(json_object(response))


def undrain(core: ClientCore, name: str, id: str, generation: int | None = None) -> Op[Instance]:
    response = yield Call("DELETE", _path(name, id, "/drain"), _gen(generation), kind=Kind.IDEMPOTENT)
    return Instance.from_dict(json_object(response))


def maintenance(core: ClientCore, name: str, id: str, on: bool, reason: str | None = None) -> Op[Instance]:
    """Put an instance in maintenance (``on``) with a reason, or take it out."""
    if on:
        call = Call("PUT", _path(name, id, "/maintenance"), body={"reason": reason or ""}, kind=Kind.IDEMPOTENT)
    else:
        call = Call("DELETE", _path(name, id, "/maintenance"), kind=Kind.IDEMPOTENT)
    response = yield call
    return Instance.from_dict(json_object(response))


def choose(core: ClientCore, name: str, strategy: str = "round_robin", *,
           tags: str | Iterable[str] | None = None, version: str | None = None,
           metadata: Mapping[str, Any] | None = None, status: str | Iterable[str] | None = None) -> Op[Instance]:
    """The registry picks one instance of ``name`` (``GET ...?pick=``); ``NotFound`` (code ``no_instance``)
    when none qualifies."""
    query = filters(core, status=status, tags=tags, version=version, metadata=metadata)
    response = yield Call("GET", f"/v1/services/{segment(name)}", query + (("pick", strategy),))
    return Instance.from_dict(json_object(response))


def graph(core: ClientCore) -> Op[Graph]:
    response = yield Call("GET", "/v1/graph")
    return Graph.from_dict(json_object(response))


def impact(core: ClientCore, name: str, id: str | None = None) -> Op[Impact]:
    query = () if id is None else (("id", id),)
    response = yield Call("GET", f"/v1/graph/impact/{segment(name)}", query)
    return Impact.from_dict(json_object(response))
