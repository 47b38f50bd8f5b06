"""The aiohttp application factory: routes, middlewares, start-up and shut-down."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from .. import errors
from ..config import NodeConfig
from ..metrics import Metrics
from . import codec, handlers, internal, watch
from .changes import ChangeHub
from .history import EventRing
from .render_cache import RenderCache
from .keys import CHANGES, CONFIG, HISTORY, METRICS, RENDERED, STORE

log = logging.getLogger("manifest.api")


def _route_name(request: web.Request) -> str:
    info = request.match_info
    route = info.route.resource.canonical if info.route.resource is not None else "unmatched"
    return route


@web.middleware
async def _errors_and_metrics(request: web.Request, handler):
    started = time.perf_counter()
    try:
        response = await handler(request)
    except errors.ManifestError as exc:
        response = codec.error_response(request, exc)
    except web.HTTPException as exc:
        # aiohttp's own 404/405/413: keep the status, speak our error format.
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status, "http_error")
        err = errors.ManifestError(exc.reason, code=code)
        err.status = exc.status
        response = codec.error_response(request, err)
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        response = codec.error_response(request, errors.Unavailable("internal error; retry"))
    metrics = request.app[METRICS]
    route, method = _route_name(request), request.method
    metrics.requests.labels(route, method, str(response.status)).inc()
    metrics.latency.labels(route, method).observe(time.perf_counter() - started)
    return response


def create_app(store, cfg: NodeConfig, metrics=None, manage_store: bool = True) -> web.Application:
    """Build the app. ``store`` is anything with the Store interface (tests pass a fake)."""
    app = web.Application(middlewares=[_errors_and_metrics], client_max_size=max(cfg.max_body, 16 << 20))
    app[STORE] = store
    app[CONFIG] = cfg
    app[CHANGES] = hub = ChangeHub()
    app[HISTORY] = ring = EventRing(cfg.watch_history)
    app[RENDERED] = RenderCache()
    app[METRICS] = metrics = metrics if metrics is not None else Metrics(store)
    r = app.router
    r.add_post("/v1/services", handlers.register)
    r.add_get("/v1/services", handlers.list_services)
    r.add_get("/v1/services/{name}", handlers.get_service)
    r.add_get("/v1/services/{name}/{id}", handlers.get_instance)
    r.add_put("/v1/services/{name}/{id}/heartbeat", handlers.heartbeat)
    r.add_delete("/v1/services/{name}/{id}", handlers.deregister)
    r.add_get("/v1/health", handlers.health)
    r.add_get("/v1/cluster", handlers.cluster)
    r.add_get("/v1/watch", watch.watch)
    r.add_get("/metrics", handlers.metrics)
    r.add_post("/v1/internal/propose", internal.propose)
    r.add_post("/v1/internal/read-index", internal.read_index)

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
