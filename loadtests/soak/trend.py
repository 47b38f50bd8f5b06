"""Does a sampled series grow without bound? A slope per node and series, against a threshold.

Pure (standard library only), so tests/loadtests/test_soak_trend.py checks it
without a cluster.

Method: a *segment-aware Theil–Sen* slope. Every sample carries the segment
it belongs to: the node's process generation (0 until its first restart,
then 1, ...). The slope is the median of the slopes of all pairs of samples
in the fit window that belong to the same segment. So

  * a restart, which resets RSS, file descriptors and threads, is a level
    shift between segments and takes no part in the estimate (pairs across it
    are never formed), while every segment in the window still contributes;
  * one spike (a snapshot being packed, a GC pause in a p99) moves the median
    of the pairwise slopes little, where it would tilt a least-squares line.

Samples marked ``warm`` (taken within the warm-up after a node's restart:
its process is loading the snapshot and filling its caches) are left out
of the series a restart resets. RSS also leaves out the samples of a
process younger than ``WARMUP_MIN`` (its age from /proc), the allocators'
warm-up; and a lifetime whose kept samples span under ``MIN_SPAN_MIN``
takes no part in a series a restart resets.

Series that survive a restart on disk (journal, snapshot) are fitted as one
segment per node: their own resets (log compaction) are part of what is
measured, and compaction's saw-tooth sampled once a minute looks like noise
around a flat line, not like growth.

A slope is reported per hour with its 95% confidence interval: Sen's
interval from the variance of Kendall's S, summed over segments as in the
seasonal Kendall test (Hirsch, Slack & Smith 1982). It fails when it exceeds
the series' threshold (``SERIES``; docs/operations.md, "Soak", says why each
is what it is) *and* the interval lies wholly above zero: growth the run
tells apart from its own noise. A per-minute p99 of ~1,000 requests wanders
by tens of ms; its slopes over one hour spread across hundreds of ms/h in
either direction, and a gate on the point estimate alone failed quiet runs
at random. The interval's half-width is reported too: the smallest growth
the run could have seen. A series with fewer than ``MIN_PAIRS``
same-segment pairs in the window is reported as ``insufficient`` and fails
nothing.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# series -> (unit of the value, threshold of the slope per hour, reset by a restart?, gates the verdict?)
SERIES: dict[str, tuple[str, float, bool, bool]] = {
    "rss_mb": ("MB", 20.0, True, True),
    # the node's own descriptors: every fd but the inbound connections the soak's clients hold open
    "fds_own": ("fds", 10.0, True, True),
    # those connections, and the total: how many the clients' pools keep is theirs to choose; reported
    "http_conns": ("conns", float("inf"), True, False),
    "fds": ("fds", float("inf"), True, False),
    "threads": ("threads", 3.0, True, True),
    "journal_mb": ("MB", 10.0, False, True),
    "snapshot_count": ("files", 1.0, False, True),
    "snapshot_mb": ("MB", 2.0, False, True),
    "write_p99_ms": ("ms", 25.0, True, True),
    "read_p99_ms": ("ms", 25.0, True, True),
    # bounded by rotation (--audit-max-bytes x (--audit-backups + 1)); reported, never gating
    "audit_mb": ("MB", float("inf"), False, False),
}
MIN_PAIRS = 3
# Memory has a longer warm-up than the rest: a process's RSS climbs 15-18 MB over its first 20-25
# minutes and then levels off, with the count of live objects and glibc's bytes in use flat meanwhile
# (the allocators' free space spreading over more pages). Samples of a process younger than this
# (``age_min``) are left out of its series; docs/operations.md ("The memory warm-up") has the slopes
# by age of every lifetime measured. 15 minutes, chosen from two runs, was too short for the third:
# 20 is what the three show, set before the next run.
WARMUP_MIN = {"rss_mb": 20.0}
# A lifetime whose kept samples span less than this takes no part in a series a restart resets: RSS
# moves in steps of 0.5-1.5 MB as a heap grows, and one step within 4 minutes reads as 10-20 MB/h.
MIN_SPAN_MIN = 8.0
# A shorter fit window reports slopes without gating on them: the first minutes of a run (the fleet
# registering, caches and connection pools filling) grow like a leak would, and a 90-second window of a
# 3-minute run sees little else.
GATE_MIN_WINDOW = 15.0
Z95 = 1.959964  # two-sided 95%


@dataclass(frozen=True)
class Sample:
    t_min: float  # minutes since the soak started
    value: float
    segment: int  # the node's process generation


@dataclass(frozen=True)
class Slope:
    node: str
    series: str
    per_hour: float | None  # None: insufficient data
    unit: str
    threshold: float
    points: int
    pairs: int
    gating: bool
    low: float | None = None  # the 95% interval of per_hour
    high: float | None = None

    @property
    def verdict(self) -> str:
        if self.per_hour is None:
            return "insufficient"
        if self.per_hour <= self.threshold:
            return "ok"
        if self.low is not None and self.low <= 0:
            return "ok (within noise)"
        return "FAIL" if self.gating else "grows (not gated)"

    def to_dict(self) -> dict:
        return {"node": self.node, "series": self.series, "slope_per_hour": self.per_hour,
                "ci95_per_hour": [self.low, self.high], "unit": f"{self.unit}/h",
                "threshold_per_hour": self.threshold, "points": self.points, "pairs": self.pairs,
                "gating": self.gating, "verdict": self.verdict}

    @classmethod
    def from_dict(cls, d: dict) -> "Slope":
        low, high = d.get("ci95_per_hour") or (None, None)
        return cls(d["node"], d["series"], d["slope_per_hour"], d["unit"].removesuffix("/h"),
                   d["threshold_per_hour"], d["points"], d["pairs"], d["gating"], low, high)


def _pair_slopes(samples: list[Sample]) -> list[float]:
    slopes = []
    for i, a in enumerate(samples):
        for b in samples[i + 1:]:
            if b.segment == a.segment and b.t_min > a.t_min:
                slopes.append((b.value - a.value) / (b.t_min - a.t_min))
    return slopes


def theil_sen(samples: list[Sample]) -> tuple[float | None, int]:
    """Median of the pairwise slopes (value per minute) within segments; and how many pairs."""
    slopes = _pair_slopes(samples)
    if len(slopes) < MIN_PAIRS:
        return None, len(slopes)
    return statistics.median(slopes), len(slopes)


def sen_interval(samples: list[Sample], z: float = Z95) -> tuple[float, float] | None:
    """Sen's confidence interval of the slope (value per minute), the segments taken as seasons.

    Var(S) of Kendall's S for n points is n(n-1)(2n+5)/18 (no tie correction: ties only widen
    it); S of independent segments add, so their variances do. With C = z * sqrt(Var S) and N
    pairwise slopes in order, the interval runs from the (N - C)/2-th to the (N + C)/2 + 1-th,
    rounded outwards.
    """
    return _interval(sorted(_pair_slopes(samples)), samples, z)


def _interval(slopes: list[float], samples: list[Sample], z: float = Z95) -> tuple[float, float] | None:
    """``sen_interval`` from the samples' pairwise slopes, already sorted."""
    if len(slopes) < MIN_PAIRS:
        return None
    sizes: dict[int, int] = {}
    for p in samples:
        sizes[p.segment] = sizes.get(p.segment, 0) + 1
    c = z * math.sqrt(sum(n * (n - 1) * (2 * n + 5) / 18 for n in sizes.values()))
    n = len(slopes)
    lo = max(0, math.floor((n - c) / 2) - 1)
    hi = min(n - 1, math.ceil((n + c) / 2))
    return slopes[lo], slopes[hi]


def fit_window(duration_min: float, window_min: float = 30.0) -> float:
    """Minutes at the end of the run that are fitted: 30, or the last half of a shorter run."""
    return min(window_min, duration_min / 2)


def slopes(rows: list[dict], duration_min: float, window_min: float = 30.0) -> list[Slope]:
    """``rows``: the soak's samples, dicts with ``node``, ``t_min``, ``segment`` and a value per series."""
    window = fit_window(duration_min, window_min)
    start, gate = duration_min - window, window >= GATE_MIN_WINDOW
    out = []
    for node in sorted({r["node"] for r in rows}):
        mine = [r for r in rows if r["node"] == node and r["t_min"] >= start]
        for series, (unit, threshold, resets, gating) in SERIES.items():
            points = [Sample(r["t_min"], float(r[series]), r["segment"] if resets else 0)
                      for r in mine if r.get(series) is not None and not (resets and _warming(r, series))]
            if resets:
                points = _long_enough(points, min(MIN_SPAN_MIN, window / 4))
            ordered = sorted(_pair_slopes(points))  # once, for the median and the interval
            pairs, interval = len(ordered), _interval(ordered, points)
            per_hour = None if interval is None else round(statistics.median(ordered) * 60, 3)
            low, high = (None, None) if interval is None else (round(v * 60, 3) for v in interval)
            out.append(Slope(node, series, per_hour, unit, threshold, len(points), pairs, gating and gate,
                             low, high))
    return out


def _long_enough(points: list[Sample], span: float) -> list[Sample]:
    """The points of the segments whose points span at least ``span`` minutes."""
    bounds: dict[int, list[float]] = {}
    for p in points:
        lo_hi = bounds.setdefault(p.segment, [p.t_min, p.t_min])
        lo_hi[0], lo_hi[1] = min(lo_hi[0], p.t_min), max(lo_hi[1], p.t_min)
    return [p for p in points if bounds[p.segment][1] - bounds[p.segment][0] >= span]


def _warming(row: dict, series: str) -> bool:
    age = row.get("age_min")
    return bool(row.get("warm")) or (age is not None and age < WARMUP_MIN.get(series, 0.0))


def failures(fitted: list[Slope]) -> list[str]:
    return [f"{s.node} {s.series} grows {s.per_hour:+.2f} {s.unit}/h (threshold {s.threshold:g} {s.unit}/h)"
            for s in fitted if s.verdict == "FAIL"]


def table(fitted: list[Slope]) -> str:
    lines = [f"{'node':5} {'series':15} {'slope':>12} {'95% interval':>23} {'unit':9} {'threshold':>9} "
             f"{'pts':>4} {'pairs':>6}  verdict"]
    for s in fitted:
        value = "-" if s.per_hour is None else f"{s.per_hour:+.3f}"
        ci = "-" if s.low is None else f"[{s.low:+.2f}, {s.high:+.2f}]"
        lines.append(f"{s.node:5} {s.series:15} {value:>12} {ci:>23} {s.unit + '/h':9} {s.threshold:>9g} "
                     f"{s.points:>4} {s.pairs:>6}  {s.verdict}")
    return "\n".join(lines)
