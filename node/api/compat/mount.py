"""What node/api/app.py takes of the compatibility views: their routes, their state, the 404 hint."""

from __future__ import annotations

from aiohttp import web

from .routes import routes
from .state import COMPAT, CompatState

# Paths under which a request no route took was meant for another registry's API.
_FOREIGN = (("/v1/agent/", "Consul"), ("/v1/catalog/", "Consul"), ("/v1/health/", "Consul"),
            ("/v1/status/", "Consul"), ("/v1/kv/", "Consul"), ("/v1/acl/", "Consul"), ("/v1/session/", "Consul"),
            ("/v1/event/", "Consul"), ("/v1/query", "Consul"), ("/v1/txn", "Consul"), ("/v1/connect/", "Consul"),
            ("/v1/operator/", "Consul"), ("/v1/coordinate/", "Consul"), ("/v1/config", "Consul"),
            ("/v1/sd/", "service discovery"), ("/eureka/", "Eureka"))


def setup(app: web.Application, store) -> list[tuple]:
    """Keep the views' node-local state on ``app``; the (listener, on_restore) pairs it needs."""
    app[COMPAT] = state = CompatState(store)
    return state.listeners()


def handlers() -> list[tuple[str, str, object]]:
    """(method, path, handler) for every compatibility route; app.py guards each like ours."""
    return routes()


def unsupported(path: str) -> str | None:
    """What to tell a request no route matched when it was meant for another registry's API."""
    for prefix, protocol in _FOREIGN:
        if path.startswith(prefix):
            return (f"Manifest does not offer this {protocol} endpoint; docs/compat.md lists what it does")
    return None
