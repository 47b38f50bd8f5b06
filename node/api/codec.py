"""Request bodies in, response bodies out: JSON or msgpack by content negotiation."""

from __future__ import annotations

import msgpack
import orjson
from aiohttp import web

from .. import errors
from . import body as _body

JSON = "application/json"
MSGPACK = "application/msgpack"
_MSGPACK_TYPES = (MSGPACK, "application/x-msgpack", "application/vnd.msgpack")


async def read_body(request: web.Request, max_body: int, timeout: float, required: bool = True):
    """Decode the whole body as JSON or msgpack; errors are 4xx and name the problem."""
    raw = await _body.read(request, max_body, timeout)
    if not raw:
        if required:
            raise errors.InvalidInput("a request body is required", "body", code="required")
        return None
    ctype = request.content_type
    if ctype in _MSGPACK_TYPES:
        try:
            return msgpack.unpackb(raw, raw=False, strict_map_key=True)
        except Exception:
            raise errors.InvalidInput("body is not valid msgpack", "body", code="malformed") from None
    if ctype == JSON or ctype.endswith("+json") or (ctype == "application/octet-stream" and not request.headers.get("Content-Type")):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise errors.InvalidInput(f"body is not valid JSON: {exc}", "body", code="malformed") from None
    raise errors.UnsupportedMediaType(f"unsupported content type {ctype!r}; use {JSON} or {MSGPACK}",
                                      "Content-Type")


def object_with(body, allowed, where: str = "body") -> dict:
    """``body`` as an object holding only ``allowed`` keys, or InvalidInput naming the culprit."""
    if not isinstance(body, dict):
        raise errors.InvalidInput(f"{where} must be an object", where)
    unknown = set(body).difference(allowed)
    if unknown:
        key = sorted(map(str, unknown))[0]
        field = key if where == "body" else f"{where}.{key}"
        raise errors.InvalidInput(f"unknown field {key!r}", field, code="unknown_field")
    return body


def wants_msgpack(request: web.Request) -> bool:
    accept = request.headers.get("Accept")
    # Every msgpack type contains "msgpack": one substring test decides most requests.
    return accept is not None and "msgpack" in accept and any(t in accept for t in _MSGPACK_TYPES)


def dumps(obj, as_msgpack: bool) -> bytes:
    return msgpack.packb(obj, use_bin_type=True) if as_msgpack else orjson.dumps(obj)


# Records per serializer call in dumps_array: orjson and msgpack hold the GIL for a whole
# call, and 100,000 records in one took ~150 ms of it from pysyncobj's tick thread.
ARRAY_CHUNK = 2_000


def dumps_array(items: list, as_msgpack: bool) -> bytes:
    """``dumps(items)``, serialized ``ARRAY_CHUNK`` items at a time and joined once."""
    if len(items) <= ARRAY_CHUNK:
        return dumps(items, as_msgpack)
    parts = [dumps(items[i:i + ARRAY_CHUNK], as_msgpack) for i in range(0, len(items), ARRAY_CHUNK)]
    if as_msgpack:
        # Each part is an array: drop its header (1, 3 or 5 bytes by its length), write one for all.
        return b"".join([_msgpack_array_header(len(items)),
                         *(memoryview(p)[_array_header_size(min(ARRAY_CHUNK, len(items) - i * ARRAY_CHUNK)):]
                           for i, p in enumerate(parts))])
    return b"".join([b"[", b",".join([memoryview(p)[1:-1] for p in parts]), b"]"])


def _array_header_size(n: int) -> int:
    return 1 if n <= 15 else 3 if n <= 0xFFFF else 5


def _msgpack_array_header(n: int) -> bytes:
    return msgpack.Packer().pack_array_header(n)


def respond(request: web.Request, body, status: int = 200, headers: dict | None = None) -> web.Response:
    as_msgpack = wants_msgpack(request)
    return raw_response(dumps(body, as_msgpack), as_msgpack, status, headers)


def raw_response(data: bytes, as_msgpack: bool, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=data, status=status, content_type=MSGPACK if as_msgpack else JSON,
                        headers=headers)


def list_body(instances: bytes, revision: int, next_cursor: str | None, as_msgpack: bool,
              protection: dict | None = None) -> bytes:
    """``{"instances": <pre-rendered array>, "revision": N[, "next_cursor": C]
    [, "protected": true, "protection": {reason, since}]}``."""
    if as_msgpack:
        head = bytes([0x82 + bool(next_cursor) + 2 * bool(protection)])
        parts = [head, msgpack.packb("instances"), instances, msgpack.packb("revision"), msgpack.packb(revision)]
        if next_cursor:
            parts += [msgpack.packb("next_cursor"), msgpack.packb(next_cursor)]
        if protection:
            parts += [msgpack.packb("protected"), msgpack.packb(True), msgpack.packb("protection"),
                      msgpack.packb(protection)]
        return b"".join(parts)
    # One join: each + copied the whole (maybe tens of megabytes) array again, holding the GIL.
    parts = [b'{"instances":', instances, b',"revision":', str(revision).encode()]
    if next_cursor:
        parts += [b',"next_cursor":', orjson.dumps(next_cursor)]
    if protection:
        parts += [b',"protected":true,"protection":', orjson.dumps(protection)]
    parts.append(b"}")
    return b"".join(parts)


def error_response(request: web.Request, exc: errors.ManifestError) -> web.Response:
    headers = {}
    if isinstance(exc, (errors.Unavailable, errors.TooManyRequests)):
        headers["Retry-After"] = str(exc.retry_after)
    response = respond(request, exc.body(), exc.status, headers)
    if isinstance(exc, errors.IncompleteBody):
        response.force_close()
    return response
