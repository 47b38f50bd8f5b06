"""The client's exception hierarchy, and the mapping from HTTP error bodies to it.

Every failure a caller can see is a :class:`ManifestError`::

    ManifestError                  anything the client raises on purpose
    ├── ConnectionFailed           no usable HTTP answer (refused, reset, DNS)   retriable
    │   ├── RequestTimeout         no answer within the per-request timeout       retriable
    │   └── TLSError               TLS could not be set up (untrusted certificate)
    ├── InvalidRequest       400   bad input; ``.field`` names it
    ├── Unauthorized         401   missing or bad credentials
    ├── Forbidden            403   not allowed
    ├── NotFound             404   unknown service or instance
    ├── Conflict             409
    ├── PayloadTooLarge      413
    ├── UnsupportedMediaType 415
    ├── TooManyRequests      429   a cap or a rate limit; ``.limit``, ``.retry_after``
    ├── InternalError        500   a bug in the server; ``.request_id`` finds it in its log
    ├── Unavailable          503   no leader / node not ready (also 502, 504)     retriable
    └── OutcomeUnknown             a write reached a node, or may have, and no answer
                                   says whether it was applied                    retriable

A write ends in one of three ways: it returns (applied), it raises any
error but ``OutcomeUnknown`` (not applied: the registry refused it, or it
provably never left the client), or it raises ``OutcomeUnknown`` (perhaps
applied: read the instance back, or send the write again when it is
idempotent, which settles it).

Each class carries ``status`` (HTTP status or ``None``), ``code`` (the
contract's machine-readable error code) and ``retriable``.  An error body of
the shape ``{"error": {"code", "message", "field"?}}`` fills them in; a status
the table does not know becomes a plain ``ManifestError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "ManifestError",
    "ConnectionFailed",
    "RequestTimeout",
    "TLSError",
    "InvalidRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "TooManyRequests",
    "InternalError",
    "Unavailable",
    "OutcomeUnknown",
    "error_from_response",
]


class ManifestError(Exception):
    """Base class of every error the Manifest client raises.

    Attributes:
        message: human-readable explanation.
        status: HTTP status of the answer, or ``None`` when there was none.
        code: machine-readable code from the error body (or the class default).
        endpoint: the registry endpoint that produced the error, when known.
        retriable: whether sending the same request again may succeed.
    """

    retriable: ClassVar[bool] = False
    default_code: ClassVar[str] = "error"
    default_status: ClassVar[int | None] = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status if status is not None else self.default_status
        self.code = code or self.default_code
        self.endpoint = endpoint

    def __str__(self) -> str:
        where = f" ({self.endpoint})" if self.endpoint else ""
        return f"{self.message}{where}"


class ConnectionFailed(ManifestError):
    """No usable HTTP answer came back: refused, reset, DNS failure, protocol error.

    ``sent`` is ``False`` only when the request provably never left the client
    (the connection could not be opened), which is what lets even a
    non-idempotent write be tried on another endpoint.
    """

    retriable = True
    default_code = "connection_failed"

    def __init__(self, message: str, *, sent: bool, endpoint: str | None = None) -> None:
        super().__init__(message, endpoint=endpoint)
        self.sent = sent


class RequestTimeout(ConnectionFailed):
    """The endpoint did not answer within the per-request timeout."""

    default_code = "timeout"


class TLSError(ConnectionFailed):
    """TLS could not be set up with the endpoint: its certificate is not trusted
    (give the CA that signed it), it refused ours, or it does not speak TLS.

    Not retriable: another try fails the same way until the configuration
    changes. The request never left (``sent`` is ``False``).
    """

    retriable = False
    default_code = "tls"

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message, sent=False, endpoint=endpoint)


class InvalidRequest(ManifestError):
    """400: the request was malformed; ``field`` names the offending input when known."""

    default_code = "invalid"
    default_status = 400

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} [field: {self.field}]" if self.field else base


class Unauthorized(ManifestError):
    """401: credentials are missing or wrong."""

    default_code = "unauthorized"
    default_status = 401


class Forbidden(ManifestError):
    """403: the credentials do not allow this operation."""

    default_code = "forbidden"
    default_status = 403


class NotFound(ManifestError):
    """404: the service or instance is unknown (a heartbeat must register again)."""

    default_code = "not_found"
    default_status = 404


class Conflict(ManifestError):
    """409: the request conflicts with the current state."""

    default_code = "conflict"
    default_status = 409


class PayloadTooLarge(ManifestError):
    """413: the request body exceeds the server's limit."""

    default_code = "payload_too_large"
    default_status = 413


class UnsupportedMediaType(ManifestError):
    """415: the request body's content type is not accepted."""

    default_code = "unsupported_media_type"
    default_status = 415


class TooManyRequests(ManifestError):
    """429: a cap was reached (``limit`` names the server's setting).

    ``code == "rate_limited"`` (a token's request rate) is retried by the
    client itself after ``Retry-After`` (see ``_client.py``); this reaches the
    caller only when that did not help. Any other cap (instances, watch
    streams) is not retried: it frees up only as instances leave.
    ``retry_after`` is the server's hint in seconds.
    """

    default_code = "too_many_requests"
    default_status = 429

    def __init__(
        self, message: str, *, limit: str | None = None, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit
        self.retry_after = retry_after


class InternalError(ManifestError):
    """500: the server hit a bug. Not an outage: sending the request again will not help.

    ``request_id`` names the failure in the server's log, when it said one.
    """

    default_code = "internal"
    default_status = 500

    def __init__(self, message: str, *, request_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_id = request_id


class Unavailable(ManifestError):
    """503 (or a gateway's 502/504): no leader, or the node is not ready yet.

    ``retry_after`` holds the server's ``Retry-After`` hint in seconds, if any.
    """

    retriable = True
    default_code = "unavailable"
    default_status = 503

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class OutcomeUnknown(ManifestError):
    """A write reached a node, or may have, and no answer says whether it was applied.

    ``cause`` is the last error seen (the lost answer, the refused retry).
    Neither success nor failure: the registry may hold the change. An
    idempotent write (register with an id, heartbeat, deregister) can simply
    be sent again; otherwise read the instance back to learn which it was.
    """

    retriable = True
    default_code = "outcome_unknown"

    def __init__(self, message: str, *, cause: ManifestError | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.cause = cause


_BY_STATUS: dict[int, type[ManifestError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: TooManyRequests,
    500: InternalError,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


# Seconds in ASCII digits: float() would also take "inf", "nan", "1_0" and
# other scripts' digits. The HTTP-date form is legal but no Manifest node sends it.
_SECONDS = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})?")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    return float(value) if value is not None and _SECONDS.fullmatch(value) else None


def error_from_response(
    status: int, body: bytes, headers: Mapping[str, str], endpoint: str | None = None
) -> ManifestError:
    """Build the exception matching an error answer (status, contract body, headers).

    ``headers`` must use lower-case keys, as :class:`Response` stores them.
    """
    detail: dict[str, Any] = {}
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        detail = parsed["error"]
    code = detail.get("code") if isinstance(detail.get("code"), str) else None
    message = detail.get("message") if isinstance(detail.get("message"), str) else None
    if not message:
        text = body.decode("utf-8", "replace").strip()[:200] if parsed is None else ""
        message = text or f"HTTP {status}"
    cls = _BY_STATUS.get(status, ManifestError)
    common: dict[str, Any] = {"status": status, "code": code, "endpoint": endpoint}
    if cls is InvalidRequest:
        field = detail.get("field")
        return InvalidRequest(message, field=field if isinstance(field, str) else None, **common)
    if cls is Unavailable:
        return Unavailable(message, retry_after=_retry_after(headers), **common)
    if cls is TooManyRequests:
        limit = detail.get("limit")
        return TooManyRequests(message, limit=limit if isinstance(limit, str) else None,
                               retry_after=_retry_after(headers), **common)
    if cls is InternalError:
        request_id = detail.get("request_id")
        return InternalError(message, request_id=request_id if isinstance(request_id, str) else None, **common)
    return cls(message, **common)
