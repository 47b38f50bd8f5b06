"""The process's own series: the standard ``process_*`` names, plus the node's uptime.

prometheus_client's ProcessCollector reads /proc/self at scrape time
(``process_start_time_seconds``, ``process_cpu_seconds_total``,
``process_resident_memory_bytes``, ``process_virtual_memory_bytes``,
``process_open_fds``, ``process_max_fds``): the names every Prometheus
dashboard knows, computed as Go's and Java's clients compute them. Where
/proc is missing it yields nothing, and so does the uptime below.
"""

from __future__ import annotations

import time

from prometheus_client import ProcessCollector
from prometheus_client.core import GaugeMetricFamily


class ProcessMetrics:
    def __init__(self):
        self._proc = ProcessCollector(registry=None)

    def collect(self):
        start = None
        for family in self._proc.collect():
            if family.name == "process_start_time_seconds" and family.samples:
                start = family.samples[0].value
            yield family
        if start is not None:
            # Derivable (time() - process_start_time_seconds), but a panel or an
            # operator's curl should not need the arithmetic.
            yield GaugeMetricFamily("manifest_uptime_seconds", "Seconds since this node's process started",
                                    value=max(0.0, time.time() - start))
