"""Request bodies as other registries' clients send them.

Consul reads JSON whatever the Content-Type says (``curl -d`` sends a form
type, Python's requests none at all), so its endpoints do too. The bytes go
through the same reader as ours: size limit, read deadline, Content-Encoding.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from ... import errors
from .. import body
from ..keys import CONFIG


async def read_raw(request: web.Request) -> bytes:
    cfg = request.app[CONFIG]
    return await body.read(request, cfg.max_body, cfg.body_timeout)


async def read_json(request: web.Request, required: bool = True):
    raw = await read_raw(request)
    if not raw.strip():
        if required:
            raise errors.InvalidInput("a request body is required", "body", code="required")
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidInput(f"body is not valid JSON: {exc}", "body", code="malformed") from None
