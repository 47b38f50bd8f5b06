"""The summary table of a run: operations by outcome, faults by kind, violations per checker."""

from __future__ import annotations

from collections import Counter

from .history import RunData

OUTCOMES = ("ok", "fail", "unknown")
LABELS = {"put": "register/update", "del": "deregister", "get": "linearizable read",
          "lget": "local read", "hb": "heartbeat", "reg": "register (to drain)", "drain": "drain"}


def _kind(op) -> str:
    if op.proc in ("final", "prober"):
        return f"{op.proc} {'write' if op.kind == 'put' else 'read'}"
    return LABELS.get(op.kind, op.kind)


def summary(data: RunData, results: list, folder: str | None = None) -> str:
    cfg = data.meta.get("config", {})
    lines = [f"chaos run: seed {cfg.get('seed')}, mode {data.meta.get('mode')}, schedule {cfg.get('schedule')}, "
             f"{data.meta.get('t_end', 0):.0f}s in all ({cfg.get('duration')}s of faults)"]
    if folder:
        lines.append(f"histories: {folder}")
    counts: Counter = Counter()
    kinds: list[str] = []
    for op in data.ops:
        k = _kind(op)
        if k not in kinds:
            kinds.append(k)
        counts[(k, op.outcome)] += 1
    faults = Counter(f["kind"] for f in data.faults)
    width = 2 + max([len(k) for k in kinds] + [len(k) for k in faults] + [len(r.name) for r in results] + [18])
    lines += ["", f"{'operations':<{width}} " + " ".join(f"{o:>8}" for o in (*OUTCOMES, "total"))]
    for k in kinds:
        row = [counts[(k, o)] for o in OUTCOMES]
        lines.append(f"  {k:<{width - 2}} " + " ".join(f"{n:>8}" for n in (*row, sum(row))))
    total = [sum(counts[(k, o)] for k in kinds) for o in OUTCOMES]
    lines.append(f"  {'all':<{width - 2}} " + " ".join(f"{n:>8}" for n in (*total, sum(total))))
    lines += ["", f"{'faults injected':<{width}} {'count':>8}"]
    for kind, n in sorted(faults.items()):
        lines.append(f"  {kind:<{width - 2}} {n:>8}")
    lines.append(f"  {'all':<{width - 2}} {sum(faults.values()):>8}")
    lines += ["", f"{'checker':<{width}} {'violations':>10}"]
    for r in results:
        lines.append(f"  {r.name:<{width - 2}} {len(r.violations):>10}")
    for r in results:
        for v in r.violations[:10]:
            lines.append(f"  ! {r.name}: {v}")
        if len(r.violations) > 10:
            lines.append(f"  ! {r.name}: ... {len(r.violations) - 10} more")
    return "\n".join(lines)


def notes(results: list) -> str:
    return "\n".join(f"{r.name}: {n}" for r in results for n in r.notes)
