"""Durability runs: SIGKILL all three nodes mid-load, restart, count what survived.

    python -m loadtests.durability --runs 10 [--fsync] [--stock-journal] [--seconds 3]

Each run: a fresh 3-node cluster compacting every 20 entries, 8 writers
registering unique instances round-robin over all nodes, then every node is
SIGKILLed while writes are in flight; the nodes are restarted and every
acknowledged write is looked up with a linearizable read on every node.
Prints one line per run and a total.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.cluster.test_durability import COMPACTING, run_kill_all


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--fsync", action="store_true")
    ap.add_argument("--stock-journal", action="store_true",
                    help="run the nodes on pysyncobj's FileJournal instead of ours")
    args = ap.parse_args()
    extra = COMPACTING + (["--fsync"] if args.fsync else [])
    launcher = [sys.executable, "-m", "loadtests.stock_journal_node"] if args.stock_journal else None
    total_acked = total_lost = bad_runs = 0
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.monotonic()
            try:
                acked, present, snaps, _ = run_kill_all(Path(tmp), extra, args.seconds, launcher=launcher)
            except AssertionError as exc:
                print(f"run {run}: cluster did not come back: {exc}")
                bad_runs += 1
                continue
            lost = {nid: len(acked - ids) for nid, ids in present.items()}
            worst = max(lost.values())
            total_acked += len(acked)
            total_lost += worst
            bad_runs += worst > 0
            print(f"run {run}: acknowledged {len(acked)}, missing per node {lost}, "
                  f"snapshots {sum(snaps)}/3, {time.monotonic() - started:.1f}s", flush=True)
    print(f"TOTAL runs={args.runs} acknowledged={total_acked} lost(worst node)={total_lost} "
          f"runs_with_loss_or_failure={bad_runs} fsync={args.fsync} stock_journal={args.stock_journal}")
    return 1 if bad_runs else 0


if __name__ == "__main__":
    sys.exit(main())
