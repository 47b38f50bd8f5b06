"""Compare the nodes' apply traces (``--trace-apply``) and name the first disagreement.

Every node should apply the same envelope at each Raft index and reach the
same revision, epoch and clock after it. This prints, per node, restores and
re-applications (an index applied again without a restore in between), and
the first index where nodes applied different envelopes (log divergence) or
the same envelope with different results (state divergence).

    python -m tests.chaos.trace /tmp/chaos-runs/seed-7-.../nodes
"""

from __future__ import annotations

import json
import os
import sys


def load(folder: str) -> dict[str, list[dict]]:
    out = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".trace.jsonl"):
            with open(os.path.join(folder, name)) as f:
                out[name.split(".")[0]] = [json.loads(line) for line in f if line.strip()]
    return out


def analyse(traces: dict[str, list[dict]]) -> list[str]:
    report, final = [], {}
    for node, rows in traces.items():
        seen, last = {}, 0
        for row in rows:
            if row["op"] == "start":  # a new process: its state machine starts empty
                last = 0
                continue
            if row["op"] == "restore":
                report.append(f"{node}: restore to revision {row['revision']} epoch {row['epoch']} "
                              f"(last applied {row['last_applied']})")
                last = 0
                continue
            idx = row["index"]
            if idx is not None and idx <= last:
                report.append(f"{node}: index {idx} applied again after {last} without a restore")
            last = idx or last
            seen[idx] = row  # the latest application of each index counts
        final[node] = seen
    common = sorted(set.intersection(*(set(s) for s in final.values()))) if final else []
    for idx in common:
        rows = {n: final[n][idx] for n in final}
        if len({r["digest"] for r in rows.values()}) > 1:
            report.append(f"index {idx}: different envelopes " + ", ".join(
                f"{n}={r['digest']} (term {r['term']}, kinds {r['kinds']})" for n, r in rows.items()))
            break
        states = {(tuple(r["before"][:3]), tuple(r["after"])) for r in rows.values()}
        if len(states) > 1:
            report.append(f"index {idx} ({rows[next(iter(rows))]['kinds']}): " + ", ".join(
                f"{n} {r['before'][:3]} -> {r['after']} events {r['events']}" for n, r in rows.items()))
            break
    else:
        report.append(f"{len(common)} common indexes agree")
    return report


if __name__ == "__main__":
    print("\n".join(analyse(load(sys.argv[1]))))
