"""``POST /v1/heartbeats``: many instances' heartbeats in one request.

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

from aiohttp import web

from .. import errors
from ..fsm import commands as C
from ..fsm.validation import ValidationError, check_id, check_name, check_reported_status
from . import codec
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
        commands.append(C.heartbeat(name, iid, status))
    return commands


async def heartbeats(request: web.Request) -> web.Response:
    commands = parse(await codec.read_body(request, request.app[CONFIG].max_body))
    request.app[METRICS].heartbeats.inc(len(commands))
    store = request.app[STORE]
    outcomes = await asyncio.gather(*(store.propose(c) for c in commands), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome  # they share entries: one unavailable means the answer is unknown
    results = []
    for command, result in zip(commands, outcomes):
        name, iid = command[1], command[2]
        if "error" in result:
            results.append({"name": name, "id": iid, "ok": False, "error": result["error"]})
        else:
            record = result["record"]
            results.append({"name": name, "id": iid, "ok": True, "status": record["status"],
                            "revision": record["revision"]})
    return codec.respond(request, {"results": results})
