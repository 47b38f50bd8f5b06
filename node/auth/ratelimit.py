"""Token buckets per caller: one for writes, one for expensive reads (full lists, watch streams).

The caller is the token's id when auth is on, else the remote address. A
bucket holds ``burst`` requests and refills at ``rate`` per second; a request
finding it empty is refused with 429 and a Retry-After of the seconds until
one is back (at least 1, as Retry-After counts whole seconds). Refused
requests take nothing, so a client that waits as told gets through.

Per node: each node counts the requests it receives. The bucket table is
bounded; when it is full, buckets that have refilled (callers that went
quiet) are dropped first, so an attacker cycling addresses can cost memory
only up to the bound.
"""

from __future__ import annotations

import math
import time

_MAX_KEYS = 100_000


class Limiter:
    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self._clock = float(rate), float(burst), clock
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, at]

    def take(self, key: str) -> int:
        """0 when ``key`` may go ahead (and one request is taken), else seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_KEYS:
                self._prune(now)
            bucket = self._buckets[key] = [self.burst, now]
        else:
            bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket[0]) / self.rate))

    def _prune(self, now: float) -> None:
        full = [k for k, (tokens, at) in self._buckets.items() if tokens + (now - at) * self.rate >= self.burst]
        for key in full or list(self._buckets)[: _MAX_KEYS // 10]:
            del self._buckets[key]
