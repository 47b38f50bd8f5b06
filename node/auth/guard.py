"""Each route's door: who is asking, may they, not too often, and the audit line. Bound once per route.

``guard(handler, rule, ctx)`` returns ``handler`` itself where there is
nothing to check (public routes; everything with auth, rate limits and the
audit log off), so a node without them pays nothing. Otherwise the wrapper
authenticates (another region's federation token, read-only; a bearer
token; else a verified client certificate with a configured role), checks
the route's permission (permissions.py), takes from the caller's bucket,
runs the handler and writes the audit line for writes and refusals. Handlers of scoped writes call ``scope()``.
A route with ``Rule.socket_auth`` lets a WebSocket upgrade without
credentials through to its handler, which authenticates the socket's own
handshake.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import uuid

from aiohttp import web

from .. import errors
from ..config import NodeConfig, cert_role
from ..fsm import commands
from ..federation.settings import TOKEN_HEADER as FEDERATION_HEADER
from ..fsm.tokens import matches
from .audit import AuditLog
from .permissions import EXPENSIVE, FEDERATION_ROLE, P, Rule, SCOPED_ROLES, WRITE, allows
from .ratelimit import Limiter
from .tokens import ANONYMOUS, Principal, Verifier, credentials

PRINCIPAL = web.RequestKey("principal", Principal)  # who a request acts as
TARGET = web.RequestKey("target", tuple)  # (service, instance) a handler wrote, for the audit line
REQUEST_ID = "X-Request-ID"
_ID = web.RequestKey("request_id", str)
FEDERATION = Principal("federation", FEDERATION_ROLE)  # another region's node, by the shared token
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ASKED = {None: "Authorization: Bearer <token>", "consul": "X-Consul-Token: <token> (or Authorization: Bearer)",
          "eureka": "a token as the password of Basic auth (http://manifest:TOKEN@host/eureka/), or Bearer"}


def request_id(request: web.Request) -> str:
    """The client's X-Request-ID when it is a plain token (it goes into logs), else a fresh one."""
    given = request.get(_ID)
    if given is None:
        given = request.headers.get(REQUEST_ID, "")
        given = request[_ID] = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
    return given


class AuthContext:
    """The node's verifier, buckets, audit log and usage counts; one per app."""

    def __init__(self, cfg: NodeConfig, auth_view, node_id: str | None = None):
        self.on = cfg.auth_on
        self.verifier = Verifier(auth_view, cfg.bootstrap_token)
        self.cert_roles = {cn: Principal(f"cert:{cn}", role, patterns)
                           for cn, role, patterns in map(cert_role, cfg.tls_cert_roles)}
        self.public_metrics = cfg.public_metrics
        limited = cfg.rate_limit_on
        self.writes = Limiter(cfg.rate_writes, cfg.rate_writes_burst) if limited else None
        self.reads = Limiter(cfg.rate_reads, cfg.rate_reads_burst) if limited else None
        path = cfg.audit_path
        self.audit = AuditLog(path, cfg.audit_max_bytes, cfg.audit_backups, node_id or cfg.id) if path else None
        self.usage: dict[Principal, int] = {}
        # Compared as keyed digests: constant time, and no copy of the token kept beside the config's.
        self._key = os.urandom(32)
        self.federation = self._keyed(cfg.federation_token) if cfg.federation_token else None
        self.refused = None  # metrics.refused(limit), set by the app

    def _keyed(self, token: str) -> bytes:
        return hashlib.blake2b(token.encode(), key=self._key, digest_size=16).digest()

    def authenticate(self, request: web.Request, protocol: str | None = None) -> Principal:
        """Who sends ``request``; ``protocol`` (Rule.protocol) also takes that registry's clients' token."""
        if not self.on:
            return ANONYMOUS
        if self.federation is not None and FEDERATION_HEADER in request.headers:
            if hmac.compare_digest(self._keyed(request.headers[FEDERATION_HEADER][:512]), self.federation):
                return FEDERATION
            raise errors.Unauthorized("the federation token is not valid", FEDERATION_HEADER)
        token = credentials(request.headers, consul=protocol == "consul", basic=protocol == "eureka")
        if token is not None:
            principal = self.verifier.verify(token)
            if principal is None:
                raise errors.Unauthorized("the token is not valid (unknown, revoked or expired)",
                                          "Authorization")
            return principal
        principal = self._from_certificate(request)
        if principal is None:
            raise errors.Unauthorized(f"this request needs {_ASKED.get(protocol, _ASKED[None])}", "Authorization")
        return principal

    def bare_upgrade(self, request: web.Request) -> bool:
        """A WebSocket upgrade carrying no credentials (a browser's: it cannot set headers)."""
        return (request.headers.get("Upgrade", "").lower() == "websocket" and FEDERATION_HEADER not in request.headers
                and credentials(request.headers) is None and self._from_certificate(request) is None)

    def _from_certificate(self, request: web.Request) -> Principal | None:
        if not self.cert_roles or request.transport is None:
            return None
        cert = request.transport.get_extra_info("peercert")  # only verified certificates are here
        if not cert:
            return None
        names = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
        return self.cert_roles.get(names[0]) if names else None

    def record(self, request: web.Request, principal: Principal | None, status: int, code: str | None) -> None:
        if self.audit is None:
            return
        target = request.get(TARGET) or (request.match_info.get("name"), request.match_info.get("id"))
        known = principal is not None and principal is not ANONYMOUS
        self.audit.record(status=status, code=code, token_id=principal.id if known else None,
                          role=principal.role if known else None, remote=request.remote,
                          method=request.method, path=request.path, service=target[0], instance=target[1],
                          request_id=request_id(request))

    async def flushing(self, interval: float = 1.0) -> None:
        """Flush the audit buffer every ``interval`` until cancelled (and once more then)."""
        try:
            while True:
                await asyncio.sleep(interval)
                self.audit.flush()
        finally:
            self.audit.close()


def _status(exc: BaseException) -> tuple[int, str | None]:
    if isinstance(exc, errors.ManifestError):
        return exc.status, exc.code
    if isinstance(exc, web.HTTPException):
        return exc.status, None
    return 500, "internal"


def guard(handler, rule: Rule, ctx: AuthContext):
    permission = rule.permission
    if permission is P.METRICS and ctx.public_metrics:
        permission = P.PUBLIC
    if permission in (P.PUBLIC, P.INTERNAL):
        return handler  # internal writes were audited by the node that received them
    protocol, socket_auth = rule.protocol, rule.socket_auth
    limiter = ctx.writes if rule.kind == WRITE else ctx.reads if rule.kind == EXPENSIVE else None
    audited = rule.write and ctx.audit is not None
    if not ctx.on and limiter is None and not audited:
        return handler
    usage = ctx.usage

    async def guarded(request: web.Request) -> web.StreamResponse:
        principal = None
        try:
            if socket_auth and ctx.on and ctx.bare_upgrade(request):
                bucket = request.remote or "-"  # the token comes in the socket's handshake: the handler checks it
            else:
                principal = ctx.authenticate(request, protocol)
                if not allows(principal.role, permission):
                    raise errors.Forbidden(f"a {principal.role} token may not do this ({permission})")
                bucket = principal.id if ctx.on else (request.remote or "-")
            # Another region's reads were limited where its clients sent them; one bucket for all would throttle
            # a whole region's federated reads together.
            if limiter is not None and principal is not FEDERATION:
                wait = limiter.take(bucket)
                if wait:
                    limit = "rate_writes" if limiter is ctx.writes else "rate_reads"
                    if ctx.refused is not None:
                        ctx.refused(limit)
                    raise errors.RateLimited(f"too many requests from this caller ({limit}); retry in {wait} s",
                                             limit, wait)
        except errors.ManifestError as exc:
            ctx.record(request, principal, exc.status, exc.code)
            raise
        if principal is not None:
            request[PRINCIPAL] = principal
            if ctx.on:
                usage[principal] = usage.get(principal, 0) + 1
        if not audited:
            return await handler(request)
        try:
            response = await handler(request)
        except Exception as exc:
            ctx.record(request, principal, *_status(exc))
            raise
        ctx.record(request, principal, response.status, None)
        response.headers[REQUEST_ID] = request_id(request)
        return response

    return guarded


def scoped_caller(request: web.Request) -> bool:
    """Whether the request's principal is limited to its patterns and own instances (a service role)."""
    return request.get(PRINCIPAL, ANONYMOUS).role in SCOPED_ROLES


def allow_services(request: web.Request, names: list[str], field=lambda at: "name") -> None:
    """403 ``out_of_scope`` when the request's service token may not act for one of ``names``."""
    principal = request.get(PRINCIPAL, ANONYMOUS)
    if principal.role in SCOPED_ROLES:
        for at, name in enumerate(names):
            if not matches(name, principal.services):
                raise errors.Forbidden(f"this token may not act for service {name!r}", field(at),
                                       code="out_of_scope")


def scope(request: web.Request, name: str, command: list) -> list:
    """``command`` as the request's principal may propose it: a service token's is scoped and checked."""
    return scope_many(request, [name], command, lambda at: "name")


def scope_many(request: web.Request, names: list[str], command: list,
               field=lambda at: f"instances[{at}].name") -> list:
    """``scope`` for a command about many services (a batch): every name must be in the token's patterns."""
    allow_services(request, names, field)
    principal = request.get(PRINCIPAL, ANONYMOUS)
    if principal.role not in SCOPED_ROLES:
        return command
    return commands.scoped(principal.id, principal.services, principal.any_owner, command)
