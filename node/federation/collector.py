"""Prometheus series of the federation: each region's health and round-trip time, forwarded reads by outcome.

Read at scrape time from the directory and the forwarder's plain counters
(nothing is counted through prometheus_client on the request path).
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class FederationCollector:
    def __init__(self, federation):
        self._fed = federation

    def collect(self):
        up = GaugeMetricFamily("manifest_federation_region_up", "1 while some node of the region answers "
                               "its health probe", labels=["region"])
        rtt = GaugeMetricFamily("manifest_federation_region_rtt_seconds", "Round-trip time of the region's "
                                "fastest healthy node (moving average of probes)", labels=["region"])
        nodes = GaugeMetricFamily("manifest_federation_nodes_healthy", "Nodes of the region answering",
                                  labels=["region"])
        for region in self._fed.directory.regions.values():
            up.add_metric([region.name], 1 if region.healthy else 0)
            nodes.add_metric([region.name], sum(1 for n in region.nodes if n.healthy))
            if region.rtt_ms is not None:
                rtt.add_metric([region.name], region.rtt_ms / 1000)
        yield up
        yield rtt
        yield nodes
        reads = CounterMetricFamily("manifest_federation_reads", "Reads sent to another region, by outcome: ok "
                                    "(a node answered), retried (a node failed, the next was tried), "
                                    "unavailable (no node answered), refused (the region refused the "
                                    "federation token)", labels=["region", "outcome"])
        forwarder = self._fed.forwarder
        for (region, outcome), n in sorted((forwarder.counts if forwarder else {}).items()):
            reads.add_metric([region, outcome], n)
        yield reads
