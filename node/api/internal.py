"""Node-to-node endpoints: followers forward writes and ask for read indexes here.

Bodies are msgpack, each carrying an HMAC of it keyed with the cluster
secret, so only members can propose through this door. A node without a
secret answers 403 to everything here unless it runs with ``--insecure``
(loopback only, config.py): then anyone who reaches the API can propose any
command, a forged MEMBER included (docs/security.md). The body's format is
named by ``X-Manifest-Forward-Format`` (peer_protocol.py); one this node does
not read is refused before anything is proposed.
"""

from __future__ import annotations

import re

import msgpack
from aiohttp import web

from .. import errors
from ..fsm.commands import CHECK, MEMBER, NAMES, TICK
from ..fsm.validation import member_problem
from ..peer_protocol import AUTH_HEADER, FORWARD_FORMAT_HEADER, FORWARD_FORMATS, encode_outcomes, verify
from . import body as _body
from .keys import CONFIG, STORE

_MAX_INTERNAL_BODY = 16 * 1024 * 1024
_FORMAT_NUMBER = re.compile(r"[0-9]{1,9}")


def forward_format(request: web.Request) -> int:
    """The body format the follower says it sent; refused unless this node reads it."""
    raw = request.headers.get(FORWARD_FORMAT_HEADER)
    if raw is None:
        return 1  # the previous release sends no header: its body is format 1
    if not _FORMAT_NUMBER.fullmatch(raw.strip()):
        raise errors.InvalidInput("must be a forwarding format number", FORWARD_FORMAT_HEADER)
    number = int(raw)
    if number not in FORWARD_FORMATS:
        # A 4xx, never a 5xx: the follower (another release) learns that this leader
        # cannot read it, and nothing was proposed (leader_client.py, _remote_error).
        age = "newer" if number > FORWARD_FORMATS[-1] else "older"
        raise errors.Unsupported(
            f"forwarding format {number} is {age} than this node reads "
            f"({FORWARD_FORMATS[0]}..{FORWARD_FORMATS[-1]}): the nodes run releases too far apart; "
            f"nothing was proposed", FORWARD_FORMAT_HEADER)
    return number


async def signed_body(request: web.Request) -> dict:
    cfg = request.app[CONFIG]
    if not cfg.cluster_secret and not cfg.insecure:
        # validate() refuses to start such a node; this keeps the door shut
        # for any other way of building the app.
        raise errors.Forbidden("internal endpoints need a cluster secret (or --insecure)")
    # Whole, before the signature is checked: a part of a body never verifies.
    raw = await _body.read(request, _MAX_INTERNAL_BODY, cfg.body_timeout)
    if not verify(cfg.cluster_secret, raw, request.headers.get(AUTH_HEADER, "")):
        raise errors.Unauthorized("missing or bad cluster signature", AUTH_HEADER)
    forward_format(request)  # one format so far: nothing to switch on yet
    try:
        body = msgpack.unpackb(raw, raw=False) if raw else {}
    except Exception:
        raise errors.InvalidInput("body is not msgpack", "body") from None
    if not isinstance(body, dict):
        raise errors.InvalidInput("body must be a map", "body")
    return body


def reply(body) -> web.Response:
    return web.Response(body=msgpack.packb(body, use_bin_type=True), content_type="application/msgpack",
                        headers={FORWARD_FORMAT_HEADER: str(FORWARD_FORMATS[-1])})


async def propose(request: web.Request) -> web.Response:
    body = await signed_body(request)
    commands = body.get("commands")
    if not isinstance(commands, list) or not all(isinstance(c, list) and c for c in commands):
        raise errors.InvalidInput("commands must be a list of commands", "commands")
    for i, c in enumerate(commands):
        # type() is int: a bool would pass for 1 and a list would not hash.
        if type(c[0]) is not int or c[0] not in NAMES or c[0] in (TICK, CHECK):
            # Ticks carry the leader's own clock, check results its own probes
            # (a deposed leader's must not reach the new one): never forwarded.
            raise errors.InvalidInput("unknown or forbidden command type", f"commands[{i}]")
        if c[0] == MEMBER and (problem := member_problem(c)) is not None:
            raise errors.InvalidInput(problem, f"commands[{i}]")
    index, outcomes = await request.app[STORE].leader_propose_many(commands)
    return reply({"index": index, "results": encode_outcomes(outcomes)})


async def read_index(request: web.Request) -> web.Response:
    await signed_body(request)
    return reply({"index": await request.app[STORE].leader_read_index()})
