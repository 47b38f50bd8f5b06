"""What a chaos run records, and its files (JSON lines) for later inspection.

Every client operation becomes an ``Op`` with invocation and completion
times (seconds since the run started, one monotonic clock for all threads)
and an outcome: ``ok``, ``fail`` (certainly had no effect) or ``unknown``.
``RunData`` gathers the operations with the faults, watch streams, status
samples, deposed-leader probes and end-of-run observations, and round-trips
through a folder so ``python -m tests.chaos --check DIR`` can judge it again.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Op:
    id: int
    proc: str  # the worker that issued it
    kind: str  # put | del | get | lget | hb | probe-put | probe-get
    key: str  # "name/id"
    node: str
    start: float
    end: float | None = None  # when the answer came (or the client gave up)
    outcome: str = "unknown"  # ok | fail | unknown
    value: str | None = None  # put: value written; reads: value seen (None = absent)
    flag: bool | None = None  # put: created; del: existed
    status: int | None = None  # HTTP status, None for transport errors
    code: str | None = None  # error code or transport error
    extra: dict = field(default_factory=dict)


class Clock:
    def __init__(self):
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0


class History:
    """Thread-safe list of operations."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self.ops: list[Op] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def begin(self, proc: str, kind: str, key: str, node: str, **kw) -> Op:
        op = Op(next(self._ids), proc, kind, key, node, self.clock.now(), **kw)
        with self._lock:
            self.ops.append(op)
        return op

    def finish(self, op: Op, outcome: str, **kw) -> Op:
        for k, v in kw.items():
            setattr(op, k, v)
        op.outcome, op.end = outcome, self.clock.now()
        return op


@dataclass
class RunData:
    meta: dict = field(default_factory=dict)  # seed, mode, parameters, key times
    ops: list[Op] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)  # {kind, start, end, detail}
    watchers: dict = field(default_factory=dict)  # name -> {"items": [...], "errors": [...]}
    samples: list[dict] = field(default_factory=list)  # {t, node, id, status}
    probes: list[dict] = field(default_factory=list)  # deposed-leader observations
    final: dict = field(default_factory=dict)  # end-of-run observations

    def save(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        _dump(os.path.join(folder, "meta.json"), self.meta)
        _dump(os.path.join(folder, "final.json"), self.final)
        _lines(os.path.join(folder, "ops.jsonl"), [dataclasses.asdict(o) for o in self.ops])
        _lines(os.path.join(folder, "faults.jsonl"), self.faults)
        _lines(os.path.join(folder, "samples.jsonl"), self.samples)
        _lines(os.path.join(folder, "probes.jsonl"), self.probes)
        for name, w in self.watchers.items():
            _lines(os.path.join(folder, f"watch-{name}.jsonl"),
                   [{"errors": w.get("errors", [])}] + w["items"])

    @classmethod
    def load(cls, folder: str) -> "RunData":
        data = cls(meta=_load(os.path.join(folder, "meta.json")),
                   final=_load(os.path.join(folder, "final.json")))
        data.ops = [Op(**d) for d in _read_lines(os.path.join(folder, "ops.jsonl"))]
        data.faults = _read_lines(os.path.join(folder, "faults.jsonl"))
        data.samples = _read_lines(os.path.join(folder, "samples.jsonl"))
        data.probes = _read_lines(os.path.join(folder, "probes.jsonl"))
        for name in sorted(os.listdir(folder)):
            if name.startswith("watch-") and name.endswith(".jsonl"):
                rows = _read_lines(os.path.join(folder, name))
                data.watchers[name[6:-6]] = {"errors": rows[0].get("errors", []), "items": rows[1:]}
        return data


def _dump(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, default=str)


def _load(path: str):
    with open(path) as f:
        return json.load(f)


def _lines(path: str, rows) -> None:
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True, default=str) + "\n")


def _read_lines(path: str) -> list:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
