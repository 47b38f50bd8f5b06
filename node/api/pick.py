"""``GET /v1/services/{name}?pick=STRATEGY``: one instance chosen by the node.

The rules are the client's (client/_pick.py), so an application may choose
locally or ask the registry and get the same behaviour:

- candidates are the instances matching every filter; without ``status=``
  only ``up`` ones (so never ``draining``, ``maintenance``, ``starting``);
  an instance of weight 0 is never picked;
- ``random``: uniform; ``weighted``: in proportion to ``weight``;
- ``least_loaded``: the lowest ``load``; instances that never reported one
  come after all that did; ties are broken at random;
- ``round_robin``: in (name, id) order, one counter per service and query on
  this node.

Randomness is fine here: this is a read, never part of apply. 404
``no_instance`` when no candidate qualifies.
"""

from __future__ import annotations

import dataclasses
import random

from aiohttp import web

from .. import errors
from ..fsm.query import matching_keys
from ..fsm.validation import is_name
from . import codec, params
from .keys import READ_HEADERS, STORE

_rng = random.Random()
_turns: dict[tuple, int] = {}
_MAX_COUNTERS = 10_000


def choose(records: list[dict], strategy: str, turn_key, rng: random.Random = _rng) -> dict | None:
    pool = [r for r in records if r.get("weight", 1) > 0]
    if not pool:
        return None
    if strategy == "random":
        return rng.choice(pool)
    if strategy == "weighted":
        return rng.choices(pool, weights=[r["weight"] for r in pool])[0]
    if strategy == "least_loaded":
        known = [r for r in pool if r.get("load") is not None]
        if not known:
            return rng.choice(pool)
        lowest = min(r["load"] for r in known)
        return rng.choice([r for r in known if r["load"] == lowest])
    ordered = sorted(pool, key=lambda r: (r["name"], r["id"]))
    if len(_turns) >= _MAX_COUNTERS:
        _turns.clear()  # rare: a client sending ever-new queries; rotation restarts
    turn = _turns.get(turn_key, 0)
    _turns[turn_key] = turn + 1
    return ordered[turn % len(ordered)]


async def handle(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not is_name(name):
        raise errors.InvalidInput("name must be a service name", "name")
    strategy = params.pick_strategy(request.query)
    rp = params.read_params(request.query)
    if rp.index is not None:
        raise errors.Unsupported("blocking reads do not pick: leave out index and wait", "index")
    query = params.list_query(request.query, name=name)
    if query.include_removed:
        raise errors.InvalidInput("removed instances are never picked", "include")
    if not query.statuses:
        query = dataclasses.replace(query, statuses=("up",))
    query = dataclasses.replace(query, limit=None, after=None)
    store = request.app[STORE]
    await store.sync(rp.linearizable)

    def under_lock(state):
        keys = matching_keys(state, query)
        return [state.instances[k].to_record() for k in keys], state.service_rev.get(name)

    records, index = store.read(under_lock)
    if index is None:
        raise errors.NotFound(f"no service {name!r} was ever registered")
    chosen = choose(records, strategy, (name, request.rel_url.raw_query_string))
    if chosen is None:
        raise errors.NotFound(f"no instance of {name!r} qualifies for {strategy}", "pick", code="no_instance")
    as_msgpack = codec.wants_msgpack(request)
    return web.Response(body=codec.dumps(chosen, as_msgpack), headers=request.app[READ_HEADERS](index, as_msgpack))
