"""Choosing one instance out of a discovery result.

Round-robin keeps a counter per service so that successive calls with fresh
lists still rotate; the list is sorted by id first because the server's order
may change between calls.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Sequence
from typing import Literal

from ._models import Instance

__all__ = ["Picker", "pick", "Strategy"]

Strategy = Literal["round_robin", "random", "least_loaded"]


def _load(instance: Instance) -> float | None:
    raw = instance.metadata.get("load")
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if value == value else None  # NaN is not a load


class Picker:
    """Chooses instances; holds the round-robin counters.

    Use one per client (or the module-level :func:`pick`).  Thread-safe.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def pick(self, instances: Sequence[Instance], strategy: Strategy = "round_robin") -> Instance:
        """Return one instance of ``instances`` chosen by ``strategy``.

        * ``round_robin``: rotate through the instances of a service.
        * ``random``: uniform choice.
        * ``least_loaded``: the lowest numeric ``metadata["load"]``; instances
          without a numeric load come after all that have one, and ties
          are broken at random.

        Raises ``ValueError`` when ``instances`` is empty or the strategy unknown.
        """
        if not instances:
            raise ValueError("no instances to pick from")
        if strategy == "random":
            return self._rng.choice(list(instances))
        if strategy == "least_loaded":
            known = [(load, i) for i in instances if (load := _load(i)) is not None]
            if not known:
                return self._rng.choice(list(instances))
            lowest = min(load for load, _ in known)
            return self._rng.choice([i for load, i in known if load == lowest])
        if strategy == "round_robin":
            ordered = sorted(instances, key=lambda i: (i.name, i.id or ""))
            key = ordered[0].name
            with self._lock:
                counter = self._counters.setdefault(key, itertools.count())
                turn = next(counter)
            return ordered[turn % len(ordered)]
        raise ValueError(f"unknown strategy {strategy!r}")


_default_picker = Picker()


def pick(instances: Sequence[Instance], strategy: Strategy = "round_robin") -> Instance:
    """Choose one instance with a process-wide :class:`Picker` (see ``Picker.pick``)."""
    return _default_picker.pick(instances, strategy)
