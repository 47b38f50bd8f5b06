"""How the compatibility views act for the request's caller: the service scope of its token.

Who may call each route is declared once, beside our own routes, in
node/auth/permissions.py (``COMPAT_ROUTES``), and checked by the same guard
before a handler runs, with the token taken the way that protocol's clients
send it (``Rule.protocol``: ``X-Consul-Token`` for Consul, Basic auth for
Eureka, ``Authorization: Bearer`` always). What is left for the handlers is
what only they know: the service a write is for. ``allow_service`` refuses a
service token outside its patterns before anything else is looked at;
``write`` commits a command scoped as the token allows (its patterns and
owner travel in the command and are checked where it is applied).
"""

from __future__ import annotations

from aiohttp import web

from ...auth.guard import allow_services, scope
from ...fsm.results import Written
from ..handlers import commit, commit_heartbeat


def allow_service(request: web.Request, name: str) -> None:
    """Raise errors.Forbidden when the request's token may not write service ``name``."""
    allow_services(request, [name])


async def write(request: web.Request, name: str, command: list) -> Written:
    """Commit ``command`` (about service ``name``) as the request's token may."""
    return await commit(request, scope(request, name, command))


async def heartbeat(request: web.Request, name: str, command: list) -> Written:
    """``write`` for a client's heartbeat (Consul's check update, Eureka's renew): counted as ours are."""
    return await commit_heartbeat(request, name, command)
