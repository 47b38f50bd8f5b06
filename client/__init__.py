"""Python client for Manifest, the Raft-replicated service registry.

The three lines::

    reg = Registry()                                   # endpoints from MANIFEST_URL
    with reg.register("orchestrator", port=8080, version="1.4.2") as me:
        n8n = reg.discover("n8n")                      # healthy instances

:class:`AsyncRegistry` is the asyncio twin (``async with reg.register(...)``).
Both share one core: endpoint failover with leader hints, retries that never
resend a non-idempotent write, and the error hierarchy rooted at
:class:`ManifestError`.  The ``manifest`` command's client side lives in
:mod:`manifest_client.cli`.
"""

from ._async_client import AsyncRegistry
from ._endpoints import DEFAULT_URL
from ._errors import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    InternalError,
    InvalidRequest,
    ManifestError,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    TLSError,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    OutcomeUnknown,
    UnsupportedMediaType,
)
from ._models import Check, ClusterInfo, Graph, GraphEdge, GraphNode, Health, Impact, Impacted, Instance, Instances, Member, Removed
from ._pick import Picker, pick
from ._sync_client import Registry
from ._watch import WatchEvent
from ._http import Request, Response
from ._async_transport import AsyncTransport
from ._transport import MockTransport, SyncTransport
from .heartbeat import AsyncRegistration, Registration

__all__ = [
    "Check", "Graph", "GraphEdge", "GraphNode", "Impact", "Impacted", "Removed",
    "AsyncRegistration",
    "AsyncRegistry",
    "AsyncTransport",
    "ClusterInfo",
    "Conflict",
    "ConnectionFailed",
    "DEFAULT_URL",
    "Forbidden",
    "Health",
    "Instance",
    "Instances",
    "InternalError",
    "InvalidRequest",
    "ManifestError",
    "Member",
    "MockTransport",
    "NotFound",
    "PayloadTooLarge",
    "Picker",
    "Registration",
    "Registry",
    "Request",
    "RequestTimeout",
    "TLSError",
    "Response",
    "SyncTransport",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "OutcomeUnknown",
    "UnsupportedMediaType",
    "WatchEvent",
    "pick",
]
