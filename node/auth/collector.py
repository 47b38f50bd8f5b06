"""Prometheus series of the auth layer: requests per token, audit lines per outcome.

Counted in plain ints on the event loop (as metrics.HttpMetrics does) and
read by a scrape: token ids and roles as labels, never a secret.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily


class AuthCollector:
    def __init__(self, ctx):
        self._ctx = ctx

    def collect(self):
        usage = CounterMetricFamily("manifest_token_requests", "Requests authenticated by each token",
                                    labels=["token_id", "role"])
        for principal, n in list(self._ctx.usage.items()):
            usage.add_metric([principal.id, principal.role], n)
        yield usage
        audit = self._ctx.audit
        if audit is not None:
            lines = CounterMetricFamily("manifest_audit_events", "Audit log lines by outcome", labels=["outcome"])
            for outcome, n in audit.counts.items():
                lines.add_metric([outcome], n)
            yield lines
            yield CounterMetricFamily("manifest_audit_lines_lost", "Audit lines that could not be written",
                                      value=audit.lost)
