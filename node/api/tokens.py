"""``/v1/tokens``: create, list, rotate and revoke API tokens (admin only, auth/permissions.py).

The node that receives a create or rotate draws the secret and its salt and
proposes only the salted hash (auth/tokens.py ``mint``); the secret is in
that one answer and nowhere else: not in the log, the snapshot, a listing
or the audit line.
"""

from __future__ import annotations

import datetime as dt
import re

from aiohttp import web

from .. import errors
from ..auth.tokens import mint
from ..fsm import commands
from ..fsm.results import Failed
from ..fsm.tokens import MAX_DESCRIPTION, MAX_PATTERNS, PATTERN_RE, ROLES, TokenRecord, is_pattern, is_token_id
from ..fsm.validation import is_text
from . import codec
from .keys import CONFIG, STORE

_FIELDS = ("role", "services", "ttl", "description", "any_owner")
_TTL = re.compile(r"([0-9]{1,9})([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL_S = 10 * 365 * 86400


def parse_ttl(value) -> int | None:
    """Milliseconds of a ttl given as seconds (a number) or ``90d``/``12h``/``30m``/``45s``; None: no expiry."""
    if value is None:
        return None
    if type(value) in (int, float) and value == value:
        seconds = value
    elif isinstance(value, str) and (m := _TTL.fullmatch(value)):
        seconds = int(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise errors.InvalidInput("ttl must be seconds, or a number with s, m, h or d (90d)", "ttl")
    if not 1 <= seconds <= MAX_TTL_S:
        raise errors.InvalidInput(f"ttl must be between 1 s and {MAX_TTL_S // 86400} days", "ttl")
    return int(seconds * 1000)


def _fields(body) -> dict:
    body = codec.object_with(body, _FIELDS)
    role = body.get("role")
    if role not in ROLES:
        raise errors.InvalidInput(f"role must be one of {', '.join(ROLES)}", "role",
                                  code="required" if role is None else "invalid")
    services = body.get("services", [])
    if not isinstance(services, list) or len(services) > MAX_PATTERNS or not all(map(is_pattern, services)):
        raise errors.InvalidInput(f"services must be a list of up to {MAX_PATTERNS} service-name patterns "
                                  f"({PATTERN_RE.pattern}; * and ? match)", "services")
    if (role == "service") != bool(services):
        raise errors.InvalidInput("a service token needs services patterns, and only a service token takes "
                                  "them", "services")
    description = body.get("description", "")
    if not is_text(description) or len(description) > MAX_DESCRIPTION:
        raise errors.InvalidInput(f"description must be text of at most {MAX_DESCRIPTION} characters, "
                                  "without control characters", "description")
    any_owner = body.get("any_owner", False)
    if type(any_owner) is not bool:
        raise errors.InvalidInput("any_owner must be true or false", "any_owner")
    out = {"role": role, "services": services, "description": description, "any_owner": any_owner}
    ttl = parse_ttl(body.get("ttl"))
    if ttl is not None:
        out["ttl_ms"] = ttl
    return out


def _time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe(record: TokenRecord, now_ms: int) -> dict:
    """A token's metadata: what listings show. Never the secret, the salt or the hash."""
    return {"id": record.id, "role": record.role, "services": list(record.services),
            "any_owner": record.any_owner, "description": record.description,
            "created_at": _time(record.created_ms), "expires_at": _time(record.expires_ms),
            "rotated_at": _time(record.rotated_ms), "expired": record.expired(now_ms)}


def _path_id(request: web.Request) -> str:
    token_id = request.match_info["id"]
    if not is_token_id(token_id):
        raise errors.InvalidInput("a token id is 16 hex digits", "id")
    return token_id


async def _commit(request: web.Request, command: list, token_id: str) -> dict:
    store = request.app[STORE]
    result = await store.propose(command)
    if isinstance(result, Failed):
        raise errors.for_failure(result)
    records, now = store.auth_view()
    record = records.get(token_id)
    if record is None:  # revoked by another request in between
        raise errors.NotFound(f"no token {token_id}")
    return describe(record, now)


async def create(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    fields = _fields(await codec.read_body(request, cfg.max_body, cfg.body_timeout))
    minted = mint()
    fields.update(salt=minted.salt, hash=minted.hash)
    body = await _commit(request, commands.token_put(minted.id, fields), minted.id)
    return codec.respond(request, {**body, "token": minted.token}, 201)


async def rotate(request: web.Request) -> web.Response:
    token_id = _path_id(request)
    cfg = request.app[CONFIG]
    body = await codec.read_body(request, cfg.max_body, cfg.body_timeout, required=False)
    if body is not None:
        codec.object_with(body, ())
    minted = mint(token_id)
    body = await _commit(request, commands.token_rotate(token_id, minted.salt, minted.hash), token_id)
    return codec.respond(request, {**body, "token": minted.token})


async def revoke(request: web.Request) -> web.Response:
    token_id = _path_id(request)
    cfg = request.app[CONFIG]
    body = await codec.read_body(request, cfg.max_body, cfg.body_timeout, required=False)
    if body is not None:
        codec.object_with(body, ())
    store = request.app[STORE]
    records, now = store.auth_view()
    record = records.get(token_id)
    result = await store.propose(commands.token_revoke(token_id))
    if isinstance(result, Failed):
        raise errors.for_failure(result)
    return codec.respond(request, describe(record, now) if record is not None else {"id": token_id})


async def list_tokens(request: web.Request) -> web.Response:
    for key in request.query:
        raise errors.InvalidInput(f"unknown query parameter {key!r}", key, code="unknown_field")
    records, now = request.app[STORE].auth_view()
    return codec.respond(request, {"tokens": [describe(r, now) for _, r in sorted(records.items())]})
