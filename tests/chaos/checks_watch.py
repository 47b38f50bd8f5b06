"""Watch-stream and expiry checkers.

Watch: every watcher's stream is gapless, duplicate-free and ascending
(a ``reset`` may jump forward, never back); watchers agree on every revision
they both saw; replaying a stream (resets replace the state) up to the final
revision gives the final state; every acknowledged write shows up as an
event, and no write the node reported as certainly failed ever does.

Expiry: an instance that kept heartbeating was never ``down`` in any node's
read nor ``expired`` in any stream, and was never unknown to a heartbeat
(404); an instance that stopped was ``down`` (or already removed) on every
node before its deadline.
"""

from __future__ import annotations

from .checks import Result
from .history import RunData
from .workload import HB_SERVICE, SERVICE


def replay(items: list[dict], upto: int) -> tuple[dict, int]:
    """The state a stream describes after revision ``upto``; and the last revision it reached."""
    state, last = {}, 0
    for it in items:
        rev = it["reset"] if "reset" in it else it["rev"]
        if rev > upto:
            break
        if "reset" in it:
            state = {k: list(v) for k, v in it["instances"].items()}
        elif it["kind"] == "protection":
            pass  # not an instance: the final list holds none
        elif it["kind"] == "deregistered":
            state.pop(it["key"], None)
        else:
            state[it["key"]] = list(it["state"])
        last = rev
    return state, last


def watch(data: RunData) -> Result:
    res = Result("watch streams")
    final = data.final.get("state")
    seen: dict[int, tuple] = {}
    values_seen: set = set()
    for name, w in sorted(data.watchers.items()):
        last = 0
        for it in w["items"]:
            if "reset" in it:
                if it["reset"] < last:
                    res.violations.append(
                        f"{name}: reset to {it['reset']} after revision {last} (from {it['node']})")
                last = it["reset"]
                continue
            rev = it["rev"]
            if rev != last + 1:
                what = "gap" if rev > last + 1 else "duplicate or out of order"
                res.violations.append(
                    f"{name}: {what}: revision {rev} after {last} (from {it['node']} at {it['t']}s)")
            last = max(last, rev)
            event = (it["kind"], it["key"], tuple(it["state"]))
            if rev in seen and seen[rev][0] != event:
                res.violations.append(f"{name}: revision {rev} is {event} but {seen[rev][1]} saw {seen[rev][0]}")
            seen.setdefault(rev, (event, name))
            if it["kind"] in ("registered", "updated") and it["key"].startswith(SERVICE + "/"):
                values_seen.add(it["state"][1])
        resets = sum(1 for it in w["items"] if "reset" in it)
        res.notes.append(f"{name}: {len(w['items']) - resets} events, {resets} resets, "
                         f"{len(w.get('errors', []))} reconnects, last revision {last}")
        if final is not None:
            state, reached = replay(w["items"], final["revision"])
            if reached < final["revision"]:
                res.violations.append(f"{name}: reached revision {reached}, never {final['revision']}")
            elif state != final["instances"]:
                res.violations.append(f"{name}: replayed state differs from the final list: "
                                      f"{_diff(state, final['instances'])}")
    any_reset = any("reset" in it for w in data.watchers.values() for it in w["items"])
    for op in data.ops:
        if op.kind != "put" or not op.key.startswith(SERVICE + "/"):
            continue
        if op.outcome == "ok" and op.value not in values_seen and data.watchers:
            (res.notes if any_reset else res.violations).append(
                f"acknowledged #{op.id} put {op.key}={op.value!r} never appeared in a watch stream")
        if op.outcome == "fail" and op.value in values_seen:
            res.violations.append(f"#{op.id} put {op.key}={op.value!r} answered {op.status} {op.code} "
                                  f"(certainly not committed) yet appeared in a watch stream")
    return res


def _diff(a: dict, b: dict) -> list:
    keys = sorted(set(a) | set(b))
    return [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)][:5]


def expiry(data: RunData) -> Result:
    res = Result("expiry")
    hb = data.meta.get("hb", {})
    keepers = {i for i, m in hb.items() if m.get("stop_at") is None}
    for s in data.samples:
        for inst, status in s["statuses"].items():
            if inst in keepers and status == "down":
                res.violations.append(f"{s['node']} reported heartbeating {inst} down at {s['t']:.2f}s")
    for name, w in sorted(data.watchers.items()):
        for it in w["items"]:
            if it.get("kind") == "expired" and it["key"].split("/", 1)[1] in keepers \
                    and it["key"].startswith(HB_SERVICE + "/"):
                res.violations.append(f"{name}: {it['key']} expired at revision {it['rev']} "
                                      f"(from {it['node']}) although it kept heartbeating")
    for op in data.ops:
        if op.kind == "hb" and op.status == 404 and op.key.split("/", 1)[1] in keepers:
            res.violations.append(f"#{op.id} heartbeat of live {op.key} on {op.node} at {op.start:.2f}s: 404")
    for inst, obs in sorted(data.final.get("expiry", {}).items()):
        if obs.get("down_at") is None or obs["down_at"] > obs["deadline"]:
            when = "never" if obs.get("down_at") is None else f"only at {obs['down_at']:.2f}s"
            res.violations.append(f"{inst} stopped heartbeating at {obs['stopped_at']:.2f}s; down on every "
                                  f"node {when}, deadline {obs['deadline']:.2f}s: {obs.get('last_seen')}")
        else:
            res.notes.append(f"{inst}: stopped at {obs['stopped_at']:.2f}s, down or removed everywhere by "
                             f"{obs['down_at']:.2f}s (deadline {obs['deadline']:.2f}s)")
    return res
