"""The one error hierarchy every layer of the node raises and the API renders.

    ManifestError                 500 internal (never raised on purpose)
    ├── InvalidInput              400 invalid input; ``field`` names it
    │   └── Unsupported           400 a parameter this version does not support
    ├── Unauthorized              401 no or bad credentials
    ├── Forbidden                 403
    ├── NotFound                  404
    ├── Conflict                  409
    ├── PayloadTooLarge           413
    ├── UnsupportedMediaType      415
    └── Unavailable               503 retriable, with Retry-After
        ├── NoLeader              503 no leader known / election in progress
        ├── NotReady              503 node still catching up
        └── UnknownOutcome        503 a write that may or may not have committed

Rendered as ``{"error": {"code", "message", "field"?}}`` (CONTRACT.md, Errors).
"""

from __future__ import annotations


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


class InvalidInput(ManifestError):
    status, code = 400, "invalid"


class Unsupported(InvalidInput):
    code = "unsupported"


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


class Unavailable(ManifestError):
    status, code, retriable = 503, "unavailable", True
    retry_after = 1


class NoLeader(Unavailable):
    code = "no_leader"


class NotReady(Unavailable):
    code = "not_ready"


class UnknownOutcome(Unavailable):
    code = "unknown_outcome"


def from_result(result: dict) -> ManifestError:
    """Map an FSM error result (``{"error": code, ...}``) to an exception."""
    code, message, field = result["error"], result.get("message", ""), result.get("field")
    if code == "not_found":
        return NotFound(message, field)
    return InvalidInput(message, field, code=code)
