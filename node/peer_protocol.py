"""The node-to-node HTTP protocol: paths, signatures, and how replies are encoded.

A follower POSTs msgpack to the leader's internal endpoints
(api/internal.py serves them, consensus/forwarder.py calls them). Each body
carries an HMAC-SHA256 of itself keyed with the cluster secret. A propose
reply holds, per command, its apply result as a plain dict (fsm/results.py,
``to_wire``) or, when the leader could not tell, a marked error: the format
the previous release uses, so mixed versions work during an upgrade.

The forwarding body's format is versioned by a request header,
``X-Manifest-Forward-Format``: the number of the body format the follower
sends (1: ``{"commands": [command, ...]}``, and ``{}`` for a read index). A
header rather than a body field because a leader must refuse an unknown
format before decoding the body as one it knows. No header is format 1 (the
previous release sends none and ignores it), so followers and leaders of
adjacent releases keep talking; a leader refuses a format outside
``FORWARD_FORMATS`` with 400 ``unsupported`` naming the header, before
proposing anything. The leader's answers carry the header too, with the
newest format it reads, so a later release can learn what to send.
"""

from __future__ import annotations

import hashlib
import hmac

from . import errors
from .fsm.results import Result, from_wire, to_wire

PROPOSE_PATH = "/v1/internal/propose"
READ_INDEX_PATH = "/v1/internal/read-index"
AUTH_HEADER = "X-Manifest-Cluster-Auth"
FORWARD_FORMAT_HEADER = "X-Manifest-Forward-Format"
FORWARD_FORMAT = 1  # what this release sends
FORWARD_FORMATS = range(1, FORWARD_FORMAT + 1)  # what this release reads


def sign(secret: str | None, body: bytes) -> str:
    if not secret:
        return ""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str | None, body: bytes, signature: str) -> bool:
    if not secret:
        return True
    return hmac.compare_digest(sign(secret, body), signature or "")


# What the leader's proposals may end in besides a result: the follower
# raises the same class, so its caller learns whether anything committed.
_UNAVAILABLE = {"unknown_outcome": errors.UnknownOutcome, "no_leader": errors.NoLeader,
                "storage_unavailable": errors.Unavailable}


def encode_outcomes(outcomes: list) -> list[dict]:
    """Per command: its result, or the Unavailable error its proposal ended in."""
    out = []
    for item in outcomes:
        if isinstance(item, errors.Unavailable):
            out.append({"error": item.code, "message": item.message, "unavailable": True})
        elif isinstance(item, BaseException):  # the leader cannot say what happened
            out.append({"error": "unknown_outcome", "message": str(item), "unavailable": True})
        else:
            out.append(to_wire(item))
    return out


def decode_outcomes(raw: list) -> list[Result | errors.ManifestError]:
    out = []
    for item in raw:
        if item.get("unavailable"):
            cls = _UNAVAILABLE.get(item.get("error"), errors.NoLeader)
            exc = cls(item.get("message", ""))
            if cls is errors.Unavailable:
                exc.code = item["error"]
            out.append(exc)
        else:
            out.append(from_wire(item))
    return out
