"""Issue 6's and issue 16's targets as ratios of figures measured in the same run; table, JSON and plot.

``results`` maps a scenario key to its measurement (``rps``, ``latency_ms``,
``error_count``, ...) or to ``{"skipped": reason}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# The issue's reference figures (wrk -t2 -c64 -d20s on its machine), for orientation only:
# the targets below compare figures from the same run, never with these.
ISSUE_FIGURES = {
    "aiohttp.get": 21_800, "aiohttp.post": 14_400, "etcd.put.leader": 6_200, "etcd.put.follower": 4_500,
    "etcd.range.serializable.follower": 10_400, "etcd.range.linearizable.follower": 9_200,
    "etcd.keepalive.leader": 9_100, "etcd.keepalive.follower": 5_600,
    "latency.etcd.put.leader": 0.96, "latency.etcd.range.serializable.follower": 0.28, "failover.etcd": 0.97,
}


@dataclass(frozen=True)
class Target:
    id: str
    text: str
    scenario: str
    threshold: float
    baseline: str | None = None  # ratio scenario/baseline when set; else an absolute value
    higher_is_better: bool = True
    unit: str = "x"  # x: req/s over the baseline's; "x p50", "x cpu": p50 or CPU per request over its


TARGETS = [
    Target("1a", "local read on a follower >= 0.75 x bare aiohttp GET", "manifest.read.local.follower", 0.75,
           "aiohttp.get"),
    Target("1b", "local read on a follower >= 1.5 x etcd serializable range", "manifest.read.local.follower",
           1.5, "etcd.range.serializable.follower"),
    Target("2", "linearizable read on a follower >= 1.2 x etcd linearizable range",
           "manifest.read.linearizable.follower", 1.2, "etcd.range.linearizable.follower"),
    Target("3", "registrations over 3 nodes >= 1.0 x etcd put->leader", "manifest.register.spread", 1.0,
           "etcd.put.leader"),
    Target("4", "heartbeats over 3 nodes >= 1.5 x etcd keepalive->leader", "manifest.heartbeat.spread", 1.5,
           "etcd.keepalive.leader"),
    Target("4d", "no instance marked down during the heartbeat run", "manifest.heartbeat.spread", 0,
           higher_is_better=False, unit="down"),
    Target("5a", "one connection: register p50 via the leader <= 1 ms", "latency.manifest.register.leader", 1.0,
           higher_is_better=False, unit="ms"),
    Target("5b", "one connection: register p50 via a follower <= 2 ms", "latency.manifest.register.follower",
           2.0, higher_is_better=False, unit="ms"),
    Target("5c", "one connection: read p50 <= 0.25 ms", "latency.manifest.read.follower", 0.25,
           higher_is_better=False, unit="ms"),
    Target("6", "failover: median SIGKILL -> next acknowledged write <= 0.6 s", "failover.manifest", 0.6,
           higher_is_better=False, unit="s"),
    # Issue 16, its targets 1-3 (its 4-6 are loadtests.scale's, cost_curve's and replica_bench's).
    Target("16.1a", "registrations over 3 nodes >= 1.25 x etcd put->leader", "manifest.register.spread", 1.25,
           "etcd.put.leader"),
    Target("16.1b", "CPU per registration <= 0.75 x etcd put's", "manifest.register.spread", 0.75,
           "etcd.put.leader", higher_is_better=False, unit="x cpu"),
    Target("16.1c", "heartbeats over 3 nodes >= 2 x etcd keepalive->leader", "manifest.heartbeat.spread", 2.0,
           "etcd.keepalive.leader"),
    Target("16.1d", "CPU per heartbeat <= 0.5 x etcd keepalive's", "manifest.heartbeat.spread", 0.5,
           "etcd.keepalive.leader", higher_is_better=False, unit="x cpu"),
    Target("16.2a", "one connection: register p50 via the leader <= 0.8 x etcd put p50",
           "latency.manifest.register.leader", 0.8, "latency.etcd.put.leader", higher_is_better=False,
           unit="x p50"),
    Target("16.2b", "one connection: register p50 via a follower <= 1.2 x etcd put p50",
           "latency.manifest.register.follower", 1.2, "latency.etcd.put.leader", higher_is_better=False,
           unit="x p50"),
    Target("16.2c", "one connection: heartbeat p50 <= 0.8 x etcd keepalive p50",
           "latency.manifest.heartbeat.leader", 0.8, "latency.etcd.keepalive.leader", higher_is_better=False,
           unit="x p50"),
    Target("16.2d", "one connection: local read p50 <= 0.5 x etcd serializable p50",
           "latency.manifest.read.follower", 0.5, "latency.etcd.range.serializable.follower",
           higher_is_better=False, unit="x p50"),
    Target("16.3a", "local reads on a follower >= 0.9 x bare aiohttp GET", "manifest.read.local.follower", 0.9,
           "aiohttp.get"),
    Target("16.3b", "linearizable reads >= 2.5 x etcd linearizable range", "manifest.read.linearizable.follower",
           2.5, "etcd.range.linearizable.follower"),
]


def _value(target: Target, results: dict) -> float | None:
    r = results.get(target.scenario) or {}
    if "skipped" in r or "error" in r or not r:
        return None
    if target.unit == "down":
        return r.get("down")
    if target.unit == "ms":
        return r["latency_ms"]["p50"]
    if target.unit == "s":
        return r.get("median_s")
    base = results.get(target.baseline) or {}
    if target.unit == "x p50":
        mine, theirs = (r.get("latency_ms") or {}).get("p50"), (base.get("latency_ms") or {}).get("p50")
    elif target.unit == "x cpu":
        mine, theirs = r.get("cpu_us_per_req"), base.get("cpu_us_per_req")
    else:
        mine, theirs = r.get("rps"), base.get("rps")
    if not mine or not theirs:
        return None
    return mine / theirs


def evaluate(results: dict) -> list[dict]:
    """Each target's value and verdict; a target whose scenario had > 1 % errors fails."""
    out = []
    for t in TARGETS:
        v = _value(t, results)
        ok = None if v is None else (v >= t.threshold if t.higher_is_better else v <= t.threshold)
        warning = (results.get(t.scenario) or {}).get("warning")
        if warning and ok is not None:
            ok = False
        out.append({"id": t.id, "target": t.text, "scenario": t.scenario, "baseline": t.baseline,
                    "value": None if v is None else round(v, 3), "threshold": t.threshold, "unit": t.unit,
                    "pass": ok, **({"note": f"invalid run: {warning}"} if warning else {})})
    return out


def table(results: dict, targets: list[dict]) -> str:
    lines = [f"{'scenario':42} {'target':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
             f"{'cpu us/req':>10}  issue ref", "-" * 107]
    for key, r in results.items():
        if key.startswith("failover."):
            continue
        if "skipped" in r or "error" in r:
            lines.append(f"{key:42} {'':8} {'-':>9} {'-':>8} {'-':>8} {'-':>7} {'-':>10}  "
                         f"{r.get('skipped') or r.get('error')}")
            continue
        lat = r.get("latency_ms", {})
        ref = ISSUE_FIGURES.get(key, "")
        cpu_us = r.get("cpu_us_per_req")
        lines.append(f"{key:42} {r.get('target', ''):8} {r['rps']:>9.0f} {lat.get('p50', 0):>8.2f} "
                     f"{lat.get('p99', 0):>8.2f} {r.get('error_count', 0):>7}{'!' if 'warning' in r else ' '}"
                     f"{'-' if cpu_us is None else f'{cpu_us:.0f}':>10} {ref}"
                     + (f"  down={r['down']}" if "down" in r else ""))
    for key in ("failover.manifest", "failover.etcd"):
        r = results.get(key)
        if r is None:
            continue
        if "skipped" in r or "error" in r:
            lines.append(f"{key:42} {r.get('skipped') or r.get('error')}")
        else:
            lines.append(f"{key:42} median {r['median_s'] * 1000:.0f} ms, max {r['max_s'] * 1000:.0f} ms "
                         f"over {r['kills']} kills  {ISSUE_FIGURES.get(key, '')}")
    lines += ["", f"{'target':5} {'':64} {'measured':>9} {'need':>9}  result", "-" * 96]
    for t in targets:
        v = "n/a" if t["value"] is None else f"{t['value']:.3f}"
        need = (">=" if t["unit"] == "x" else "<=") + f" {t['threshold']:g}" + (
            "" if t["unit"] == "down" else f" {t['unit']}")
        if t["unit"].startswith("x "):
            need = f"<= {t['threshold']:g} x"  # the kind of ratio is in the target's text
        res = {True: "PASS", False: "FAIL", None: "n/a"}[t["pass"]]
        lines.append(f"{t['id']:5} {t['target'][:64]:64} {v:>9} {need:>9}  {res}"
                     + (f" ({t['note']})" if "note" in t else ""))
    return "\n".join(lines)


def write_json(path: Path, meta: dict, results: dict, targets: list[dict]) -> None:
    path.write_text(json.dumps({"meta": meta, "results": results, "targets": targets}, indent=2) + "\n")


def plot(path: Path, results: dict) -> bool:
    """Throughput and latency per scenario; False when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    colors = {"manifest": "tab:blue", "etcd": "tab:orange", "aiohttp": "tab:gray"}
    tput = [(k, r) for k, r in results.items() if r.get("kind") == "throughput" and "rps" in r]
    lat = [(k, r) for k, r in results.items() if "latency_ms" in r and r["latency_ms"]]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 11))
    ax1.barh([k for k, _ in tput], [r["rps"] for _, r in tput], color=[colors[r["system"]] for _, r in tput])
    ax1.set_xlabel("requests/s (higher is better)")
    ax1.set_title("Throughput (wrk, same run)")
    ax1.invert_yaxis()
    for i, (_, r) in enumerate(tput):
        ax1.text(r["rps"], i, f" {r['rps']:.0f}", va="center", fontsize=8)
    names = [k for k, _ in lat]
    y = range(len(lat))
    ax2.barh([i - 0.2 for i in y], [r["latency_ms"]["p50"] for _, r in lat], height=0.4, label="p50",
             color=[colors[r["system"]] for _, r in lat])
    ax2.barh([i + 0.2 for i in y], [r["latency_ms"]["p99"] for _, r in lat], height=0.4, label="p99",
             color=[colors[r["system"]] for _, r in lat], alpha=0.45)
    ax2.set_yticks(list(y), names)
    ax2.set_xscale("log")
    ax2.set_xlabel("latency ms, log scale (solid p50, light p99)")
    ax2.set_title("Latency")
    ax2.invert_yaxis()
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]
    ax1.legend(handles, list(colors), loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
