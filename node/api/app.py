"""The aiohttp application factory: routes, error mapping, metrics, start-up and shut-down."""

from __future__ import annotations

import logging
from time import perf_counter

from aiohttp import web

from .. import errors
from ..config import NodeConfig
from ..metrics import Metrics
from . import batch, codec, handlers, internal, watch
from .changes import ChangeHub
from .history import EventRing
from .keys import CHANGES, CONFIG, HISTORY, METRICS, READ_HEADERS, RENDERED, STORE
from .read_headers import ReadHeaders
from .render_cache import RenderCache

log = logging.getLogger("manifest.api")

UNMATCHED = "unmatched"  # the route label of requests no route matched
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def _error_response(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, errors.ManifestError):
        return codec.error_response(request, exc)
    if isinstance(exc, web.HTTPException):
        # aiohttp's own 404/405/413: keep the status, speak our error format.
        err = errors.ManifestError(exc.reason, code=_HTTP_CODES.get(exc.status, "http_error"))
        err.status = exc.status
        response = codec.error_response(request, err)
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
        return response
    log.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return codec.error_response(request, errors.Unavailable("internal error; retry"))


def _instrument(handler, metrics: Metrics, route: str, method: str | None):
    """``handler`` with the error mapping and the route's metrics, bound once per route.

    A wrapper per route instead of a middleware: aiohttp runs every middleware
    (and, once there is one, a middleware of its own) as an extra coroutine per
    request, and the route's metric series is found here once, not per request.
    ``method`` None takes it from the request (the catch-all route).
    """
    observe = metrics.route(route, method)

    async def instrumented(request: web.Request) -> web.StreamResponse:
        started = perf_counter()
        try:
            response = await handler(request)
        except Exception as exc:  # BaseException (cancellation) is not a response
            response = _error_response(request, exc)
        observe(response.status, perf_counter() - started, method or request.method)
        return response

    instrumented.instrumented = True
    return instrumented


async def _unmatched(request: web.Request) -> web.Response:
    """What aiohttp's router would answer (404, or 405 with Allow), in our error format."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is request.match_info.route.resource:
            continue
        _, methods = await resource.resolve(request)
        allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


def _routes() -> list[tuple[str, str, object]]:
    # aiohttp tries the routes under one prefix in this order: the hottest first.
    return [
        ("GET", "/v1/services/{name}", handlers.get_service),
        ("POST", "/v1/services", handlers.register),
        ("GET", "/v1/services", handlers.list_services),
        ("GET", "/v1/services/{name}/{id}", handlers.get_instance),
        ("PUT", "/v1/services/{name}/{id}/heartbeat", handlers.heartbeat),
        ("POST", "/v1/heartbeats", batch.heartbeats),
        ("DELETE", "/v1/services/{name}/{id}", handlers.deregister),
        ("GET", "/v1/health", handlers.health),
        ("GET", "/v1/cluster", handlers.cluster),
        ("GET", "/v1/watch", watch.watch),
        ("GET", "/metrics", handlers.metrics),
        ("POST", "/v1/internal/propose", internal.propose),
        ("POST", "/v1/internal/read-index", internal.read_index),
    ]


def create_app(store, cfg: NodeConfig, metrics=None, manage_store: bool = True) -> web.Application:
    """Build the app. ``store`` is anything with the Store interface (tests pass a fake)."""
    app = web.Application(client_max_size=max(cfg.max_body, 16 << 20))
    app[STORE] = store
    app[CONFIG] = cfg
    app[CHANGES] = hub = ChangeHub()
    app[HISTORY] = ring = EventRing(cfg.watch_history)
    app[RENDERED] = RenderCache()
    app[READ_HEADERS] = ReadHeaders(store)
    app[METRICS] = metrics = metrics if metrics is not None else Metrics(store)
    r = app.router
    for method, path, handler in _routes():
        r.add_route(method, path, _instrument(handler, metrics, path, method))
        if method == "GET":  # aiohttp's add_get also answers HEAD; keep that, labelled HEAD
            r.add_route("HEAD", path, _instrument(handler, metrics, path, "HEAD"))
    # Last, so it only sees what no route matched: aiohttp's own 404/405 would be plain text.
    r.add_route("*", "/{path:.*}", _instrument(_unmatched, metrics, UNMATCHED, None))
    for route in r.routes():
        if not getattr(route.handler, "instrumented", False):
            # A route added with r.add_*() directly would answer errors as aiohttp's
            # plain text and count in no metric.
            raise RuntimeError(f"{route.method} {route.resource.canonical}: add routes in _routes()")

    async def lifecycle(app: web.Application):
        # The ring first: a woken watcher must find the events it was woken for.
        store.add_listener(ring.on_events, on_restore=ring.on_restore)
        store.add_listener(hub.on_events, on_restore=hub.on_restore)
        store.add_listener(metrics.on_events)
        if manage_store:
            await store.start()
        yield
        if manage_store:
            await store.stop()

    async def end_streams(app: web.Application):
        hub.close()  # before aiohttp waits for in-flight requests to finish

    app.on_shutdown.append(end_streams)
    app.cleanup_ctx.append(lifecycle)
    return app
