"""The failover policy: which regions a discovery read falls back to when this one has no instance.

Consul's prepared-query failover, done simply: an ordered list per service
(``failover_service``), else the default list (``failover``); either may
be ``nearest``: every healthy region by round-trip time. ``?failover=nearest``
asks for that order whatever the lists say. Regions the prober holds
unhealthy are skipped (and reported as skipped), never waited on.
"""

from __future__ import annotations

from .directory import Directory
from .settings import NEAREST

POLICY = "policy"  # ?failover=true|policy: the configured lists


class FailoverPolicy:
    def __init__(self, own: str, default: tuple[str, ...], per_service: dict[str, tuple[str, ...]]):
        self.own, self.default, self.per_service = own, default, per_service

    def listed(self, service: str | None, mode: str) -> tuple[str, ...]:
        if mode == NEAREST:
            return (NEAREST,)
        return self.per_service.get(service, self.default) if service else self.default

    def order(self, service: str | None, directory: Directory, mode: str = POLICY) -> tuple[list[str], list[str]]:
        """(regions to ask, in order; regions skipped because unhealthy), this region excluded."""
        listed = self.listed(service, mode)
        if listed == (NEAREST,):
            names = sorted((r for r in directory.regions.values() if r.healthy),
                           key=lambda r: r.rtt_ms if r.rtt_ms is not None else float("inf"))
            healthy = {r.name for r in names}
            return [r.name for r in names], [n for n in directory.names() if n not in healthy]
        ask, skipped = [], []
        for name in listed:
            if name == self.own or name not in directory:
                continue
            region = directory.get(name)
            (skipped if region.probed and not region.healthy else ask).append(name)
        return ask, skipped
