"""Each remote region's nodes with what this node last learned of them: health, round-trip time, circuit.

The prober (prober.py) writes here after every health probe, the
forwarder (forward.py) after every attempt. ``candidates`` orders a
region's nodes for one request: healthy ones by round-trip time first,
then those not yet probed; a node whose circuit is open (it failed a
moment ago) is left out until a probe or its back-off lets it back in, so
a dead node costs one timeout, not one per request. Those left out are
still tried, after every candidate failed, while the request has time left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

_BACKOFF_MAX = 30.0  # seconds a failed node is skipped at most before it is tried again
_RTT_WEIGHT = 0.3  # of a new sample in the moving average


def _iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall * 1000) % 1000:03d}Z"


@dataclass
class RemoteNode:
    url: str
    healthy: bool | None = None  # None: not probed yet
    rtt_ms: float | None = None
    last_seen: float | None = None  # wall clock of the last answer, for display only
    role: str | None = None
    error: str | None = None
    failures: int = 0  # in a row
    open_until: float = 0.0  # monotonic; the circuit is open (node skipped) until then

    def succeeded(self, rtt_ms: float, ready: bool = True, role: str | None = None) -> None:
        self.rtt_ms = rtt_ms if self.rtt_ms is None else (1 - _RTT_WEIGHT) * self.rtt_ms + _RTT_WEIGHT * rtt_ms
        self.healthy, self.role, self.error = ready, role, None if ready else "not ready"
        self.last_seen = time.time()
        self.failures, self.open_until = 0, 0.0

    def failed(self, error: str) -> None:
        self.healthy, self.error = False, error
        self.failures += 1
        self.open_until = time.monotonic() + min(_BACKOFF_MAX, 0.5 * 2 ** min(self.failures, 8))

    @property
    def circuit_open(self) -> bool:
        return self.open_until > time.monotonic()

    def view(self) -> dict:
        return {"url": self.url, "healthy": bool(self.healthy), "rtt_ms": _ms(self.rtt_ms),
                "last_seen": _iso(self.last_seen), "role": self.role, "error": self.error,
                "circuit": "open" if self.circuit_open else "closed"}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass
class Region:
    name: str
    nodes: list[RemoteNode] = field(default_factory=list)

    @property
    def probed(self) -> bool:
        return any(n.healthy is not None for n in self.nodes)

    @property
    def healthy(self) -> bool:
        return any(n.healthy for n in self.nodes)

    @property
    def rtt_ms(self) -> float | None:
        rtts = [n.rtt_ms for n in self.nodes if n.healthy and n.rtt_ms is not None]
        return min(rtts) if rtts else None

    @property
    def last_seen(self) -> float | None:
        seen = [n.last_seen for n in self.nodes if n.last_seen is not None]
        return max(seen) if seen else None

    def candidates(self) -> list[RemoteNode]:
        """The nodes to try for one request, best first; none when every one failed a moment ago."""
        usable = [n for n in self.nodes if not n.circuit_open and n.healthy is not False]
        usable.sort(key=lambda n: (not n.healthy, n.rtt_ms if n.rtt_ms is not None else float("inf")))
        # Failed but due for another try (back-off over): after the good ones.
        retry = [n for n in self.nodes if not n.circuit_open and n.healthy is False]
        return usable + retry

    def held_back(self) -> list[RemoteNode]:
        """The nodes ``candidates`` leaves out (circuit open), fewest failures first: a last resort.

        A probe that timed out on a loaded machine opens a live node's circuit as surely as a
        dead node's; when every candidate then fails, one of these may still answer in time."""
        return sorted((n for n in self.nodes if n.circuit_open), key=lambda n: n.failures)

    def view(self) -> dict:
        return {"name": self.name, "local": False, "healthy": self.healthy, "rtt_ms": _ms(self.rtt_ms),
                "last_seen": _iso(self.last_seen), "nodes": [n.view() for n in self.nodes]}


class Directory:
    """The configured remote regions, in configuration order."""

    def __init__(self, own: str, regions: dict[str, tuple[str, ...]]):
        self.own = own
        self.regions = {name: Region(name, [RemoteNode(u) for u in urls]) for name, urls in regions.items()}

    def __contains__(self, name: str) -> bool:
        return name in self.regions

    def get(self, name: str) -> Region:
        return self.regions[name]

    def names(self) -> list[str]:
        return list(self.regions)

    def view(self) -> list[dict]:
        local = {"name": self.own, "local": True, "healthy": True, "rtt_ms": 0.0, "last_seen": _iso(time.time()),
                 "nodes": []}
        return [local, *(r.view() for r in self.regions.values())]
