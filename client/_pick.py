"""Choosing one instance out of a discovery result: the registry's own rules (node/api/pick.py).

- only ``up`` instances are candidates (a record without a status, built
  locally, counts as up): never ``draining``, ``maintenance``, ``starting``;
  an instance of weight 0 is never picked;
- ``random``: uniform; ``weighted``: in proportion to ``weight`` (default 1);
- ``least_loaded``: the lowest ``load`` (the heartbeat field; else a numeric
  ``metadata["load"]``, as older fleets reported it); instances without one
  come after all that have one; ties are broken at random;
- ``round_robin``: in (name, id) order, one counter per service, so
  successive calls with fresh lists still rotate.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import threading
from collections.abc import Sequence
from typing import Literal

from ._models import Instance

__all__ = ["Picker", "pick", "Strategy", "STRATEGIES"]

Strategy = Literal["round_robin", "random", "least_loaded", "weighted"]
STRATEGIES = ("least_loaded", "weighted", "random", "round_robin")


# float() would also take "inf", "nan", "1_0", spaces and other scripts' digits.
_NUMBER = re.compile(r"-?[0-9]{1,18}(?:\.[0-9]{1,18})?")


def _load(instance: Instance) -> float | None:
    if instance.load is not None:
        return instance.load
    raw = instance.metadata.get("load")
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return None
    if isinstance(raw, str):
        return float(raw) if _NUMBER.fullmatch(raw) else None
    return float(raw) if math.isfinite(raw) else None


def _weight(instance: Instance) -> float:
    return 1.0 if instance.weight is None else instance.weight


def candidates(instances: Sequence[Instance]) -> list[Instance]:
    """The instances a pick may return."""
    return [i for i in instances if i.status in (None, "up") and _weight(i) > 0]


class Picker:
    """Chooses instances; holds the round-robin counters.

    Use one per client (or the module-level :func:`pick`).  Thread-safe.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def pick(self, instances: Sequence[Instance], strategy: Strategy = "round_robin") -> Instance:
        """Return one instance of ``instances`` chosen by ``strategy`` (the module's rules).

        Raises ``ValueError`` when no instance qualifies or the strategy is unknown.
        """
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}")
        pool = candidates(instances)
        if not pool:
            raise ValueError("no instance to pick from (none is up with a weight above 0)")
        if strategy == "random":
            return self._rng.choice(pool)
        if strategy == "weighted":
            return self._rng.choices(pool, weights=[_weight(i) for i in pool])[0]
        if strategy == "least_loaded":
            known = [(load, i) for i in pool if (load := _load(i)) is not None]
            if not known:
                return self._rng.choice(pool)
            lowest = min(load for load, _ in known)
            return self._rng.choice([i for load, i in known if load == lowest])
        ordered = sorted(pool, key=lambda i: (i.name, i.id or ""))
        key = ordered[0].name
        with self._lock:
            counter = self._counters.setdefault(key, itertools.count())
            turn = next(counter)
        return ordered[turn % len(ordered)]


_default_picker = Picker()


def pick(instances: Sequence[Instance], strategy: Strategy = "round_robin") -> Instance:
    """Choose one instance with a process-wide :class:`Picker` (see ``Picker.pick``)."""
    return _default_picker.pick(instances, strategy)
