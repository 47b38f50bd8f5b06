"""The aiohttp application factory: routes, error mapping, metrics, start-up and shut-down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from time import perf_counter

from aiohttp import web

from .. import errors
from ..auth.collector import AuthCollector
from ..auth.guard import AuthContext, guard, request_id as _request_id
from ..auth.permissions import ROUTES, UNMATCHED as UNMATCHED_RULE
from ..config import NodeConfig
from ..federation.collector import FederationCollector
from ..federation.service import Federation
from ..metrics import Metrics
from . import (batch, codec, federated, graph, handlers, internal, lifecycle, membership, openapi, snapshot,
               tokens, ui, watch)
from .compat import mount as compat
from .graphql import endpoint as graphql_endpoint, view as graphql
from .blocking import PARKED
from .changes import ChangeHub
from .history import EventRing
from .keys import AUTH, CHANGES, CONFIG, FEDERATION, HISTORY, METRICS, READ_HEADERS, RENDERED, STORE, WATCHES
from .parse_errors import ParseErrorLog
from .read_headers import ReadHeaders
from .render_cache import RenderCache

log = logging.getLogger("manifest.api")

UNMATCHED = "unmatched"  # the route label of requests no route matched
REQUEST_ID = "X-Request-ID"
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def _internal(request: web.Request, exc: Exception) -> web.Response:
    """A bug: 500 without Retry-After (retrying will not help), logged once with the id to find it."""
    request_id = _request_id(request)
    log.error("unhandled error in %s %r", request.method, request.raw_path, exc_info=exc,
              extra={"request_id": request_id})
    if request.writer.output_size:
        # A stream already under way (a watch) cannot take an answer any more: end it.
        if request.transport is not None:
            request.transport.close()
    err = errors.InternalError(f"internal error; the node's log has the details (request id {request_id})",
                               request_id)
    response = codec.error_response(request, err)
    response.headers[REQUEST_ID] = request_id
    return response


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
    return _internal(request, exc)


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
        seconds = perf_counter() - started
        parked = PARKED.get()
        if parked:  # a blocking read: count serving it, not waiting for a change
            PARKED.set(0.0)
            seconds = max(0.0, seconds - parked)
        observe(response.status, seconds, method or request.method)
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
    foreign = compat.unsupported(request.path)
    if foreign is not None:
        raise errors.NotFound(foreign)
    raise web.HTTPNotFound()


def _routes() -> list[tuple[str, str, object]]:
    # aiohttp tries the routes under one prefix in this order: the hottest first.
    return [
        ("GET", "/v1/services/{name}", handlers.get_service),
        ("POST", "/v1/services", handlers.register),
        ("POST", "/v1/services/batch", batch.register_many),
        ("GET", "/v1/services", handlers.list_services),
        ("GET", "/v1/services/{name}/{id}", handlers.get_instance),
        ("PUT", "/v1/services/{name}/{id}/heartbeat", handlers.heartbeat),
        ("POST", "/v1/heartbeats", batch.heartbeats),
        ("DELETE", "/v1/services/{name}/{id}", handlers.deregister),
        ("PUT", "/v1/services/{name}/{id}/drain", lifecycle.drain),
        ("DELETE", "/v1/services/{name}/{id}/drain", lifecycle.undrain),
        ("PUT", "/v1/services/{name}/{id}/maintenance", lifecycle.maintenance_on),
        ("DELETE", "/v1/services/{name}/{id}/maintenance", lifecycle.maintenance_off),
        ("GET", "/v1/graph", graph.graph),
        ("GET", "/v1/graph/impact/{name}", graph.impact),
        ("GET", "/v1/health", handlers.health),
        ("GET", "/v1/health/live", handlers.live),
        ("GET", "/v1/cluster", handlers.cluster),
        ("POST", "/v1/cluster/members", membership.add),
        ("DELETE", "/v1/cluster/members/{node}", membership.remove),
        ("GET", "/v1/watch", watch.watch),
        ("POST", "/v1/graphql", graphql.serve),
        ("GET", "/v1/graphql", graphql.serve),
        ("GET", "/metrics", handlers.metrics),
        ("POST", "/v1/tokens", tokens.create),
        ("GET", "/v1/tokens", tokens.list_tokens),
        ("DELETE", "/v1/tokens/{id}", tokens.revoke),
        ("POST", "/v1/tokens/{id}/rotate", tokens.rotate),
        ("GET", "/v1/openapi.json", openapi.serve),
        ("GET", "/v1/snapshot", snapshot.save),
        ("POST", "/v1/snapshot/restore", snapshot.restore),
        ("POST", "/v1/internal/propose", internal.propose),
        ("POST", "/v1/internal/read-index", internal.read_index),
        ("POST", "/v1/internal/join", membership.internal_join),
        ("POST", "/v1/internal/membership", membership.internal_change),
        ("GET", "/ui", ui.redirect),
        ("GET", "/ui/", ui.index),
        ("GET", "/ui/{path:.+}", ui.asset),
        # Consul's, Prometheus's and Eureka's APIs (node/api/compat/); no path collides with ours.
        *compat.handlers(),
    ]


def create_app(store, cfg: NodeConfig, metrics=None, manage_store: bool = True) -> web.Application:
    """Build the app. ``store`` is anything with the Store interface (tests pass a fake)."""
    metrics = metrics if metrics is not None else Metrics(store)
    app = web.Application(client_max_size=max(cfg.max_body, 16 << 20), handler_args={
        # body.read undoes Content-Encoding itself, within --max-body.
        "auto_decompress": False,
        "keepalive_timeout": cfg.idle_timeout,
        "logger": ParseErrorLog(on_refused=metrics.malformed.inc),
    })
    app[STORE] = store
    app[CONFIG] = cfg
    app[CHANGES] = hub = ChangeHub()
    app[HISTORY] = ring = EventRing(cfg.watch_history)
    app[RENDERED] = RenderCache()
    app[READ_HEADERS] = ReadHeaders(store)
    app[WATCHES] = watch.StreamCount()
    app[METRICS] = metrics
    compat_listeners = compat.setup(app, store)
    graphql_endpoint.setup(app, cfg)
    app[FEDERATION] = fed = Federation(cfg)
    app[AUTH] = auth = AuthContext(cfg, store.auth_view)
    auth.refused = metrics.refused
    metrics.registry.register(AuthCollector(auth))
    if fed.on:
        metrics.registry.register(FederationCollector(fed))
    r = app.router
    for method, path, handler in _routes():
        rule = ROUTES.get((method, path))
        if rule is None:  # deny by default: a route nobody declared a permission for never serves
            raise RuntimeError(f"{method} {path}: no permission declared in auth/permissions.py ROUTES")
        if (method, path) in federated.ROUTES:  # ?region= (node/federation/)
            handler = federated.wrap(handler, federated.ROUTES[method, path])
        handler = guard(handler, rule, auth)
        r.add_route(method, path, _instrument(handler, metrics, path, method))
        if method == "GET":  # aiohttp's add_get also answers HEAD; keep that, labelled HEAD
            r.add_route("HEAD", path, _instrument(handler, metrics, path, "HEAD"))
    # Last, so it only sees what no route matched: aiohttp's own 404/405 would be plain text.
    r.add_route("*", "/{path:.*}", _instrument(guard(_unmatched, UNMATCHED_RULE, auth), metrics, UNMATCHED, None))
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
        for fn, on_restore in compat_listeners:
            store.add_listener(fn, on_restore=on_restore)
        if manage_store:
            await store.start()
        flusher = asyncio.get_running_loop().create_task(auth.flushing()) if auth.audit else None
        yield
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        if manage_store:
            await store.stop()

    async def end_streams(app: web.Application):
        hub.close()  # before aiohttp waits for in-flight requests to finish

    app.on_shutdown.append(end_streams)
    app.on_shutdown.append(fed.end_streams)
    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(fed.context)
    return app
