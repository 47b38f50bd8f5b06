"""Prometheus metrics of one node, in a registry of its own (tests run many apps).

What the request path counts lives here, as plain ints bumped on the event
loop and rendered when Prometheus scrapes; what is read from the store at
scrape time is in metrics_store.py, the process's own series in
metrics_process.py. docs/operations.md, "Monitoring", lists every series.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left

from prometheus_client import CollectorRegistry, Counter, GCCollector, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from .fsm.expiry import PROTECTION
from .metrics_process import ProcessMetrics
from .metrics_store import StoreCollector

log = logging.getLogger("manifest.registry")

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Tally:
    """A counter or level changed on the event loop only: a plain int, read at scrape time.

    prometheus_client's Counter takes a lock per increment; the heartbeat
    path and every blocking read would pay it."""

    __slots__ = ("value", "created")

    def __init__(self):
        self.value = 0
        self.created = time.time()

    def inc(self, n: int = 1) -> None:
        self.value += n

    def dec(self, n: int = 1) -> None:
        self.value -= n


class Metrics:
    def __init__(self, store):
        self.registry = CollectorRegistry(auto_describe=False)
        self.http = HttpMetrics()
        self.registry.register(self.http)
        self.heartbeats = Tally()  # received here, whatever became of them
        self.heartbeat_failures: dict[str, int] = {}  # error code -> heartbeats refused with it
        self.blocking_reads = Tally()  # requests parked in a blocking read now
        self.registry.register(_LoopCollector(self))
        self.malformed = Counter("manifest_http_malformed_requests",
                                 "Requests aiohttp's parser refused with its plain-text 400", registry=self.registry)
        self.refusals = Counter("manifest_limit_refusals", "Requests and connections refused by a limit",
                                ["limit"], registry=self.registry)
        self.timeouts = Counter("manifest_http_timeouts", "Connections closed because a request was too slow",
                                ["part"], registry=self.registry)
        self.connections = Gauge("manifest_http_connections", "Open HTTP connections", registry=self.registry)
        self.watch_streams = Gauge("manifest_watch_streams", "Open watch streams", registry=self.registry)
        self.probes = Counter("manifest_check_probes", "Health-check probes this node ran (as leader)",
                              ["kind", "result"], registry=self.registry)
        self.protections = Counter("manifest_protection_episodes",
                                   "Services that entered mass-expiry protection", registry=self.registry)
        self.registry.register(StoreCollector(store))
        self.registry.register(ProcessMetrics())
        GCCollector(registry=self.registry)  # python_gc_*: collections and objects found, by generation

    def refused(self, limit: str | None) -> None:
        """One request or connection refused by ``limit`` (the setting's name)."""
        self.refusals.labels(limit or "unknown").inc()

    def heartbeat_failed(self, code: str, n: int = 1) -> None:
        """``n`` heartbeats received here that did not land, refused with error ``code``."""
        self.heartbeat_failures[code] = self.heartbeat_failures.get(code, 0) + n

    def route(self, route: str, method: str | None):
        """``observe(status, seconds, method)`` for one route's requests (see HttpMetrics)."""
        return self.http.route(route, method)

    def probed(self, kind: str, passed: bool) -> None:
        self.probes.labels(kind, "pass" if passed else "fail").inc()

    def on_events(self, index, events) -> None:
        # Expirations and removals are counted by the leader that decided them
        # (consensus/applied.py), not here on every node.
        for ev in events or ():
            if ev.kind == PROTECTION:
                if ev.record["protected"]:
                    self.protections.inc()
                # Once per change, on every node: what an operator greps for.
                log.warning("service %s %s mass-expiry protection: %s", ev.record["name"],
                            "enters" if ev.record["protected"] else "leaves", ev.record["reason"])

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LoopCollector:
    """The Tallies above, as Prometheus series."""

    def __init__(self, metrics: Metrics):
        self._m = metrics

    def collect(self):
        m = self._m
        yield CounterMetricFamily("manifest_heartbeats", "Heartbeats received by this node",
                                  value=m.heartbeats.value, created=m.heartbeats.created)
        failures = CounterMetricFamily("manifest_heartbeat_failures",
                                       "Heartbeats received here that were refused, by error code", labels=["code"])
        for code, n in sorted(dict(m.heartbeat_failures).items()):
            failures.add_metric([code], n)
        yield failures
        yield GaugeMetricFamily("manifest_blocking_reads", "Requests waiting in a blocking read (?index=&wait=)",
                                value=m.blocking_reads.value)


class _RouteMethod:
    """Requests of one (route, method): counts by status and a latency histogram."""

    __slots__ = ("labels", "by_status", "status_created", "buckets", "sum", "created")

    def __init__(self, route: str, method: str):
        self.labels = (route, method)
        self.by_status: dict[int, int] = {}
        self.status_created: dict[int, float] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket, not cumulative; last is +Inf
        self.sum = 0.0
        self.created = time.time()


class HttpMetrics:
    """``manifest_http_requests_total`` and ``manifest_http_request_duration_seconds``.

    The same series prometheus_client's Counter and Histogram would expose,
    counted in plain ints: those take a lock and look up label children on
    every request, which cost several times the count itself on the read path.
    Counting happens on the event loop only; a scrape (in an executor thread)
    copies before reading.
    """

    def __init__(self):
        self._series: dict[tuple[str, str], _RouteMethod] = {}

    def _get(self, route: str, method: str) -> _RouteMethod:
        series = self._series.get((route, method))
        if series is None:
            series = self._series[(route, method)] = _RouteMethod(route, method)
        return series

    def route(self, route: str, method: str | None):
        """``observe(status, seconds, method)``; ``method`` None: the route serves any method.

        A series appears at its first request, as prometheus_client's labelled
        children do, so routes never called stay out of the exposition.
        """
        if method is None:
            def observe_any(status: int, seconds: float, method: str) -> None:
                _count(self._get(route, method), status, seconds)
            return observe_any
        bound: list[_RouteMethod] = []

        def observe(status: int, seconds: float, _method: str) -> None:
            if not bound:
                bound.append(self._get(route, method))
            _count(bound[0], status, seconds)
        return observe

    def collect(self):
        requests = CounterMetricFamily("manifest_http_requests", "HTTP requests by route, method and status",
                                       labels=["route", "method", "status"])
        latency = HistogramMetricFamily("manifest_http_request_duration_seconds",
                                        "HTTP request latency by route and method", labels=["route", "method"])
        for series in list(self._series.values()):
            by_status, counts, total = dict(series.by_status), list(series.buckets), series.sum
            for status, n in by_status.items():
                requests.add_metric([*series.labels, str(status)], n, created=series.status_created[status])
            cumulative, buckets = 0, []
            for bound, n in zip((*map(_le, LATENCY_BUCKETS), "+Inf"), counts):
                cumulative += n
                buckets.append((bound, cumulative))
            latency.add_metric(list(series.labels), buckets, total)
            latency.add_sample("manifest_http_request_duration_seconds_created",
                               dict(zip(("route", "method"), series.labels)), series.created)
        yield requests
        yield latency


def _count(series: _RouteMethod, status: int, seconds: float) -> None:
    n = series.by_status.get(status)
    if n is None:
        series.status_created[status] = time.time()
        n = 0
    series.by_status[status] = n + 1
    series.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
    series.sum += seconds


def _le(bound: float) -> str:
    return repr(float(bound))  # prometheus_client's spelling: 0.005, 1.0, 10.0
