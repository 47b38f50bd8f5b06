"""What ``manifest cluster`` and ``manifest stats`` compute beyond a single request.

Member lag needs every member's own ``/v1/health``; the heartbeat rate needs
two ``/metrics`` scrapes of the same node.  Kept apart from ``cli.py`` so the
commands stay about presentation.
"""

from __future__ import annotations

import time
from typing import Any

from ._errors import ManifestError
from ._metrics import summarize
from ._models import ClusterInfo, Health
from ._sync_client import Registry

__all__ = ["member_lags", "scrape_metrics"]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def member_lags(reg: Registry, info: ClusterInfo) -> dict[str, int | str | None]:
    """Entries each member is behind the leader's commit index (or ``unreachable``).

    Uses a ``lag`` or ``match_index`` the cluster view may carry, else asks each
    member's ``/v1/health`` for its ``applied_index``.
    """
    healths: dict[str, Health | None] = {}
    for m in info.members:
        if m.api:
            try:
                healths[m.id] = reg.health(m.api)
            except ManifestError:
                healths[m.id] = None
    leader_commit = info.commit_index
    for m in info.members:
        health = healths.get(m.id)
        if m.role == "leader" and health is not None:
            leader_commit = _int(health.extra.get("commit_index")) or leader_commit
    lags: dict[str, int | str | None] = {}
    for m in info.members:
        health = healths.get(m.id)
        if _int(m.extra.get("lag")) is not None:
            lags[m.id] = _int(m.extra["lag"])
        elif m.api and health is None:
            lags[m.id] = "unreachable"
        else:
            applied = _int(m.extra.get("match_index"))
            if applied is None and health is not None:
                applied = _int(health.extra.get("applied_index"))
            lags[m.id] = None if applied is None or leader_commit is None else max(0, leader_commit - applied)
    return lags


def scrape_metrics(reg: Registry, sample: float) -> dict[str, Any] | None:
    """Heartbeat total, heartbeat rate and latency rows from the first node serving ``/metrics``.

    With ``sample`` > 0 the same node is scraped twice, ``sample`` seconds apart,
    for the rate.  ``None`` when no node answers.
    """
    for endpoint in reg.endpoints:
        try:
            first = summarize(reg.metrics(endpoint))
        except ManifestError:
            continue
        out: dict[str, Any] = {"endpoint": endpoint, "heartbeats_total": first.heartbeats_total,
                               "heartbeat_rate": None, "latency": first.latency}
        if sample > 0 and first.heartbeats_total is not None:
            time.sleep(sample)
            try:
                second = summarize(reg.metrics(endpoint))
            except ManifestError:
                return out
            if second.heartbeats_total is not None:
                out["heartbeat_rate"] = max(0.0, second.heartbeats_total - first.heartbeats_total) / sample
                out["heartbeats_total"] = second.heartbeats_total
                out["latency"] = second.latency
        return out
    return None
