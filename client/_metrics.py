"""Reading the few numbers ``manifest stats`` shows out of a node's Prometheus text.

A small parser of the text exposition format (no dependency on
``prometheus_client``, which only the server needs) and Prometheus's own
``histogram_quantile`` interpolation.  Missing metrics yield missing numbers,
never errors: nodes of different versions export different sets.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["Sample", "parse_samples", "histogram_quantile", "LatencyRow", "MetricsSummary", "summarize"]

LATENCY = "manifest_http_request_duration_seconds"
HEARTBEATS = "manifest_heartbeats_total"
QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class Sample:
    """One sample line: metric name, labels, value."""

    name: str
    labels: dict[str, str]
    value: float


def _parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    i = 0
    while i < len(text):
        eq = text.index("=", i)
        key = text[i:eq].strip().lstrip(",").strip()
        if text[eq + 1] != '"':
            raise ValueError("label value must be quoted")
        j = eq + 2
        value: list[str] = []
        while text[j] != '"':
            if text[j] == "\\":
                j += 1
                value.append({"n": "\n"}.get(text[j], text[j]))
            else:
                value.append(text[j])
            j += 1
        labels[key] = "".join(value)
        i = j + 1
        while i < len(text) and text[i] in ", ":
            i += 1
    return labels


def parse_samples(text: str) -> list[Sample]:
    """Every sample in a Prometheus text exposition; malformed lines are skipped."""
    samples: list[Sample] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if "{" in line:
                name, rest = line.split("{", 1)
                close = _closing_brace(rest)
                labels = _parse_labels(rest[:close])
                value_part = rest[close + 1:]
            else:
                name, value_part = line.split(None, 1)
                labels = {}
            samples.append(Sample(name.strip(), labels, float(value_part.split()[0])))
        except (ValueError, IndexError):
            continue
    return samples


def _closing_brace(rest: str) -> int:
    quoted = escaped = False
    for i, ch in enumerate(rest):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "}" and not quoted:
            return i
    raise ValueError("unterminated label set")


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Estimate quantile ``q`` from cumulative ``(le, count)`` buckets, as Prometheus does."""
    buckets = sorted(buckets)
    if not buckets or not math.isinf(buckets[-1][0]):
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for upper_bound, count in buckets:
        if count >= rank:
            if math.isinf(upper_bound):
                # The open top bucket has no width: answer its lower edge.
                return lower_bound if len(buckets) > 1 else None
            if count == lower_count:
                return upper_bound
            return lower_bound + (upper_bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = upper_bound, count
    return None


@dataclass
class LatencyRow:
    """Request count and latency quantiles (seconds) of one route and method."""

    route: str
    method: str
    count: float
    quantiles: dict[float, float | None] = field(default_factory=dict)


@dataclass
class MetricsSummary:
    """What ``manifest stats`` shows from ``/metrics``; ``None`` where a metric is absent."""

    heartbeats_total: float | None = None
    latency: list[LatencyRow] = field(default_factory=list)


def summarize(text: str) -> MetricsSummary:
    """Heartbeat total and per-route latency quantiles out of Prometheus text."""
    heartbeats: float | None = None
    buckets: dict[tuple[str, str], dict[float, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[tuple[str, str], float] = defaultdict(float)
    for sample in parse_samples(text):
        if sample.name == HEARTBEATS:
            heartbeats = (heartbeats or 0.0) + sample.value
            continue
        key = (sample.labels.get("route", "?"), sample.labels.get("method", "?"))
        # Other labels (status code, node) are summed away.
        if sample.name == LATENCY + "_bucket" and "le" in sample.labels:
            try:
                buckets[key][float(sample.labels["le"])] += sample.value
            except ValueError:
                continue
        elif sample.name == LATENCY + "_count":
            counts[key] += sample.value
    rows = []
    for key in sorted(set(buckets) | set(counts)):
        pairs = list(buckets.get(key, {}).items())
        count = counts.get(key, max((c for _, c in pairs), default=0.0))
        quantiles = {q: histogram_quantile(q, pairs) for q in QUANTILES}
        rows.append(LatencyRow(key[0], key[1], count, quantiles))
    return MetricsSummary(heartbeats_total=heartbeats, latency=rows)
