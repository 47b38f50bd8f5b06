"""``POST /v1/heartbeats`` and ``POST /v1/services/batch``: many instances in one request.

Registrations in a batch are one command, applied all or none; see
``register_many`` below. Heartbeats:

An HTTP request costs a node about as much CPU as applying fifty heartbeats,
so a fleet beating one request per instance is bounded by HTTP, not by Raft:
an agent or a process that hosts many instances sends their heartbeats
together. Each item becomes the same HEARTBEAT command as
``PUT /v1/services/{name}/{id}/heartbeat``; they are proposed together, so
they commit in the same log entry (or entries) and the answer comes once all
of them are committed. Validation is all-or-nothing: one bad item gets a 400
naming it (``heartbeats[3].id``) and nothing is proposed.
"""

from __future__ import annotations

import asyncio
import uuid

from aiohttp import web

from .. import errors
from ..auth.guard import TARGET, scope, scope_many
from ..fsm.batch import validate_items
from ..fsm.commands import batch as batch_command
from ..fsm.commands import heartbeat
from ..fsm.results import Code, Failed
from ..fsm.validation import ValidationError, check_id, check_name, check_reported_status
from . import codec, params
from .handlers import check_target
from .keys import CONFIG, METRICS, STORE

# 500 items of typical names and ids fit the default 64 KiB body limit (--max-body),
# which applies too: a client with long ids sends smaller batches.
MAX_BATCH = 500
_ITEM_FIELDS = frozenset(("name", "id", "status"))


def parse(body) -> list[list]:
    """HEARTBEAT commands of a batch body, or InvalidInput naming the first bad field."""
    items = codec.object_with(body, ("heartbeats",)).get("heartbeats")
    if not isinstance(items, list):
        raise errors.InvalidInput("heartbeats must be a list of {name, id[, status]}", "heartbeats",
                                  code="required" if items is None else "invalid")
    if not 1 <= len(items) <= MAX_BATCH:
        raise errors.InvalidInput(f"heartbeats holds 1..{MAX_BATCH} items", "heartbeats")
    commands, seen = [], set()
    for i, item in enumerate(items):
        where = f"heartbeats[{i}]"
        codec.object_with(item, _ITEM_FIELDS, where)
        try:
            name = check_name(item.get("name"), f"{where}.name")
            iid = check_id(item.get("id"), f"{where}.id")
            status = item.get("status")
            if status is not None:
                check_reported_status(status, f"{where}.status")
        except ValidationError as exc:
            raise errors.InvalidInput(exc.message, exc.field, code=exc.code) from None
        if (name, iid) in seen:
            raise errors.InvalidInput(f"{where} repeats {name}/{iid}", where)
        seen.add((name, iid))
        commands.append(heartbeat(name, iid, status))
    return commands


async def heartbeats(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    commands = parse(await codec.read_body(request, cfg.max_body, cfg.body_timeout))
    # All or nothing, like validation: one item outside a service token's patterns refuses the batch.
    scoped = [scope(request, c[1], c) for c in commands]
    metrics = request.app[METRICS]
    metrics.heartbeats.inc(len(commands))
    store = request.app[STORE]
    outcomes = await asyncio.gather(*(store.propose(c) for c in scoped), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            # They share entries: one unavailable means the answer is unknown for all.
            code = outcome.code if isinstance(outcome, errors.ManifestError) else "internal"
            metrics.heartbeat_failed(code, len(commands))
            raise outcome
    results = []
    for command, result in zip(commands, outcomes):
        name, iid = command[1], command[2]
        if isinstance(result, Failed):
            metrics.heartbeat_failed(errors.for_failure(result).code)
            results.append({"name": name, "id": iid, "ok": False, "error": str(result.code)})
        else:
            record = result.record
            results.append({"name": name, "id": iid, "ok": True, "status": record["status"],
                            "revision": record["revision"]})
    return codec.respond(request, {"results": results})


# ---- POST /v1/services/batch --------------------------------------------------
async def register_many(request: web.Request) -> web.Response:
    """Up to 500 registrations as ONE command: all applied, or none (fsm/batch.py)."""
    cfg = request.app[CONFIG]
    params.only(request.query, ("strict",))
    strict = params.flag(request.query, "strict", cfg.strict_dependencies)
    body = codec.object_with(await codec.read_body(request, cfg.max_batch_body, cfg.body_timeout), ("instances",))
    if "instances" not in body:
        raise errors.InvalidInput("instances is required", "instances", code="required")
    try:
        items = validate_items(body["instances"])
    except ValidationError as exc:
        raise errors.InvalidInput(exc.message, exc.field, code=exc.code) from None
    for fields in items:
        # The receiving node stamps identity; apply() must never draw randomness.
        fields.setdefault("id", f"{fields['name']}-{uuid.uuid4().hex[:12]}")
    names = {f["name"] for f in items}
    # The audit line's service: the batch's one service, or null when it spans several.
    request[TARGET] = (names.pop() if len(names) == 1 else None, None)
    command = batch_command(items, (cfg.max_instances, cfg.max_instances_per_service), strict)
    command = scope_many(request, [f["name"] for f in items], command)
    for at, fields in enumerate(items):
        check_target(request, fields, f"instances[{at}].")
    result = await request.app[STORE].propose(command)
    if isinstance(result, Failed):
        if result.code is Code.TOO_MANY_INSTANCES:
            request.app[METRICS].refused(result.limit)
        raise errors.for_failure(result)
    out = []
    for written in result.items:
        record = {**written.record, "created": written.created}
        if written.warnings:
            record["warnings"] = list(written.warnings)
        out.append(record)
    revision = max(r["revision"] for r in out)
    created = any(w.created for w in result.items)
    return codec.respond(request, {"instances": out, "revision": revision}, 201 if created else 200,
                         {"X-Manifest-Index": str(revision)})
