"""``/v1/cluster/members``: add and remove voters (admin: P.MEMBERSHIP), and the nodes' side of it.

The rules (one change at a time, never without a reachable majority, the
leader hands over before it is removed) live in
consensus/membership_change.py; this module parses and answers. Any node
takes the request: a follower forwards it to the leader, signed.
``/v1/internal/join`` and ``/v1/internal/membership`` are node to node,
signed with the cluster secret like the other internal endpoints.
"""

from __future__ import annotations

import re

from aiohttp import web

from .. import errors
from . import codec
from .internal import reply, signed_body
from .keys import CONFIG, STORE

_NODE = re.compile(r"[A-Za-z0-9._:\[\]-]{1,260}")
_RAFT = re.compile(r"[A-Za-z0-9.\-\[\]:]{1,253}:[0-9]{1,5}")
_API = re.compile(r"https?://[\x21-\x2e\x30-\x7e]{1,300}/?")


def _raft(value) -> str:
    if not isinstance(value, str) or not _RAFT.fullmatch(value) or not 0 < int(value.rpartition(":")[2]) < 65536:
        raise errors.InvalidInput("raft must be the new node's Raft address, HOST:PORT", "raft",
                                  code="required" if value is None else "invalid")
    return value


def _api(value) -> str:
    if not isinstance(value, str) or not _API.fullmatch(value):
        raise errors.InvalidInput("api must be the new node's API URL, http(s)://HOST:PORT", "api",
                                  code="required" if value is None else "invalid")
    return value.rstrip("/")


def _node(value) -> str:
    if not isinstance(value, str) or not _NODE.fullmatch(value):
        raise errors.InvalidInput("node must be a member's id or its Raft address", "node")
    return value


async def add(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    body = codec.object_with(await codec.read_body(request, cfg.max_body, cfg.body_timeout), ("raft", "api"))
    raft, api = _raft(body.get("raft")), _api(body.get("api"))
    return codec.respond(request, await request.app[STORE].add_member(raft, api), 201)


async def remove(request: web.Request) -> web.Response:
    node = _node(request.match_info["node"])
    cfg = request.app[CONFIG]
    body = await codec.read_body(request, cfg.max_body, cfg.body_timeout, required=False)
    if body is not None:
        codec.object_with(body, ())
    return codec.respond(request, await request.app[STORE].remove_member(node))


# ---- node to node --------------------------------------------------------------
async def internal_join(request: web.Request) -> web.Response:
    body = await signed_body(request)
    return reply(request.app[STORE].accept_join(_raft(body.get("raft")), body.get("members")))


async def internal_change(request: web.Request) -> web.Response:
    body = await signed_body(request)
    store = request.app[STORE]
    if store.status().role != "leader":  # forwarded once; a second hop would chase an election
        raise errors.NoLeader("this node is not the leader; retry")
    op = body.get("op")
    if op == "add":
        return reply(await store.add_member(_raft(body.get("raft")), _api(body.get("api"))))
    if op == "remove":
        return reply(await store.remove_member(_node(body.get("node"))))
    raise errors.InvalidInput("op must be add or remove", "op")
