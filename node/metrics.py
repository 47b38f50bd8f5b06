"""Prometheus metrics of one node, in a registry of its own (tests run many apps)."""

from __future__ import annotations

import time
from bisect import bisect_left

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from .fsm.query import counts_by_status

ROLE_VALUES = ("leader", "follower", "candidate")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self, store):
        self.registry = CollectorRegistry(auto_describe=False)
        self.http = HttpMetrics()
        self.registry.register(self.http)
        self.heartbeats = Counter("manifest_heartbeats", "Heartbeats received by this node",
                                  registry=self.registry)
        self.expirations = Counter("manifest_expirations", "Instances turned down by the expiry clock",
                                   registry=self.registry)
        self.removals = Counter("manifest_removals", "Down instances removed after the grace period",
                                registry=self.registry)
        self.registry.register(_StoreCollector(store))

    def route(self, route: str, method: str | None):
        """``observe(status, seconds, method)`` for one route's requests (see HttpMetrics)."""
        return self.http.route(route, method)

    def on_events(self, index, events) -> None:
        for ev in events or ():
            if ev.kind == "expired":
                self.expirations.inc()
            elif ev.kind == "deregistered" and ev.reason == "grace":
                self.removals.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


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


class _StoreCollector:
    def __init__(self, store):
        self._store = store

    def collect(self):
        st = self._store.status()
        role = GaugeMetricFamily("manifest_raft_role", "1 for this node's current Raft role", labels=["role"])
        for r in ROLE_VALUES:
            role.add_metric([r], 1.0 if st.role == r else 0.0)
        yield role
        yield GaugeMetricFamily("manifest_raft_term", "Current Raft term", value=st.term)
        yield GaugeMetricFamily("manifest_raft_commit_index", "Raft commit index known here", value=st.commit)
        yield GaugeMetricFamily("manifest_raft_applied_index", "Raft index applied here", value=st.applied)
        yield GaugeMetricFamily("manifest_registry_revision", "Registry revision applied here",
                                value=st.revision)
        yield GaugeMetricFamily("manifest_ready", "1 when this node is ready to serve",
                                value=1.0 if st.ready else 0.0)
        counts = self._store.read(counts_by_status)
        inst = GaugeMetricFamily("manifest_instances", "Instances by status", labels=["status"])
        for status, n in counts.items():
            inst.add_metric([status], n)
        yield inst
