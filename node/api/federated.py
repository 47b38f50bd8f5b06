"""``?region=`` and ``?failover=`` on the service reads and the watch: the HTTP side of node/federation/.

``wrap`` puts a read handler behind a check that costs one substring test
of the raw query string: a read naming no region (or this node's own) is
the handler itself, as fast as before. Another region's read is forwarded
(federation/forward.py) and relayed with ``X-Manifest-Region``; ``*`` asks
every region at once and merges (federation/merge.py); ``failover`` falls
back along the policy (federation/policy.py) when this region has no
instance. A read that came from another region (``X-Manifest-Federated-From``)
is always served here, never forwarded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from aiohttp import web

from .. import errors
from ..federation.merge import count, merged
from ..federation.policy import POLICY
from ..federation.stream import refused_message
from ..federation.settings import FROM_HEADER, NEAREST, NODE_HEADER, REGION, REGION_HEADER
from . import codec, params, watch
from .keys import CONFIG, FEDERATION, METRICS, WATCHES

# The reads that take ?region= (app.py wraps them), and how each answers.
ROUTES = {("GET", "/v1/services"): "list", ("GET", "/v1/services/{name}"): "service",
          ("GET", "/v1/services/{name}/{id}"): "instance", ("GET", "/v1/watch"): "watch"}
_FAILOVER = {"true": POLICY, "policy": POLICY, NEAREST: NEAREST}
_PASSED_ON = ("Accept", "Last-Event-ID", "X-Request-ID")


def wrap(handler, kind: str):
    """``handler`` taking ``?region=`` (kind: list, service, instance or watch) and, for service, ``?failover=``."""

    def federated(request: web.Request):
        raw = request.rel_url.raw_query_string
        if "region" not in raw and "failover" not in raw:
            return handler(request)  # the hot path: no extra coroutine
        return _route(request, handler, kind)

    return federated


def _one(request: web.Request, key: str) -> str | None:
    values = request.query.getall(key, [])
    if len(values) > 1:
        raise errors.InvalidInput(f"{key} may be given once", key)
    return values[0] if values else None


def _without(request: web.Request, *keys: str, add: tuple = (), headers: dict | None = None) -> web.Request:
    query = [(k, v) for k, v in request.rel_url.query.items() if k not in keys] + list(add)
    url = request.rel_url.with_query(query)
    return request.clone(rel_url=url, headers=headers) if headers is not None else request.clone(rel_url=url)


async def _route(request: web.Request, handler, kind: str) -> web.StreamResponse:
    fed = request.app[FEDERATION]
    region, failover = _one(request, "region"), _one(request, "failover")
    if region is not None and region != "*" and not REGION.fullmatch(region):
        raise errors.InvalidInput("region must be a region name or *", "region")
    if region is not None and region != fed.own and FROM_HEADER in request.headers:
        raise errors.InvalidInput(f"this node is in region {fed.own!r}, not {region!r}: check the asking "
                                  "region's federate setting", "region", code="region_mismatch")
    if failover is not None:
        if kind != "service":
            raise errors.Unsupported("failover applies to GET /v1/services/{name}", "failover")
        if failover not in _FAILOVER:
            raise errors.InvalidInput("failover must be true, policy or nearest", "failover")
        if region not in (None, fed.own):
            raise errors.Unsupported("failover starts from this node's region: leave out region", "failover")
        return await _failover(request, handler, fed, _FAILOVER[failover])
    if region is None:
        return await handler(request)  # "region" only in another key (meta.region=...)
    if region == fed.own:
        local = _without(request, "region")
        if kind == "watch":  # the stream is prepared (its headers sent) before the handler returns
            local[watch.EXTRA_HEADERS] = {REGION_HEADER: fed.own}
        return _labelled(await handler(local), fed.own)
    if region == "*":
        if kind == "watch":
            raise errors.Unsupported("a watch follows one region: region=NAME", "region")
        return await _everywhere(request, handler, fed)
    if region not in fed.directory:
        raise errors.InvalidInput(f"unknown region {region!r}; known: {', '.join([fed.own, *fed.directory.names()])}",
                                  "region", code="unknown_region")
    if kind == "watch":
        return await _remote_watch(request, fed, region)
    return await _remote(request, fed, region)


def _labelled(response: web.StreamResponse, region: str) -> web.StreamResponse:
    if not response.prepared:
        response.headers[REGION_HEADER] = region
    return response


def _headers(request: web.Request, json_only: bool = False) -> dict[str, str]:
    out = {k: request.headers[k] for k in _PASSED_ON if k in request.headers}
    if json_only:
        out["Accept"] = "application/json"
    return out


def _query(request: web.Request, region: str, drop: tuple = ()) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.rel_url.query.items() if k != "region" and k not in drop] + [("region", region)]


def _wait(request: web.Request) -> float:
    raw = _one(request, "wait")
    return params.parse_duration(raw, "wait") if raw is not None else 0.0


async def _remote(request: web.Request, fed, region: str) -> web.Response:
    answer = await fed.forwarder.get(region, request.rel_url.raw_path, _query(request, region), _headers(request),
                                     extra=_wait(request))
    return web.Response(status=answer.status, body=answer.body,
                        headers={**answer.headers, REGION_HEADER: region, NODE_HEADER: answer.node})


async def _local_json(request: web.Request, handler, fed, drop: tuple, add: tuple = ()) -> tuple[int, object, dict]:
    """This region's answer to the read, as (status, parsed JSON, headers), a 404 included."""
    local = _without(request, "region", *drop, add=add, headers={**request.headers, "Accept": "application/json"})
    try:
        response = await handler(local)
    except errors.NotFound as exc:  # "none here" is an answer; a bad request is the caller's error
        return exc.status, exc.body(), {}
    return response.status, json.loads(response.body), dict(response.headers)


async def _everywhere(request: web.Request, handler, fed) -> web.Response:
    for key in ("cursor", "index"):
        if key in request.query:
            raise errors.Unsupported(f"{key} is one region's: with region=* leave it out", key)
    names = fed.directory.names()

    async def ask(name: str):
        try:
            answer = await fed.forwarder.get(name, request.rel_url.raw_path, _query(request, name),
                                             _headers(request, json_only=True))
            return answer.status, json.loads(answer.body)
        except errors.RegionUnavailable as exc:
            return exc.message
        except errors.Forbidden as exc:  # that region refused our token: the others still answer
            return {"status": exc.status, "error": exc.message, "code": exc.code}
        except ValueError:
            return "not a JSON answer"

    tasks = [asyncio.ensure_future(ask(n)) for n in names] if fed.forwarder is not None else []
    try:
        status, body, headers = await _local_json(request, handler, fed, ())
    except BaseException:  # a bad request (400 here): the others' answers are not wanted
        for task in tasks:
            task.cancel()
        raise
    answers: dict = {fed.own: (status, body)}
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=fed.cfg.federation_deadline)
        for task in pending:
            task.cancel()
        for name, task in zip(names, tasks):
            answers[name] = task.result() if task in done else "no answer within federation_deadline"
    status, merged_body = merged([fed.own, *names], answers)
    out = {REGION_HEADER: "*"}
    if "X-Manifest-Index" in headers:
        out["X-Manifest-Index"] = headers["X-Manifest-Index"]
    if status == 404:
        raise errors.NotFound("no region knows this", None)
    return codec.respond(request, merged_body, 200, out)


async def _failover(request: web.Request, handler, fed, mode: str) -> web.Response:
    name = request.match_info["name"]
    add = () if "status" in request.query else (("status", "up"),)  # discovery wants live instances
    status, body, headers = await _local_json(request, handler, fed, ("failover",), add)
    tried: list[str] = [fed.own]
    if status == 200 and count(body):
        return _answer(request, body, headers, fed.own, tried, [])
    ask, skipped = fed.policy.order(name, fed.directory, mode) if fed.forwarder is not None else ([], [])
    query = [(k, v) for k, v in request.rel_url.query.items() if k not in ("failover", "region")] + list(add)
    end = time.monotonic() + fed.cfg.federation_deadline  # the whole failover, not each region
    for region in ask:
        left = end - time.monotonic()
        if left <= 0:
            skipped.append(region)  # out of time: not asked
            continue
        tried.append(region)
        try:
            answer = await fed.forwarder.get(region, request.rel_url.raw_path, [*query, ("region", region)],
                                             _headers(request, json_only=True), deadline=left)
            remote = json.loads(answer.body)
        except errors.Forbidden:  # federation_refused: that region is no fallback, the next may be
            skipped.append(region)
            continue
        except (errors.RegionUnavailable, ValueError):
            continue
        if answer.status == 200 and count(remote):
            return _answer(request, remote, answer.headers, region, tried, skipped)
    if status != 200:  # nothing anywhere: this region's own answer (404 no_instance for a pick)
        return codec.respond(request, body, status, {REGION_HEADER: fed.own, "X-Manifest-Failover-Tried":
                                                     ",".join(tried)})
    return _answer(request, body, headers, fed.own, tried, skipped)


def _answer(request, body: dict, headers: dict, region: str, tried: list[str], skipped: list[str]) -> web.Response:
    body = {**body, "region": region, "failover": {"tried": tried, "skipped": skipped}}
    out = {REGION_HEADER: region, "X-Manifest-Failover-Tried": ",".join(tried)}
    if "X-Manifest-Index" in headers:
        out["X-Manifest-Index"] = headers["X-Manifest-Index"]
    return codec.respond(request, body, 200, out)


async def _remote_watch(request: web.Request, fed, region: str) -> web.StreamResponse:
    since, name = watch.parse_query(request, allowed={"region"})
    cfg, count = request.app[CONFIG], request.app[WATCHES]
    if count.open >= cfg.max_watch_streams:  # a followed remote stream holds a socket here too
        request.app[METRICS].refused("max_watch_streams")
        raise errors.TooManyWatches(f"this node serves its maximum of {cfg.max_watch_streams} watch streams "
                                    "(max_watch_streams); try another node or later", "max_watch_streams")
    count.open += 1
    request.app[METRICS].watch_streams.inc()  # the gauge counts what max_watch_streams counts
    try:
        return await _follow(request, fed, region, since, name)
    finally:
        count.open -= 1
        request.app[METRICS].watch_streams.dec()


async def _follow(request: web.Request, fed, region: str, since: int | None, name: str | None):
    query = [("region", region)] + ([("name", name)] if name else [])
    remote = fed.watch(region, query, since, _headers(request))
    try:
        return await _relay(request, remote, region)
    finally:
        remote.close()
        fed.watches.discard(remote)


async def _relay(request: web.Request, remote, region: str) -> web.StreamResponse:
    first = await remote.first()
    if first.status in (401, 403):  # as forward.py: the region refused the federation token, not the caller's
        first.release()
        raise errors.Forbidden(refused_message(region, first.status), "region", code="federation_refused")
    if first.status != 200:  # the region's refusal (a bad since, 401 ...): passed back as it is
        body = await first.read()
        first.release()
        return web.Response(status=first.status, body=body, headers={"Content-Type": first.content_type,
                                                                    REGION_HEADER: region})
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no", REGION_HEADER: region})
    await resp.prepare(request)
    await resp.write(b"retry: 1000\n\n")
    keepalive = request.app[CONFIG].watch_keepalive
    frames = remote.frames()
    pending = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(frames.__anext__())
            # A remote that sends nothing (stalled, or between reconnects) must not hide a watcher
            # that left: a keep-alive each watch_keepalive finds the closed socket, as a local watch does.
            done, _ = await asyncio.wait({pending}, timeout=keepalive)
            if request.transport is None or request.transport.is_closing():
                break
            if not done:
                await resp.write(b": keep-alive\n\n")
                continue
            try:
                frame = pending.result()
            except StopAsyncIteration:
                break
            pending = None
            await resp.write(frame)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the watcher went away, or this node is shutting down
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        await frames.aclose()
    return resp


def regions_view(app: web.Application) -> list[dict] | None:
    """The ``regions`` block of GET /v1/cluster; None when this node federates with nobody."""
    fed = app.get(FEDERATION)
    return fed.directory.view() if fed is not None and fed.on else None
