"""Prometheus metrics of one node, in a registry of its own (tests run many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .fsm.query import counts_by_status

ROLE_VALUES = ("leader", "follower", "candidate")


class Metrics:
    def __init__(self, store):
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("manifest_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "manifest_http_request_duration_seconds", "HTTP request latency by route and method",
            ["route", "method"], registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.heartbeats = Counter("manifest_heartbeats", "Heartbeats received by this node",
                                  registry=self.registry)
        self.expirations = Counter("manifest_expirations", "Instances turned down by the expiry clock",
                                   registry=self.registry)
        self.removals = Counter("manifest_removals", "Down instances removed after the grace period",
                                registry=self.registry)
        self.registry.register(_StoreCollector(store))

    def on_events(self, index, events) -> None:
        for ev in events or ():
            if ev.kind == "expired":
                self.expirations.inc()
            elif ev.kind == "deregistered" and ev.reason == "grace":
                self.removals.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
