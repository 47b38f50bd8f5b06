"""Seeded fault schedules and the loop that plays them on the main thread.

A schedule is a list of ``Step``s: the fault kinds started together, how
long they last, and the quiet gap after them. ``short_schedule`` is the CI
run's fixed tour of every kind; ``random_schedule`` draws one step every
``interval`` seconds (sometimes nothing, sometimes two faults at once).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from .faults import ClockSkew, Delay, Disk, Kill, Loss, Partition, Pause

KINDS = ("kill", "kill-leader", "pause", "pause-leader", "isolate-leader", "split", "bridge",
         "loss", "delay", "clock", "disk")


def make(kind: str, rng: random.Random):
    if kind in ("kill", "kill-leader"):
        return Kill(who="leader" if kind == "kill-leader" else "any")
    if kind in ("pause", "pause-leader"):
        return Pause(who="leader" if kind == "pause-leader" else "any")
    if kind in ("isolate-leader", "split", "bridge"):
        return Partition(shape=kind)
    if kind == "loss":
        return Loss(who=rng.choice(["any", "leader"]), p=0.5)
    if kind == "delay":
        return Delay(who=rng.choice(["any", "all"]), ms=rng.choice([50, 100, 200, 300]))
    if kind == "clock":
        return ClockSkew(who=rng.choice(["any", "leader"]))
    if kind == "disk":
        return Disk(who=rng.choice(["any", "leader"]))
    raise ValueError(f"unknown fault kind {kind!r}")


@dataclass
class Step:
    kinds: tuple[str, ...]
    duration: float
    gap: float


def short_schedule() -> list[Step]:
    """Every kind at least once, a combination at the end: about 50 s."""
    return [
        Step(("kill",), 2.0, 1.5),
        Step(("isolate-leader",), 3.5, 2.0),
        Step(("pause-leader",), 1.5, 1.5),
        Step(("loss",), 3.0, 1.5),
        Step(("split",), 3.0, 1.5),
        Step(("delay",), 3.0, 1.0),
        Step(("kill-leader",), 2.0, 1.5),
        Step(("bridge",), 3.5, 2.0),
        Step(("clock",), 0.5, 1.5),
        Step(("pause",), 1.5, 1.5),
        Step(("disk",), 3.0, 2.0),
        Step(("delay", "kill"), 2.5, 2.0),
    ]


def random_schedule(rng: random.Random, total_s: float, interval: float = 5.0) -> list[Step]:
    steps, t = [], 0.0
    weights = {"kill": 2, "kill-leader": 2, "pause": 2, "pause-leader": 2, "isolate-leader": 3,
               "split": 2, "bridge": 2, "loss": 2, "delay": 2, "clock": 1, "disk": 2}
    kinds, w = list(weights), list(weights.values())
    while t < total_s:
        roll = rng.random()
        if roll < 0.15:
            steps.append(Step((), 0.0, interval))
        else:
            count = 2 if roll > 0.75 else 1
            chosen = tuple(rng.choices(kinds, w, k=count))
            duration = round(rng.uniform(1.5, interval - 1.0), 2)
            steps.append(Step(chosen, duration, round(interval - duration, 2)))
        t += interval
    return steps


class Nemesis:
    def __init__(self, env):
        self.env, self.active = env, []

    def play(self, steps: list[Step], until: float | None = None) -> None:
        """Run the steps (those that end by ``until``, when given); leaves the cluster healed."""
        env = self.env
        for n, step in enumerate(steps):
            if until is not None and env.clock.now() + step.duration > until:
                break
            for kind in step.kinds:
                fault = make(kind, env.rng)
                record = {"kind": kind, "step": n, "start": round(env.clock.now(), 3)}
                self.active.append((fault, record))  # stopped even if it fails half-way
                try:
                    fault.start(env)
                except Exception as exc:  # a fault that could not start is noted, not fatal
                    record["error"] = repr(exc)[:300]
                record["kind"], record["detail"] = fault.kind, fault.detail
                env.faults.append(record)
            _sleep(step.duration)
            self.stop_active()
            _sleep(step.gap if until is None else min(step.gap, max(0.0, until - env.clock.now())))
        self.heal()

    def stop_active(self) -> None:
        while self.active:
            fault, record = self.active.pop()
            try:
                fault.stop(self.env)
            except Exception as exc:
                record["stop_error"] = repr(exc)[:300]
            record["end"] = round(self.env.clock.now(), 3)

    def heal(self) -> None:
        """Every fault off: network clear, paused nodes continued, dead nodes started."""
        self.stop_active()
        cluster = self.env.cluster
        self.env.net.parts.clear()
        cluster.set_network()
        for node in cluster.nodes:
            node.resume()
            if not node.alive:
                node.start()


def _sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
