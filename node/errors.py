"""The one error hierarchy every layer of the node raises and the API renders.

    ManifestError                 500 internal (never raised on purpose)
    ├── InternalError             500 an unexpected exception: a bug, not an outage; ``request_id``
    ├── InvalidInput              400 invalid input; ``field`` names it
    │   ├── Unsupported           400 a parameter this version does not support
    │   └── IncompleteBody        400 the body ended early or broke its framing; closes the connection
    ├── Unauthorized              401 no or bad credentials
    ├── Forbidden                 403
    ├── NotFound                  404
    ├── Conflict                  409 the state refuses it: unmet_dependency, stale_generation,
    │                                 registry_not_empty (a restore without force)
    ├── PayloadTooLarge           413
    ├── UnsupportedMediaType      415
    ├── TooManyRequests           429 a limit of this node or registry; with Retry-After; ``limit``
    │   ├── TooManyInstances      429 an instance cap (registrations that would add one)
    │   ├── TooManyWatches        429 this node's cap on watch streams
    │   ├── TooManyTokens         429 the cap on tokens in the registry
    │   └── RateLimited           429 a token's or address's rate limit (auth/ratelimit.py)
    └── Unavailable               503 retriable, with Retry-After
        ├── NoLeader              503 no leader known / election in progress
        ├── NotReady              503 node still catching up
        ├── UnknownOutcome        503 a write that may or may not have committed
        └── RegionUnavailable     503 no node of the region asked for (``?region=``) answered

Rendered as ``{"error": {"code", "message", "field"?}}`` (CONTRACT.md, Errors).
Only Unavailable is retriable; it and TooManyRequests carry Retry-After.
"""

from __future__ import annotations

from .fsm.results import Code, Failed


class ManifestError(Exception):
    status = 500
    code = "internal"
    retriable = False

    def __init__(self, message: str, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def body(self) -> dict:
        err = {"code": self.code, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        return {"error": err}


class InternalError(ManifestError):
    """What a client sees of an unexpected exception: the id to find it in the log."""

    def __init__(self, message: str, request_id: str | None = None):
        super().__init__(message)
        self.request_id = request_id

    def body(self) -> dict:
        out = super().body()
        if self.request_id is not None:
            out["error"]["request_id"] = self.request_id
        return out


class InvalidInput(ManifestError):
    status, code = 400, "invalid"


class Unsupported(InvalidInput):
    code = "unsupported"


class IncompleteBody(InvalidInput):
    """The body ended or stalled early, or its chunked framing is broken. What
    follows may still arrive and would be read as the next request, so the
    answer closes the connection."""

    code = "incomplete_body"


class Unauthorized(ManifestError):
    status, code = 401, "unauthorized"


class Forbidden(ManifestError):
    status, code = 403, "forbidden"


class NotFound(ManifestError):
    status, code = 404, "not_found"


class Conflict(ManifestError):
    status, code = 409, "conflict"


class PayloadTooLarge(ManifestError):
    status, code = 413, "too_large"


class UnsupportedMediaType(ManifestError):
    status, code = 415, "unsupported_media_type"


class TooManyRequests(ManifestError):
    """A cap was reached. ``limit`` names the setting; Retry-After says when to look again."""

    status, code = 429, "too_many_requests"
    retry_after = 5

    def __init__(self, message: str, limit: str | None = None):
        super().__init__(message)
        self.limit = limit

    def body(self) -> dict:
        out = super().body()
        if self.limit is not None:
            out["error"]["limit"] = self.limit
        return out


class TooManyInstances(TooManyRequests):
    code = "too_many_instances"
    retry_after = 30  # room comes back only as instances leave: expire (ttl) or deregister


class TooManyWatches(TooManyRequests):
    code = "too_many_watches"


class TooManyTokens(TooManyRequests):
    code = "too_many_tokens"
    retry_after = 60  # room comes back only as an admin revokes tokens


class RateLimited(TooManyRequests):
    """A token's (or address's) request rate passed its bucket; Retry-After says when one is free."""

    code = "rate_limited"

    def __init__(self, message: str, limit: str, retry_after: int):
        super().__init__(message, limit)
        self.retry_after = retry_after


class Unavailable(ManifestError):
    status, code, retriable = 503, "unavailable", True
    retry_after = 1


class NoLeader(Unavailable):
    code = "no_leader"


class NotReady(Unavailable):
    code = "not_ready"


class RegionUnavailable(Unavailable):
    """A read for another region (node/federation/) found none of its nodes answering."""

    code = "region_unavailable"
    retry_after = 2


class UnknownOutcome(Unavailable):
    code = "unknown_outcome"


# Every code apply can return, and the error it is to a client. Exhaustive on
# purpose (tests/test_errors.py): a new code must be placed here, not fall
# through to a 400.
_FOR_CODE: dict[Code, type[ManifestError]] = {
    Code.NOT_FOUND: NotFound,
    Code.TOO_MANY_INSTANCES: TooManyInstances,
    Code.NOT_A_MEMBER: Forbidden,
    Code.BAD_COMMAND: InvalidInput,
    Code.INVALID: InvalidInput,
    Code.REQUIRED: InvalidInput,
    Code.READ_ONLY: InvalidInput,
    Code.NOT_OWNER: Forbidden,
    Code.OUT_OF_SCOPE: Forbidden,
    Code.TOKEN_INVALID: Unauthorized,
    Code.TOKEN_EXISTS: Conflict,
    Code.TOO_MANY_TOKENS: TooManyTokens,
    Code.UNKNOWN_FIELD: InvalidInput,
    Code.UNMET_DEPENDENCY: Conflict,
    Code.STALE_GENERATION: Conflict,
    Code.NOT_EMPTY: Conflict,
}


def for_failure(result: Failed) -> ManifestError:
    """The exception a client gets for a command apply refused."""
    cls = _FOR_CODE[result.code]
    if issubclass(cls, TooManyRequests):
        return cls(result.message, result.limit)
    if cls in (InvalidInput, Conflict):  # a family: the code says which one
        return cls(result.message, result.field, code=str(result.code))
    # Token refusals keep their own code: a client tells "bound to another token" from "not yours".
    own = str(result.code) if result.code in _OWN_CODE else None
    return cls(result.message, result.field, code=own)


_OWN_CODE = frozenset({Code.NOT_OWNER, Code.OUT_OF_SCOPE, Code.TOKEN_INVALID})


class StartupError(Exception):
    """The node cannot start; the message is one line for the operator (exit 2).

    Not a ManifestError: it never reaches a client."""
